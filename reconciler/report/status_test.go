package report_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mlsync/mlsync/reconciler/report"
)

func subject(msg string) string { s, _, _ := strings.Cut(msg, "\n"); return s }

func TestCommitSubjects(t *testing.T) {
	rev1 := &report.Revision{Commit: "3f2c1a9aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}
	rev2 := &report.Revision{Commit: "b41d0e2bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}
	base := func() *report.Status {
		return &report.Status{Applied: rev1, Latest: rev1, Ready: report.ReadyCondition(report.ConditionTrue, "ReconciliationSucceeded", "all healthy")}
	}
	with := func(f func(*report.Status)) *report.Status { s := base(); f(s); return s }
	tests := []struct {
		name      string
		prev, cur *report.Status
		want      string
	}{
		{"first apply", nil, with(func(s *report.Status) {
			s.Changes = []report.Change{{Ref: "a", Action: "created"}, {Ref: "b", Action: "created"}, {Ref: "c", Action: "pruned"}}
		}), "status: applied 3f2c1a9 (2 created, 1 pruned)"},
		{"new revision", base(), with(func(s *report.Status) { s.Applied, s.Latest = rev2, rev2 }), "status: applied b41d0e2 (no changes)"},
		{"health only", base(), with(func(s *report.Status) {
			s.Ready = report.ReadyCondition(report.ConditionFalse, "HealthCheckFailed", "Deployment ml/fraud: 0/2 ready")
		}), "status: failing at 3f2c1a9: Deployment ml/fraud: 0/2 ready"},
		{"spec errors", base(), with(func(s *report.Status) {
			s.Latest = rev2
			s.Errors = []report.SpecError{{File: "models/fraud.cue", Line: 4, Column: 12, Path: "stages[1].promotion", Message: "must be one of auto, pull-request, manual"}}
		}), "status: rejected b41d0e2: 1 spec error (models/fraud.cue:4:12: stages[1].promotion: must be one of auto, pull-request, manual)"},
		{"config drift", base(), with(func(s *report.Status) {
			s.Drift = []report.Change{{Ref: "apps/v1/Deployment/ml/fraud", Action: "configured", Reason: "corrected"}}
		}), "status: drift at 3f2c1a9: 1 object changed outside Git (apps/v1/Deployment/ml/fraud)"},
		{"run started", base(), with(func(s *report.Status) {
			s.Runs = []report.RunSummary{{Model: "fraud", Run: "fraud-1a2b", Phase: "Running", Trigger: "commit"}}
		}), "train(fraud): run fraud-1a2b started (commit)"},
		{"version produced", with(func(s *report.Status) {
			s.Runs = []report.RunSummary{{Model: "fraud", Run: "fraud-1a2b", Phase: "Running", Trigger: "commit"}}
		}), with(func(s *report.Status) {
			s.Runs = []report.RunSummary{{Model: "fraud", Run: "fraud-1a2b", Phase: "Succeeded", Version: "v8", Latest: "v8", LatestPassed: true}}
		}), "train(fraud): v8 from run fraud-1a2b passed its gate"},
		{"run failed", base(), with(func(s *report.Status) {
			s.Runs = []report.RunSummary{{Model: "fraud", Run: "fraud-1a2b", Phase: "Failed", Message: "step train failed: exit code 1"}}
		}), "train(fraud): run fraud-1a2b failed: step train failed: exit code 1"},
		{"pull request", base(), with(func(s *report.Status) {
			s.Promotions = []report.Promotion{{Model: "fraud", Stage: "production", Version: "v8", State: "proposed", Number: 12}}
		}), "promote(fraud): pull request #12 proposes v8 for production"},
		{"canary failed", with(func(s *report.Status) {
			s.Canaries = []report.Canary{{Model: "fraud", Stage: "production", From: "v7", Version: "v8", State: report.CanaryAnalysing}}
		}), with(func(s *report.Status) {
			s.Canaries = []report.Canary{{Model: "fraud", Stage: "production", From: "v7", Version: "v8", State: report.CanaryFailed,
				Verdict: "error rate 0.200 > 0.05 over 300 requests"}}
		}), "canary(fraud/production): v8 failed: error rate 0.200 > 0.05 over 300 requests; serving v7"},
		{"canary completed", with(func(s *report.Status) {
			s.Canaries = []report.Canary{{Model: "fraud", Stage: "production", From: "v7", Version: "v8", State: report.CanaryAnalysing}}
		}), with(func(s *report.Status) {
			s.Canaries = []report.Canary{{Model: "fraud", Stage: "production", From: "v7", Version: "v8", State: report.CanaryCompleted,
				Verdict: "within the objectives for the whole window"}}
		}), "canary(fraud/production): v8 completed (within the objectives for the whole window); serving v8 alone"},
		{"canary still analysing says nothing of it", base(), with(func(s *report.Status) {
			s.Canaries = []report.Canary{{Model: "fraud", Stage: "production", From: "v7", Version: "v8", State: report.CanaryAnalysing}}
		}), "status: healthy at 3f2c1a9: all healthy"},
		{"model drift wins", base(), with(func(s *report.Status) {
			s.Runs = []report.RunSummary{{Model: "fraud", Run: "fraud-9", Phase: "Running", Trigger: "drift"}}
			s.ModelDrift = []report.ModelDrift{{Model: "fraud", Drifted: true, Summary: "2/5 features drifted (amount psi=0.31 > 0.2)"}}
		}), "drift(fraud): 2/5 features drifted (amount psi=0.31 > 0.2)"},
		{"unchanged drift verdict says nothing", with(func(s *report.Status) {
			s.ModelDrift = []report.ModelDrift{{Model: "fraud", Drifted: true, Summary: "2/5 features drifted"}}
		}), with(func(s *report.Status) {
			s.ModelDrift = []report.ModelDrift{{Model: "fraud", Drifted: true, Summary: "2/5 features drifted"}}
		}), "status: healthy at 3f2c1a9: all healthy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := report.CommitMessage(tt.prev, tt.cur)
			if got := subject(msg); got != tt.want {
				t.Errorf("subject = %q\n          want %q", got, tt.want)
			}
			if tt.cur.Applied != nil && !strings.Contains(msg, "\nApplied-Revision: "+tt.cur.Applied.Commit+"\n") {
				t.Errorf("no Applied-Revision trailer:\n%s", msg)
			}
		})
	}
}

func TestStatusFiles(t *testing.T) {
	s := &report.Status{
		Source:  report.Source{URL: "https://git.example.com/ml/specs.git", Ref: "main", Path: "."},
		Applied: &report.Revision{Commit: "3f2c1a9aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Subject: "Serve fraud v3 | faster"},
		Ready:   report.ReadyCondition(report.ConditionTrue, "ReconciliationSucceeded", "all healthy"),
		Models: []report.Model{{Name: "fraud", Namespace: "ml", Runtime: "deployment", Health: "Healthy",
			Serving: []report.Serving{{Stage: "production", Namespace: "ml-production", Version: "v3", Replicas: "2/2", Health: "Healthy"}}}},
	}
	files, err := s.Files()
	if err != nil {
		t.Fatal(err)
	}
	md := string(files[report.SummaryPath])
	for _, want := range []string{"# mlsync status", "`3f2c1a9`", "`3f2c1a9` Serve fraud v3 | faster", "ml-production", "v3"} {
		if !strings.Contains(md, want) {
			t.Errorf("summary lacks %q:\n%s", want, md)
		}
	}
	var back report.Status
	if err := json.Unmarshal(files[report.JSONPath], &back); err != nil || back.Models[0].Serving[0].Version != "v3" {
		t.Errorf("status.json does not read back: %v %+v", err, back)
	}
}
