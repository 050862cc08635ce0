package reconciler_test

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/mlsync/mlsync/gitsource"
	"github.com/mlsync/mlsync/kube"
	"github.com/mlsync/mlsync/reconciler"
	"github.com/mlsync/mlsync/reconciler/report"
	"github.com/mlsync/mlsync/spec"
	"github.com/mlsync/mlsync/test/cluster"
	"github.com/mlsync/mlsync/test/gitserver"
)

var (
	env *cluster.Cluster
	git *gitserver.Server
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	var err error
	if git, err = gitserver.Start(gitserver.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer git.Close()
	defer func() {
		if forgeServer != nil {
			forgeServer.Close()
		}
	}()
	return cluster.Run(m, &env, cluster.Options{})
}

var (
	deployments = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	services    = schema.GroupVersionResource{Version: "v1", Resource: "services"}
)

const modelSpec = `// The fraud model, served by a small HTTP server.
kind: "Model"
name: "fraud"
namespace: %q
serving: {
	image:    "ghcr.io/example/fraud-server:1.0"
	replicas: min: %d
}
`

// fixture is one test's spec repository, user checkout, cluster
// namespace and reconciler.
type fixture struct {
	t      *testing.T
	ns     string
	url    string
	co     *gitserver.Checkout
	rec    *reconciler.Reconciler
	client dynamic.Interface
}

// newFixture seeds a repository with the fraud model in a fresh
// namespace and returns a reconciler for it; tweak adjusts its options.
func newFixture(t *testing.T, tweak func(*reconciler.Options)) *fixture {
	t.Helper()
	ns := env.Namespace(t)
	seed := t.TempDir()
	writeFile(t, filepath.Join(seed, "models/fraud.cue"), fmt.Sprintf(modelSpec, ns, 1))
	writeFile(t, filepath.Join(seed, "README.md"), "specs\n")
	url, err := git.CreateRepo(ns, seed)
	if err != nil {
		t.Fatal(err)
	}
	co, err := gitserver.Clone(t.TempDir(), url)
	if err != nil {
		t.Fatal(err)
	}
	client, err := dynamic.NewForConfig(env.Config())
	if err != nil {
		t.Fatal(err)
	}
	return newFixtureFor(t, &fixture{t: t, ns: ns, url: url, co: co, client: client}, tweak)
}

// newFixtureFor returns a fixture with a new reconciler (as after a
// restart) for f's repository and namespace.
func newFixtureFor(t *testing.T, f *fixture, tweak func(*reconciler.Options)) *fixture {
	t.Helper()
	remote, err := gitsource.NewRemote(gitsource.Options{URL: f.url, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	manager, err := kube.NewResourceManager(env.Config(), kube.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(manager.Close)
	loader, err := spec.NewLoader(spec.DefaultLoaderOptions())
	if err != nil {
		t.Fatal(err)
	}
	opts := reconciler.DefaultOptions()
	opts.Name = f.ns
	if tweak != nil {
		tweak(&opts)
	}
	rec, err := reconciler.New(remote, manager, loader, opts, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	g := *f
	g.rec = rec
	return &g
}

func (f *fixture) pass() reconciler.PassResult {
	f.t.Helper()
	res, err := f.rec.Pass(f.t.Context())
	if err != nil {
		f.t.Fatalf("pass: %v", err)
	}
	return res
}

func (f *fixture) push(path, content, message string) string {
	f.t.Helper()
	if content == "" {
		if err := f.co.Remove(path); err != nil {
			f.t.Fatal(err)
		}
	} else if err := f.co.Write(path, content); err != nil {
		f.t.Fatal(err)
	}
	head, err := f.co.CommitAndPush(message)
	if err != nil {
		f.t.Fatal(err)
	}
	return head
}

func (f *fixture) get(gvr schema.GroupVersionResource, name string) *unstructured.Unstructured {
	f.t.Helper()
	obj, err := f.client.Resource(gvr).Namespace(f.ns).Get(f.t.Context(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatalf("get %s %s/%s: %v", gvr.Resource, f.ns, name, err)
	}
	return obj
}

func (f *fixture) exists(gvr schema.GroupVersionResource, name string) bool {
	_, err := f.client.Resource(gvr).Namespace(f.ns).Get(f.t.Context(), name, metav1.GetOptions{})
	return err == nil
}

// statusCommit returns the message of the status branch's tip and a file
// at it, read with the git CLI as a user would.
func (f *fixture) statusCommit(file string) (message, content string) {
	f.t.Helper()
	if err := f.co.Git("fetch", "-q", "origin", "mlsync/status"); err != nil {
		f.t.Fatal(err)
	}
	message, err := f.co.Output("log", "-1", "--format=%B", "FETCH_HEAD")
	if err != nil {
		f.t.Fatal(err)
	}
	content, err = f.co.Output("show", "FETCH_HEAD:"+file)
	if err != nil {
		f.t.Fatal(err)
	}
	return message, content
}

func (f *fixture) statusCommits() int {
	f.t.Helper()
	if err := f.co.Git("fetch", "-q", "origin", "mlsync/status"); err != nil {
		f.t.Fatal(err)
	}
	out, err := f.co.Output("rev-list", "--count", "FETCH_HEAD")
	if err != nil {
		f.t.Fatal(err)
	}
	var n int
	fmt.Sscan(out, &n)
	return n
}

// TestSkeleton walks the whole loop: a seeded repo is applied with the
// right ownership, a status commit names the revision, a replicas change
// is applied, and removing the model prunes its objects but not an
// unowned Deployment beside them.
func TestSkeleton(t *testing.T) {
	f := newFixture(t, nil)

	// First pass: applies the seeded model.
	res := f.pass()
	if len(res.SpecErrors) > 0 {
		t.Fatalf("unexpected spec errors: %v", res.SpecErrors)
	}
	if got := res.Changes.Count(kube.ActionCreated); got != 2 {
		t.Fatalf("created %d objects, want 2 (Deployment, Service): %v", got, res.Changes)
	}
	first := res.Head
	dep := f.get(deployments, "fraud")
	svc := f.get(services, "fraud")
	for _, obj := range []*unstructured.Unstructured{dep, svc} {
		if got := obj.GetLabels()[kube.ManagedByLabel]; got != kube.ManagedByValue {
			t.Errorf("%s label %s = %q, want %q", obj.GetKind(), kube.ManagedByLabel, got, kube.ManagedByValue)
		}
		if got := obj.GetLabels()[kube.ModelLabel]; got != "fraud" {
			t.Errorf("%s label %s = %q, want fraud", obj.GetKind(), kube.ModelLabel, got)
		}
		if got := obj.GetAnnotations()[kube.RevisionAnnotation]; got != first {
			t.Errorf("%s revision annotation = %q, want %s", obj.GetKind(), got, first)
		}
		if !managedBy(obj, "mlsync", "Apply") {
			t.Errorf("%s has no server-side apply managedFields entry for manager mlsync: %v", obj.GetKind(), obj.GetManagedFields())
		}
	}
	if r, _, _ := unstructured.NestedInt64(dep.Object, "spec", "replicas"); r != 1 {
		t.Errorf("replicas = %d, want 1", r)
	}
	msg, summary := f.statusCommit(report.SummaryPath)
	if !strings.Contains(msg, "applied "+first[:7]) || !strings.Contains(msg, "Applied-Revision: "+first) {
		t.Errorf("status commit message does not name revision %s:\n%s", first, msg)
	}
	if !strings.Contains(summary, "| fraud | - | "+f.ns+" |") {
		t.Errorf("summary has no row for the model:\n%s", summary)
	}
	commits := f.statusCommits()

	// Same head again: nothing due, no write, no status commit.
	rv := dep.GetResourceVersion()
	if res := f.pass(); res.StatusCommit != "" || res.Changes.Changed() {
		t.Errorf("second pass at the same head changed something: %+v", res)
	}
	if got := f.get(deployments, "fraud").GetResourceVersion(); got != rv {
		t.Errorf("Deployment written by a no-op pass: resourceVersion %s -> %s", rv, got)
	}
	if got := f.statusCommits(); got != commits {
		t.Errorf("status commits %d -> %d on a no-op pass", commits, got)
	}

	// A commit that leaves the spec alone writes no object.
	f.push("README.md", "specs, now documented\n", "Document the repo")
	if res := f.pass(); res.Changes.Changed() {
		t.Errorf("README-only commit changed objects: %v", res.Changes)
	}
	if got := f.get(deployments, "fraud").GetResourceVersion(); got != rv {
		t.Errorf("Deployment written after a README-only commit: resourceVersion %s -> %s", rv, got)
	}

	// Change replicas 1 -> 3.
	second := f.push("models/fraud.cue", fmt.Sprintf(modelSpec, f.ns, 3), "Scale fraud to 3 replicas")
	res = f.pass()
	if got := res.Changes.Count(kube.ActionConfigured); got != 1 {
		t.Errorf("configured %d objects, want 1 (the Deployment; the Service did not change): %v", got, res.Changes)
	}
	if got := f.get(services, "fraud").GetAnnotations()[kube.RevisionAnnotation]; got != first {
		t.Errorf("unchanged Service's revision annotation moved to %s, want %s", got, first)
	}
	dep = f.get(deployments, "fraud")
	if r, _, _ := unstructured.NestedInt64(dep.Object, "spec", "replicas"); r != 3 {
		t.Errorf("replicas = %d after the change, want 3", r)
	}
	if got := dep.GetAnnotations()[kube.RevisionAnnotation]; got != second {
		t.Errorf("revision annotation = %q, want %s", got, second)
	}
	if msg, _ := f.statusCommit(report.JSONPath); !strings.Contains(msg, "applied "+second[:7]) {
		t.Errorf("status commit does not name %s:\n%s", second, msg)
	}

	// An unowned Deployment beside the model's objects.
	unowned := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "hand-made", "namespace": f.ns},
		"spec": map[string]any{
			"selector": map[string]any{"matchLabels": map[string]any{"app": "hand-made"}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app": "hand-made"}},
				"spec":     map[string]any{"containers": []any{map[string]any{"name": "c", "image": "busybox"}}},
			},
		},
	}}
	if _, err := f.client.Resource(deployments).Namespace(f.ns).Create(t.Context(), unowned, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Remove the model: its objects are pruned, the unowned one stays.
	third := f.push("models/fraud.cue", "", "Retire the fraud model")
	res = f.pass()
	if got := res.Changes.Count(kube.ActionPruned); got != 2 {
		t.Errorf("pruned %d objects, want 2: %v", got, res.Changes)
	}
	if f.exists(deployments, "fraud") || f.exists(services, "fraud") {
		t.Errorf("model objects still exist after the model was removed")
	}
	if !f.exists(deployments, "hand-made") {
		t.Errorf("unowned Deployment was deleted")
	}
	if msg, _ := f.statusCommit(report.SummaryPath); !strings.Contains(msg, "applied "+third[:7]) || !strings.Contains(msg, "pruned") {
		t.Errorf("status commit does not report the prune at %s:\n%s", third, msg)
	}
}

// TestInvalidSpecKeepsLastGood checks that a bad spec applies nothing,
// leaves the last good objects in place, and that the status commit names
// the file, line and column.
func TestInvalidSpecKeepsLastGood(t *testing.T) {
	f := newFixture(t, nil)
	good := f.pass().Head
	rv := f.get(deployments, "fraud").GetResourceVersion()

	bad := f.push("models/fraud.cue", fmt.Sprintf(`kind: "Model"
name: "fraud"
namespace: %q
serving: {
	image:    "ghcr.io/example/fraud-server:1.0"
	replicas: min: "three"
}
`, f.ns), "Break the replicas field")
	res := f.pass()
	if len(res.SpecErrors) != 1 {
		t.Fatalf("got %d spec errors, want 1: %v", len(res.SpecErrors), res.SpecErrors)
	}
	wantPos := "models/fraud.cue:6:17"
	if got := res.SpecErrors[0].Error(); !strings.HasPrefix(got, wantPos+": serving.replicas.min: ") {
		t.Errorf("spec error = %q, want it to start with %s: serving.replicas.min", got, wantPos)
	}
	if len(res.Changes) != 0 {
		t.Errorf("rejected specs applied something: %v", res.Changes)
	}
	dep := f.get(deployments, "fraud")
	if got := dep.GetResourceVersion(); got != rv {
		t.Errorf("Deployment written although the spec was rejected")
	}
	if got := dep.GetAnnotations()[kube.RevisionAnnotation]; got != good {
		t.Errorf("revision annotation = %q, want the last good %s", got, good)
	}
	msg, js := f.statusCommit(report.JSONPath)
	if !strings.Contains(msg, "rejected "+bad[:7]) || !strings.Contains(msg, wantPos) {
		t.Errorf("status commit does not name the bad revision and position %s:\n%s", wantPos, msg)
	}
	if !strings.Contains(js, `"reason": "`+meta.BuildFailedReason+`"`) || !strings.Contains(js, `"line": 6`) {
		t.Errorf("status.json does not carry the rejection:\n%s", js)
	}

	// Fixing the spec applies again.
	f.push("models/fraud.cue", fmt.Sprintf(modelSpec, f.ns, 2), "Fix replicas")
	res = f.pass()
	if len(res.SpecErrors) != 0 || res.Changes.Count(kube.ActionConfigured) == 0 {
		t.Errorf("fixed spec not applied: %+v", res)
	}
}

func managedBy(obj *unstructured.Unstructured, manager, operation string) bool {
	for _, mf := range obj.GetManagedFields() {
		if mf.Manager == manager && string(mf.Operation) == operation {
			return true
		}
	}
	return false
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
