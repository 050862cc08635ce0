package drift_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/mlsync/mlsync/reconciler/drift"
	"github.com/mlsync/mlsync/spec"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func TestPSITextbook(t *testing.T) {
	// Expected uniform over four bins, actual skewed:
	// PSI = sum (a-e) ln(a/e) = 0.2282 (worked by hand).
	got := drift.PSI([]float64{0.25, 0.25, 0.25, 0.25}, []float64{0.1, 0.2, 0.3, 0.4})
	if !near(got, 0.228217) && math.Abs(got-0.228217) > 1e-5 {
		t.Errorf("PSI = %.6f, want 0.228217", got)
	}
	if got := drift.PSI([]float64{0.5, 0.5}, []float64{0.5, 0.5}); got != 0 {
		t.Errorf("PSI of identical = %v", got)
	}
	// An empty bucket is smoothed, not infinite.
	if got := drift.PSI([]float64{0.5, 0.5, 0}, []float64{0.4, 0.4, 0.2}); math.IsInf(got, 0) || got <= 0 {
		t.Errorf("PSI with an empty expected bucket = %v", got)
	}
}

func TestKSTextbook(t *testing.T) {
	// Two samples shifted by two: D = 0.4.
	if got := drift.KSSamples([]float64{1, 2, 3, 4, 5}, []float64{3, 4, 5, 6, 7}); !near(got, 0.4) {
		t.Errorf("KS = %v, want 0.4", got)
	}
	if got := drift.KSSamples([]float64{1, 2, 3}, []float64{1, 2, 3}); got != 0 {
		t.Errorf("KS of identical samples = %v", got)
	}
	if got := drift.KSSamples([]float64{1, 2}, []float64{10, 20}); !near(got, 1) {
		t.Errorf("KS of disjoint samples = %v, want 1", got)
	}
	// Binned: cumulative 0.2,0.5,1 against 0.5,0.8,1 -> 0.3.
	if got := drift.KS([]float64{0.2, 0.3, 0.5}, []float64{0.5, 0.3, 0.2}); !near(got, 0.3) {
		t.Errorf("binned KS = %v, want 0.3", got)
	}
}

func TestJSTextbook(t *testing.T) {
	if got := drift.JS([]float64{1, 0}, []float64{0, 1}); !near(got, 1) {
		t.Errorf("JS of disjoint = %v, want 1", got)
	}
	if got := drift.JS([]float64{0.3, 0.7}, []float64{0.3, 0.7}); got != 0 {
		t.Errorf("JS of identical = %v", got)
	}
	// [0.5,0.5] vs [1,0]: m=[0.75,0.25]; JSD = 0.5*(0.5log2(0.5/0.75)+0.5log2(0.5/0.25)) + 0.5*(1*log2(1/0.75)) = 0.311278
	if got := drift.JS([]float64{0.5, 0.5}, []float64{1, 0}); math.Abs(got-math.Sqrt(0.311278)) > 1e-5 {
		t.Errorf("JS = %v, want %v", got, math.Sqrt(0.311278))
	}
}

func TestBaselineKeys(t *testing.T) {
	hs := drift.BaselineFromMetrics(map[string]float64{
		"auc": 0.9, "amount__le_10": 0.2, "amount__le_100": 0.7, "amount__le_inf": 1, "ratio__le_0p5": 0.5, "ratio__le_inf": 1,
	})
	a := hs["amount"]
	if len(a.Counts) != 3 || !near(a.Counts[0], 0.2) || !near(a.Counts[1], 0.5) || !near(a.Counts[2], 0.3) {
		t.Errorf("amount baseline = %+v", a)
	}
	if r := hs["ratio"]; len(r.Edges) != 2 || r.Edges[0] != 0.5 {
		t.Errorf("ratio edges = %v", r.Edges)
	}
	if _, ok := hs["auc"]; ok {
		t.Error("a plain metric was taken for a baseline")
	}
	if k := drift.EdgeKey("ratio", 0.5); k != "ratio__le_0p5" {
		t.Errorf("EdgeKey = %s", k)
	}
}

func TestJudgeCanary(t *testing.T) {
	rate := 0.05
	slo := &spec.SLO{ErrorRate: &rate, LatencyP99: "250ms"}
	tests := []struct {
		name    string
		sample  drift.CanarySample
		slo     *spec.SLO
		failure string
		judged  bool
	}{
		{"healthy", drift.CanarySample{Requests: 400, Errors: 4, LatencyP99: 0.1}, slo, "", true},
		{"errors", drift.CanarySample{Requests: 400, Errors: 80, LatencyP99: 0.1}, slo, "error rate 0.200 > 0.05 over 400 requests", true},
		{"at the objective", drift.CanarySample{Requests: 100, Errors: 5, LatencyP99: 0.25}, slo, "", true},
		{"slow", drift.CanarySample{Requests: 400, LatencyP99: 0.3125}, slo, "p99 latency 313ms > 250ms", true},
		{"too little traffic", drift.CanarySample{Requests: 9, Errors: 9, LatencyP99: 1}, slo, "", false},
		{"no latency data", drift.CanarySample{Requests: 400, LatencyP99: math.NaN()}, slo, "", true},
		{"no objectives", drift.CanarySample{Requests: 400, Errors: 400}, nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			failure, judged := drift.JudgeCanary(tt.sample, tt.slo)
			if failure != tt.failure || judged != tt.judged {
				t.Errorf("JudgeCanary = %q, %v; want %q, %v", failure, judged, tt.failure, tt.judged)
			}
		})
	}
	q := drift.CanaryQuery("fraud", "production", "v8", 90*time.Second)
	for _, want := range []string{`mlsync_requests_total{model="fraud", stage="production", version="v8"}[90s]`, `code=~"5.."`, `histogram_quantile(0.99`} {
		if !strings.Contains(q, want) {
			t.Errorf("query lacks %s:\n%s", want, q)
		}
	}
}
