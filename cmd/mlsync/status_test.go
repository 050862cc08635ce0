package main

import (
	"strings"
	"testing"
	"time"

	"github.com/mlsync/mlsync/reconciler/registry"
	"github.com/mlsync/mlsync/reconciler/report"
)

// TestStatusCommand reads a checkout of the status branch: models per
// stage, runs, canaries and the registry's versions, as text and JSON;
// a directory without a status is a usage error.
func TestStatusCommand(t *testing.T) {
	rev := &report.Revision{Commit: "3f2c1a9aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}
	st := &report.Status{
		Source:  report.Source{URL: "https://git.example.com/ml/specs.git", Ref: "main", Path: "."},
		Applied: rev, Latest: rev,
		Ready: report.ReadyCondition(report.ConditionTrue, "ReconciliationSucceeded", "all healthy"),
		Models: []report.Model{{Name: "fraud", Namespace: "ml", Runtime: "deployment", Health: "Current",
			Serving: []report.Serving{{Stage: "production", Namespace: "ml-prod", Version: "v7", Replicas: "3/3", Health: "Current"}}}},
		Runs: []report.RunSummary{{Model: "fraud", Run: "fraud-1a2b", Phase: "Running", Trigger: "drift", Steps: []string{"prep:Succeeded", "train:Running"}}},
		Canaries: []report.Canary{{Model: "fraud", Stage: "production", From: "v7", Version: "v8", Since: "2026-12-04T10:00:00Z",
			State: report.CanaryFailed, Verdict: "error rate 0.200 > 0.05 over 300 requests"}},
	}
	files, err := st.Files()
	if err != nil {
		t.Fatal(err)
	}
	reg := &registry.Registry{Model: "fraud"}
	reg.Add(registry.Version{Run: "fraud-0001", Metrics: map[string]float64{"auc": 0.93}, DataVersion: "2026-11-30",
		Finished: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC), Gate: registry.Verdict{Passed: true}})
	data, err := reg.Encode()
	if err != nil {
		t.Fatal(err)
	}
	tree := map[string]string{registry.Path("fraud"): string(data)}
	for p, b := range files {
		tree[p] = string(b)
	}
	dir := specDir(t, tree)

	code, out, errOut := runCLI(t, "status", dir)
	if code != exitOK {
		t.Fatalf("status exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"Applied:  3f2c1a9",
		"fraud  production  ml-prod",
		"fraud-1a2b",
		"v7 -> v8",
		"failed: error rate 0.200 > 0.05 over 300 requests",
		"v1       passed  auc=0.93",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runCLI(t, "status", "-o", "json", dir)
	if code != exitOK || !strings.Contains(out, `"verdict": "error rate 0.200 > 0.05 over 300 requests"`) || !strings.Contains(out, `"run": "fraud-0001"`) {
		t.Errorf("status -o json (exit %d):\n%s", code, out)
	}
	if code, _, errOut := runCLI(t, "status", t.TempDir()); code != exitUsage || !strings.Contains(errOut, "status.json") {
		t.Errorf("empty directory: exit %d, %q", code, errOut)
	}
}
