package reconciler_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/mlsync/mlsync/kube"
	"github.com/mlsync/mlsync/reconciler"
	"github.com/mlsync/mlsync/reconciler/report"
)

var configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

// TestDriftCorrectedAndReported: a hand edit to an applied Deployment is
// corrected by the next pass although Git did not move, and the status
// branch says so.
func TestDriftCorrectedAndReported(t *testing.T) {
	f := newFixture(t, func(o *reconciler.Options) { o.DriftInterval = time.Nanosecond })
	f.pass()
	edit := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"server","image":"ghcr.io/example/fraud-server:hotfix"}]}}}}`)
	if _, err := f.client.Resource(deployments).Namespace(f.ns).Patch(t.Context(), "fraud", types.StrategicMergePatchType, edit,
		metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // let the watch see it

	res := f.pass()
	if res.Drift != 1 || res.Changes.Count(kube.ActionConfigured) != 1 {
		t.Fatalf("want one drifted object corrected, got drift=%d changes=%v", res.Drift, res.Changes)
	}
	if got := containerImage(f.get(deployments, "fraud")); got != "ghcr.io/example/fraud-server:1.0" {
		t.Errorf("drift not corrected: image %s", got)
	}
	msg, summary := f.statusCommit(report.SummaryPath)
	if !strings.Contains(msg, "drift at") || !strings.Contains(summary, "## Config drift") ||
		!strings.Contains(summary, "Deployment/"+f.ns+"/fraud: corrected") || !strings.Contains(summary, "kubectl-edit") {
		t.Errorf("status does not report the corrected drift:\n%s\n%s", msg, summary)
	}

	// A quiet pass: nothing drifted, nothing written.
	rv := f.get(deployments, "fraud").GetResourceVersion()
	if res := f.pass(); res.Drift != 0 || res.Changes.Changed() {
		t.Errorf("quiet drift check changed something: %+v", res)
	}
	if got := f.get(deployments, "fraud").GetResourceVersion(); got != rv {
		t.Errorf("quiet drift check wrote the Deployment")
	}
}

func TestDriftReportOnly(t *testing.T) {
	f := newFixture(t, func(o *reconciler.Options) {
		o.DriftInterval = time.Nanosecond
		o.Apply.Drift = kube.DriftReport
	})
	f.pass()
	edit := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"server","image":"ghcr.io/example/fraud-server:hotfix"}]}}}}`)
	if _, err := f.client.Resource(deployments).Namespace(f.ns).Patch(t.Context(), "fraud", types.StrategicMergePatchType, edit,
		metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	res := f.pass()
	if res.Drift != 1 || res.Changes.Count(kube.ActionDrifted) != 1 {
		t.Fatalf("want one drift reported, got %v", res.Changes)
	}
	if got := containerImage(f.get(deployments, "fraud")); got != "ghcr.io/example/fraud-server:hotfix" {
		t.Errorf("report-only policy changed the object: image %s", got)
	}
	if _, summary := f.statusCommit(report.SummaryPath); !strings.Contains(summary, "reported, not corrected") {
		t.Errorf("status does not report the drift:\n%s", summary)
	}
}

// TestCrashBetweenInventoryAndApply: the reconciler records the union of
// old and new objects before applying. If it dies right after, a new
// reconciler converges: creates what is missing, prunes what was removed.
func TestCrashBetweenInventoryAndApply(t *testing.T) {
	f := newFixture(t, nil)
	f.pass()
	// Replace model fraud by model churn, and record the inventory the
	// reconciler writes before applying; then "crash": apply nothing.
	f.push("models/fraud.cue", "", "Retire fraud")
	f.push("models/churn.cue", strings.ReplaceAll(fmt.Sprintf(modelSpec, f.ns, 1), `"fraud"`, `"churn"`), "Add churn")
	manager, err := kube.NewResourceManager(env.Config(), kube.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer manager.Close()
	inv, err := manager.ReadInventory(t.Context(), f.ns)
	if err != nil {
		t.Fatal(err)
	}
	churn := []kube.ObjectRef{
		{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: f.ns, Name: "churn"},
		{Version: "v1", Kind: "Service", Namespace: f.ns, Name: "churn"},
	}
	inv.Objects = append(inv.Objects, churn...)
	if err := manager.WriteInventory(t.Context(), inv); err != nil {
		t.Fatal(err)
	}

	restarted := newFixtureFor(t, f, nil)
	res := restarted.pass()
	if res.Changes.Count(kube.ActionCreated) != 2 || res.Changes.Count(kube.ActionPruned) != 2 {
		t.Fatalf("restarted reconciler did not converge: %v", res.Changes)
	}
	if f.exists(deployments, "fraud") || !f.exists(deployments, "churn") {
		t.Errorf("after convergence: fraud exists=%v churn exists=%v", f.exists(deployments, "fraud"), f.exists(deployments, "churn"))
	}
	inv, err = manager.ReadInventory(t.Context(), f.ns)
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range inv.Objects {
		if ref.Name == "fraud" {
			t.Errorf("inventory still lists %s", ref)
		}
	}
}

// TestManifestsAndOverlays: plain YAML under manifests/ is applied with
// the ownership label, and a broken overlay rejects the revision with
// its file named, applying nothing.
func TestManifestsAndOverlays(t *testing.T) {
	f := newFixture(t, nil)
	f.push("manifests/settings.yaml", fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fraud-settings\n  namespace: %s\ndata:\n  threshold: \"0.8\"\n", f.ns), "Add settings")
	res := f.pass()
	cm := f.get(configMaps, "fraud-settings")
	if cm.GetLabels()[kube.ManagedByLabel] != kube.ManagedByValue || cm.GetAnnotations()[kube.SourceAnnotation] != "manifests/settings.yaml" {
		t.Errorf("manifest applied without ownership: labels %v annotations %v", cm.GetLabels(), cm.GetAnnotations())
	}
	before := res.Head

	f.push("environments/production/kustomization.yaml", "patches: [{target: {kind: Deployment}, patch: \"- op: nope\"}]\n", "Broken overlay")
	f.push("models/fraud.cue", strings.Replace(fmt.Sprintf(modelSpec, f.ns, 1), "serving:", `stages: [{name: "production", namespace: "`+f.ns+`", version: "v1"}]
serving:`, 1), "Stage the model")
	res = f.pass()
	if len(res.SpecErrors) != 1 || !strings.HasPrefix(res.SpecErrors[0].Error(), "environments/production/kustomization.yaml: overlay for model fraud") {
		t.Fatalf("want the broken overlay reported, got %v", res.SpecErrors)
	}
	if got := f.get(deployments, "fraud").GetAnnotations()[kube.RevisionAnnotation]; got != before {
		t.Errorf("a rejected revision was applied: revision %s, want %s", got, before)
	}
}

func containerImage(obj *unstructured.Unstructured) string {
	cs, _, _ := unstructured.NestedSlice(obj.Object, "spec", "template", "spec", "containers")
	return cs[0].(map[string]any)["image"].(string)
}
