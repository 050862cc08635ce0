package kube_test

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlsync/mlsync/kube"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

func secret(ns, name string, data map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": name, "namespace": ns, "labels": owned(nil),
			"annotations": map[string]any{kube.SpecHashAnnotation: "s-" + name}},
		"stringData": data,
	}}
}

// TestPlanGolden plans a change set against live objects and compares
// the text with testdata/plan.golden: an image change, a Secret whose
// value changed (masked), a new ConfigMap, an unchanged ConfigMap and an
// object left in the inventory to prune.
func TestPlanGolden(t *testing.T) {
	ns := env.Namespace(t)
	m, _ := newManager(t, nil)
	dep := deployment(ns, "fraud", "ghcr.io/acme/fraud:1.4.2", "h1")
	same := configMap(ns, "same", map[string]any{"a": "1"})
	sec := secret(ns, "credentials", map[string]any{"token": "s3cr3t-one", "user": "svc"})
	old := configMap(ns, "retired", map[string]any{"x": "1"})
	apply(t, m, kube.DefaultApplyOptions(), dep, same, sec, old)
	inv := kube.Inventory{Name: ns, Objects: []kube.ObjectRef{kube.RefOf(dep), kube.RefOf(same), kube.RefOf(sec), kube.RefOf(old)}}
	if err := m.WriteInventory(t.Context(), inv); err != nil {
		t.Fatal(err)
	}

	dep2 := deployment(ns, "fraud", "ghcr.io/acme/fraud:1.5.0", "h2")
	sec2 := secret(ns, "credentials", map[string]any{"token": "s3cr3t-two", "user": "svc"})
	sec2.SetAnnotations(map[string]string{kube.SpecHashAnnotation: "s-credentials-2"})
	added := configMap(ns, "added", map[string]any{"threshold": "0.7"})
	plan, err := m.Plan(t.Context(), []*unstructured.Unstructured{dep2, same, sec2, added}, ns, kube.DefaultApplyOptions())
	if err != nil {
		t.Fatal(err)
	}
	if !plan.Changes() {
		t.Fatal("plan reports no changes")
	}
	got := strings.ReplaceAll(plan.Text(), ns, "NS")
	if strings.Contains(got, "s3cr3t") {
		t.Fatalf("Secret value leaked into the diff:\n%s", got)
	}
	const golden = "testdata/plan.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("plan differs from %s (-want +got); rerun with -update if intended:\n%s", golden, diff)
	}
}
