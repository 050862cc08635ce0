package kube_test

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/mlsync/mlsync/kube"
	"github.com/mlsync/mlsync/test/cluster"
)

var env *cluster.Cluster

func TestMain(m *testing.M) { cluster.Main(m, &env, cluster.Options{}) }

var (
	deployments = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	configMaps  = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
)

// requestCounter counts the API requests a manager makes, watches aside.
type requestCounter struct {
	mu    sync.Mutex
	n     atomic.Int64
	verbs []string
}

func (c *requestCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		if req.URL.Query().Get("watch") != "true" {
			c.n.Add(1)
			c.mu.Lock()
			c.verbs = append(c.verbs, req.Method+" "+req.URL.Path)
			c.mu.Unlock()
		}
		return rt.RoundTrip(req)
	})
}

func (c *requestCounter) reset() {
	c.n.Store(0)
	c.mu.Lock()
	c.verbs = nil
	c.mu.Unlock()
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func newManager(t *testing.T, tweak func(*kube.Options)) (*kube.ResourceManager, *requestCounter) {
	t.Helper()
	counter := &requestCounter{}
	cfg := env.Config()
	cfg.WrapTransport = counter.wrap
	opts := kube.DefaultOptions()
	opts.InventoryNamespace = "mlsync-test-inventories"
	if tweak != nil {
		tweak(&opts)
	}
	m, err := kube.NewResourceManager(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m, counter
}

func client(t *testing.T) dynamic.Interface {
	t.Helper()
	c, err := dynamic.NewForConfig(env.Config())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func owned(labels map[string]any) map[string]any {
	l := map[string]any{kube.ManagedByLabel: kube.ManagedByValue}
	for k, v := range labels {
		l[k] = v
	}
	return l
}

func deployment(ns, name, image string, hash string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{
			"name": name, "namespace": ns, "labels": owned(nil),
			"annotations": map[string]any{kube.SpecHashAnnotation: hash, kube.RevisionAnnotation: "rev1"},
		},
		"spec": map[string]any{
			"selector": map[string]any{"matchLabels": map[string]any{"app": name}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app": name}},
				"spec":     map[string]any{"containers": []any{map[string]any{"name": "server", "image": image}}},
			},
		},
	}}
}

func configMap(ns, name string, data map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": name, "namespace": ns, "labels": owned(nil),
			"annotations": map[string]any{kube.SpecHashAnnotation: "cm-" + name}},
		"data": data,
	}}
}

func apply(t *testing.T, m *kube.ResourceManager, opts kube.ApplyOptions, objs ...*unstructured.Unstructured) kube.ChangeSet {
	t.Helper()
	cs, err := m.Apply(t.Context(), objs, opts)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func actions(cs kube.ChangeSet) []kube.Action {
	out := make([]kube.Action, len(cs))
	for i, c := range cs {
		out[i] = c.Action
	}
	return out
}

func wantActions(t *testing.T, cs kube.ChangeSet, want ...kube.Action) {
	t.Helper()
	got := actions(cs)
	if len(got) != len(want) {
		t.Fatalf("got %d changes %v, want %v", len(got), cs, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("change %d: got %v, want %v (all: %v)", i, got[i], want[i], cs)
		}
	}
}

func get(t *testing.T, gvr schema.GroupVersionResource, ns, name string) *unstructured.Unstructured {
	t.Helper()
	obj, err := client(t).Resource(gvr).Namespace(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

func image(obj *unstructured.Unstructured) string {
	cs, _, _ := unstructured.NestedSlice(obj.Object, "spec", "template", "spec", "containers")
	return cs[0].(map[string]any)["image"].(string)
}

func TestCreateUpdateUnchanged(t *testing.T) {
	ns := env.Namespace(t)
	m, counter := newManager(t, nil)
	dep := deployment(ns, "fraud", "server:1", "h1")
	cm := configMap(ns, "fraud-config", map[string]any{"threshold": "0.5"})

	wantActions(t, apply(t, m, kube.DefaultApplyOptions(), dep, cm), kube.ActionCreated, kube.ActionCreated)
	rv := get(t, deployments, ns, "fraud").GetResourceVersion()

	// Same objects: unchanged, with no request at all (watch cache plus
	// the record of the last apply), and no write.
	time.Sleep(300 * time.Millisecond) // let the watch deliver the created objects
	counter.reset()
	wantActions(t, apply(t, m, kube.DefaultApplyOptions(), dep, cm), kube.ActionUnchanged, kube.ActionUnchanged)
	if n := counter.n.Load(); n != 0 {
		t.Errorf("no-op apply made %d requests: %v", n, counter.verbs)
	}
	if got := get(t, deployments, ns, "fraud").GetResourceVersion(); got != rv {
		t.Errorf("no-op apply wrote the Deployment: resourceVersion %s -> %s", rv, got)
	}

	// A manager with no records (a restarted daemon without inventory)
	// finds them unchanged by dry-run, still without writing.
	fresh, _ := newManager(t, func(o *kube.Options) { o.Cache = false })
	wantActions(t, apply(t, fresh, kube.DefaultApplyOptions(), dep, cm), kube.ActionUnchanged, kube.ActionUnchanged)
	if got := get(t, deployments, ns, "fraud").GetResourceVersion(); got != rv {
		t.Errorf("dry-run path wrote the Deployment: resourceVersion %s -> %s", rv, got)
	}

	// A changed spec is configured.
	dep2 := deployment(ns, "fraud", "server:2", "h2")
	wantActions(t, apply(t, m, kube.DefaultApplyOptions(), dep2, cm), kube.ActionConfigured, kube.ActionUnchanged)
	if got := image(get(t, deployments, ns, "fraud")); got != "server:2" {
		t.Errorf("image = %s, want server:2", got)
	}
	live := get(t, deployments, ns, "fraud")
	if !hasApplyEntry(live, kube.FieldManager) {
		t.Errorf("no server-side apply entry for %s: %v", kube.FieldManager, live.GetManagedFields())
	}
}

func hasApplyEntry(obj *unstructured.Unstructured, manager string) bool {
	for _, mf := range obj.GetManagedFields() {
		if mf.Manager == manager && mf.Operation == metav1.ManagedFieldsOperationApply {
			return true
		}
	}
	return false
}

func TestUnownedObjectUntouched(t *testing.T) {
	ns := env.Namespace(t)
	m, _ := newManager(t, nil)
	unowned := configMap(ns, "shared", map[string]any{"owner": "platform-team"})
	unowned.SetLabels(nil)
	if _, err := client(t).Resource(configMaps).Namespace(ns).Create(t.Context(), unowned, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cs := apply(t, m, kube.DefaultApplyOptions(), configMap(ns, "shared", map[string]any{"owner": "mlsync"}))
	wantActions(t, cs, kube.ActionSkipped)
	if !strings.Contains(cs[0].Reason, "not managed by mlsync") {
		t.Errorf("reason = %q", cs[0].Reason)
	}
	live := get(t, configMaps, ns, "shared")
	if v, _, _ := unstructured.NestedString(live.Object, "data", "owner"); v != "platform-team" {
		t.Errorf("unowned ConfigMap changed: owner=%s", v)
	}
	// Pruning it is refused too.
	pruned, err := m.Prune(t.Context(), []kube.ObjectRef{kube.RefOf(unowned)})
	if err != nil {
		t.Fatal(err)
	}
	wantActions(t, pruned, kube.ActionSkipped)
	get(t, configMaps, ns, "shared")
}

func TestPrune(t *testing.T) {
	ns := env.Namespace(t)
	m, _ := newManager(t, nil)
	keep := configMap(ns, "keep", map[string]any{"a": "1"})
	keep.SetAnnotations(map[string]string{kube.PruneAnnotation: kube.PruneDisabled})
	gone := configMap(ns, "gone", map[string]any{"a": "1"})
	apply(t, m, kube.DefaultApplyOptions(), keep, gone)
	missing := kube.ObjectRef{Version: "v1", Kind: "ConfigMap", Namespace: ns, Name: "never-existed"}
	cs, err := m.Prune(t.Context(), []kube.ObjectRef{kube.RefOf(keep), kube.RefOf(gone), missing})
	if err != nil {
		t.Fatal(err)
	}
	wantActions(t, cs, kube.ActionSkipped, kube.ActionPruned, kube.ActionSkipped)
	if _, err := client(t).Resource(configMaps).Namespace(ns).Get(t.Context(), "gone", metav1.GetOptions{}); err == nil {
		t.Errorf("pruned ConfigMap still exists")
	}
	get(t, configMaps, ns, "keep")
}

// TestOtherManagersFieldLeftAlone: a field mlsync does not set (replicas,
// as an autoscaler sets it) is not fought over.
func TestOtherManagersFieldLeftAlone(t *testing.T) {
	ns := env.Namespace(t)
	m, _ := newManager(t, nil)
	dep := deployment(ns, "scaled", "server:1", "h1")
	apply(t, m, kube.DefaultApplyOptions(), dep)
	scale := []byte(`{"spec":{"replicas":5}}`)
	if _, err := client(t).Resource(deployments).Namespace(ns).Patch(t.Context(), "scaled", types.MergePatchType, scale,
		metav1.PatchOptions{FieldManager: "horizontal-pod-autoscaler"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	wantActions(t, apply(t, m, kube.DefaultApplyOptions(), dep), kube.ActionUnchanged)
	if r, _, _ := unstructured.NestedInt64(get(t, deployments, ns, "scaled").Object, "spec", "replicas"); r != 5 {
		t.Errorf("replicas = %d, want the autoscaler's 5", r)
	}
}

// TestDrift: someone edits a field mlsync set; the next apply corrects
// exactly that object (or only reports it, by policy).
func TestDrift(t *testing.T) {
	ns := env.Namespace(t)
	m, counter := newManager(t, nil)
	a := deployment(ns, "a", "server:1", "ha")
	b := deployment(ns, "b", "server:1", "hb")
	apply(t, m, kube.DefaultApplyOptions(), a, b)
	time.Sleep(300 * time.Millisecond)
	drain(m.Changes())

	edit := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"server","image":"server:hotfix"}]}}}}`)
	if _, err := client(t).Resource(deployments).Namespace(ns).Patch(t.Context(), "b", types.StrategicMergePatchType, edit,
		metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-m.Changes():
	case <-time.After(5 * time.Second):
		t.Fatal("the watch did not signal the hand edit")
	}

	report := kube.DefaultApplyOptions()
	report.Drift = kube.DriftReport
	cs := apply(t, m, report, a, b)
	wantActions(t, cs, kube.ActionUnchanged, kube.ActionDrifted)
	if !strings.Contains(cs[1].Reason, "kubectl-edit") {
		t.Errorf("drift reason does not name the editor: %q", cs[1].Reason)
	}
	if got := image(get(t, deployments, ns, "b")); got != "server:hotfix" {
		t.Fatalf("report-only policy wrote the object: image %s", got)
	}

	counter.reset()
	cs = apply(t, m, kube.DefaultApplyOptions(), a, b)
	wantActions(t, cs, kube.ActionUnchanged, kube.ActionConfigured)
	if !cs[1].Drift || cs.Drifted() != 1 {
		t.Errorf("correction not flagged as drift: %+v", cs[1])
	}
	if got := image(get(t, deployments, ns, "b")); got != "server:1" {
		t.Errorf("drift not corrected: image %s", got)
	}
	for _, v := range counter.verbs {
		if strings.Contains(v, "/deployments/a") {
			t.Errorf("the untouched object was read or written: %s", v)
		}
	}
}

func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// TestConflict: fields owned by another applier are a conflict unless
// force-conflicts is set.
func TestConflict(t *testing.T) {
	ns := env.Namespace(t)
	other := configMap(ns, "contested", map[string]any{"mode": "team-x"})
	if _, err := client(t).Resource(configMaps).Namespace(ns).Apply(t.Context(), "contested", other,
		metav1.ApplyOptions{FieldManager: "team-x"}); err != nil {
		t.Fatal(err)
	}
	m, _ := newManager(t, func(o *kube.Options) { o.Cache = false })
	mine := configMap(ns, "contested", map[string]any{"mode": "mlsync"})
	cs := apply(t, m, kube.DefaultApplyOptions(), mine)
	wantActions(t, cs, kube.ActionFailed)
	if !strings.Contains(cs[0].Reason, "conflict") || !strings.Contains(cs[0].Reason, "team-x") {
		t.Errorf("reason = %q, want a conflict naming team-x", cs[0].Reason)
	}
	force := kube.DefaultApplyOptions()
	force.Force = true
	wantActions(t, apply(t, m, force, mine), kube.ActionConfigured)
	if v, _, _ := unstructured.NestedString(get(t, configMaps, ns, "contested").Object, "data", "mode"); v != "mlsync" {
		t.Errorf("mode = %s after a forced apply", v)
	}
}

func TestCRDAndCustomResourceInOneSet(t *testing.T) {
	ns := env.Namespace(t)
	m, _ := newManager(t, nil)
	group := strings.ReplaceAll(ns, "-", "") + ".example.com"
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "widgets." + group, "labels": owned(nil)},
		"spec": map[string]any{
			"group": group, "scope": "Namespaced",
			"names": map[string]any{"plural": "widgets", "singular": "widget", "kind": "Widget"},
			"versions": []any{map[string]any{
				"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type": "object", "x-kubernetes-preserve-unknown-fields": true,
				}},
			}},
		},
	}}
	cr := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": group + "/v1", "kind": "Widget",
		"metadata": map[string]any{"name": "w1", "namespace": ns, "labels": owned(nil)},
		"spec":     map[string]any{"size": int64(3)},
	}}
	// The custom resource comes first in the set; staging applies the CRD
	// before it.
	wantActions(t, apply(t, m, kube.DefaultApplyOptions(), cr, crd), kube.ActionCreated, kube.ActionCreated)
	got, err := m.Get(t.Context(), kube.RefOf(cr))
	if err != nil || got == nil {
		t.Fatalf("custom resource not found: %v", err)
	}
}

func TestUnknownKind(t *testing.T) {
	ns := env.Namespace(t)
	m, _ := newManager(t, nil)
	isvc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
		"metadata": map[string]any{"name": "router", "namespace": ns, "labels": owned(nil)},
	}}
	cm := configMap(ns, "still-applied", map[string]any{"a": "1"})
	cs := apply(t, m, kube.DefaultApplyOptions(), isvc, cm)
	wantActions(t, cs, kube.ActionFailed, kube.ActionCreated)
	if !strings.Contains(cs[0].Reason, "does not serve kind serving.kserve.io/v1beta1, Kind=InferenceService") {
		t.Errorf("reason = %q", cs[0].Reason)
	}
}

func TestImmutableFieldReported(t *testing.T) {
	ns := env.Namespace(t)
	m, _ := newManager(t, nil)
	job := func(image, hash string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "batch/v1", "kind": "Job",
			"metadata": map[string]any{"name": "train", "namespace": ns, "labels": owned(nil),
				"annotations": map[string]any{kube.SpecHashAnnotation: hash}},
			"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
				"restartPolicy": "Never",
				"containers":    []any{map[string]any{"name": "train", "image": image}},
			}}},
		}}
	}
	apply(t, m, kube.DefaultApplyOptions(), job("train:1", "j1"))
	cs := apply(t, m, kube.DefaultApplyOptions(), job("train:2", "j2"))
	wantActions(t, cs, kube.ActionFailed)
	if !strings.Contains(cs[0].Reason, "spec.template") || !strings.Contains(cs[0].Reason, "immutable") {
		t.Errorf("reason = %q, want the immutable field path", cs[0].Reason)
	}
}

func TestNamespaceNotAllowed(t *testing.T) {
	allowed := env.Namespace(t)
	other := env.Namespace(t)
	m, _ := newManager(t, func(o *kube.Options) { o.AllowedNamespaces = []string{allowed} })
	cs := apply(t, m, kube.DefaultApplyOptions(), configMap(allowed, "ok", nil), configMap(other, "refused", nil))
	wantActions(t, cs, kube.ActionCreated, kube.ActionFailed)
	if !strings.Contains(cs[1].Reason, "namespace "+other+" is not allowed") {
		t.Errorf("reason = %q", cs[1].Reason)
	}
}

// TestImpersonation: writes impersonate the namespace's ServiceAccount,
// whose RBAC allows ConfigMaps but not Deployments.
func TestImpersonation(t *testing.T) {
	ns := env.Namespace(t)
	c := client(t)
	ctx := t.Context()
	create := func(gvr schema.GroupVersionResource, obj map[string]any) {
		t.Helper()
		if _, err := c.Resource(gvr).Namespace(ns).Create(ctx, &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	create(schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}, map[string]any{
		"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": "mlsync"}})
	create(schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"}, map[string]any{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": map[string]any{"name": "mlsync"},
		"rules": []any{map[string]any{"apiGroups": []any{""}, "resources": []any{"configmaps"},
			"verbs": []any{"get", "list", "watch", "create", "patch", "update", "delete"}}}})
	create(schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"}, map[string]any{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": map[string]any{"name": "mlsync"},
		"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "mlsync"},
		"subjects": []any{map[string]any{"kind": "ServiceAccount", "name": "mlsync", "namespace": ns}}})

	m, _ := newManager(t, func(o *kube.Options) { o.ImpersonateServiceAccount = "mlsync" })
	cs := apply(t, m, kube.DefaultApplyOptions(), configMap(ns, "allowed", nil), deployment(ns, "denied", "server:1", "h"))
	wantActions(t, cs, kube.ActionCreated, kube.ActionFailed)
	if !strings.Contains(cs[1].Reason, "forbidden") || !strings.Contains(cs[1].Reason, "system:serviceaccount:"+ns+":mlsync") {
		t.Errorf("reason = %q, want forbidden for the impersonated ServiceAccount", cs[1].Reason)
	}
}

// TestInventoryRecordsSurviveRestart: a new manager that reads the
// inventory knows the objects are unchanged without a dry-run.
func TestInventoryRecordsSurviveRestart(t *testing.T) {
	ns := env.Namespace(t)
	m, _ := newManager(t, nil)
	objs := []*unstructured.Unstructured{configMap(ns, "a", map[string]any{"x": "1"}), configMap(ns, "b", nil)}
	apply(t, m, kube.DefaultApplyOptions(), objs...)
	refs := []kube.ObjectRef{kube.RefOf(objs[0]), kube.RefOf(objs[1])}
	if err := m.WriteInventory(t.Context(), kube.Inventory{Name: ns, Revision: "r1", Objects: refs}); err != nil {
		t.Fatal(err)
	}
	restarted, counter := newManager(t, nil)
	inv, err := restarted.ReadInventory(t.Context(), ns)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Revision != "r1" || len(inv.Objects) != 2 {
		t.Fatalf("inventory = %+v", inv)
	}
	// Prime the watch (one list per kind), then apply: no dry-runs.
	if _, err := restarted.Get(t.Context(), refs[0]); err != nil {
		t.Fatal(err)
	}
	counter.reset()
	wantActions(t, apply(t, restarted, kube.DefaultApplyOptions(), objs...), kube.ActionUnchanged, kube.ActionUnchanged)
	for _, v := range counter.verbs {
		if strings.HasPrefix(v, "PATCH") {
			t.Errorf("restarted manager patched (dry-run or not) an unchanged object: %s", v)
		}
	}
}

func TestWaitReportsUnhealthy(t *testing.T) {
	ns := env.Namespace(t)
	m, _ := newManager(t, nil)
	dep := deployment(ns, "slow", "server:1", "h")
	apply(t, m, kube.DefaultApplyOptions(), dep)
	_, err := m.Wait(t.Context(), []kube.ObjectRef{kube.RefOf(dep)}, 500*time.Millisecond, 100*time.Millisecond)
	var te *kube.TimeoutError
	if !asTimeout(err, &te) || !strings.Contains(te.Error(), "Deployment/"+ns+"/slow InProgress") {
		t.Fatalf("want a timeout naming the Deployment, got %v", err)
	}
	// Play the deployment controller: report the rollout done.
	live := get(t, deployments, ns, "slow")
	_ = unstructured.SetNestedField(live.Object, live.GetGeneration(), "status", "observedGeneration")
	for _, f := range []string{"replicas", "updatedReplicas", "availableReplicas", "readyReplicas"} {
		_ = unstructured.SetNestedField(live.Object, int64(1), "status", f)
	}
	if _, err := client(t).Resource(deployments).Namespace(ns).UpdateStatus(t.Context(), live, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	hs, err := m.Wait(t.Context(), []kube.ObjectRef{kube.RefOf(dep)}, 5*time.Second, 100*time.Millisecond)
	if err != nil || hs[0].Status != kube.StatusCurrent {
		t.Fatalf("want Current after the rollout, got %v %v", hs, err)
	}
}

func asTimeout(err error, te **kube.TimeoutError) bool {
	t, ok := err.(*kube.TimeoutError)
	if ok {
		*te = t
	}
	return ok
}
