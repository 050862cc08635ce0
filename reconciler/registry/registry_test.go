package registry_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/mlsync/mlsync/reconciler/registry"
	"github.com/mlsync/mlsync/spec"
)

func ptr(f float64) *float64 { return &f }

func TestEvaluate(t *testing.T) {
	gate := &spec.Evaluation{
		PrimaryMetric:    "auc",
		Thresholds:       map[string]spec.Threshold{"auc": {Min: ptr(0.9)}, "latency_ms": {Max: ptr(50)}},
		MustBeatChampion: true,
		Tolerance:        0.002,
	}
	champion := &registry.Version{Version: "v3", Metrics: map[string]float64{"auc": 0.93, "latency_ms": 40}}
	tests := []struct {
		name     string
		gate     *spec.Evaluation
		metrics  map[string]float64
		champion *registry.Version
		passed   bool
		reasons  []string
	}{
		{name: "no gate", metrics: map[string]float64{}, passed: true, reasons: []string{"no evaluation gate"}},
		{name: "passes, no champion", gate: gate, metrics: map[string]float64{"auc": 0.91, "latency_ms": 30}, passed: true},
		{name: "below a minimum", gate: gate, metrics: map[string]float64{"auc": 0.85, "latency_ms": 30}, reasons: []string{"auc 0.85 is below the minimum 0.9"}},
		{name: "above a maximum", gate: gate, metrics: map[string]float64{"auc": 0.95, "latency_ms": 51}, reasons: []string{"latency_ms 51 is above the maximum 50"}},
		{name: "metric missing", gate: gate, metrics: map[string]float64{"latency_ms": 30},
			reasons: []string{"metric auc was not reported", "primary metric auc was not reported"}},
		{name: "beats the champion", gate: gate, metrics: map[string]float64{"auc": 0.94, "latency_ms": 30}, champion: champion, passed: true},
		{name: "within tolerance of the champion", gate: gate, metrics: map[string]float64{"auc": 0.929, "latency_ms": 30}, champion: champion, passed: true},
		{name: "worse than the champion", gate: gate, metrics: map[string]float64{"auc": 0.92, "latency_ms": 30}, champion: champion,
			reasons: []string{"auc 0.92 does not beat champion v3 (0.93, tolerance 0.002)"}},
		{name: "lower is better", gate: &spec.Evaluation{PrimaryMetric: "loss", Direction: spec.Minimize, MustBeatChampion: true},
			metrics: map[string]float64{"loss": 0.3}, champion: &registry.Version{Version: "v1", Metrics: map[string]float64{"loss": 0.2}},
			reasons: []string{"loss 0.3 does not beat champion v1 (0.2, lower is better, tolerance 0)"}},
		{name: "champion predates the metric", gate: &spec.Evaluation{PrimaryMetric: "f1", MustBeatChampion: true},
			metrics: map[string]float64{"f1": 0.5}, champion: champion, passed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := registry.Evaluate(tt.gate, tt.metrics, tt.champion)
			if v.Passed != tt.passed || !reflect.DeepEqual(v.Reasons, tt.reasons) {
				t.Errorf("Evaluate = passed %v, reasons %q; want %v, %q", v.Passed, v.Reasons, tt.passed, tt.reasons)
			}
		})
	}
	v := registry.Evaluate(gate, map[string]float64{"auc": 0.95, "latency_ms": 30}, champion)
	if v.Champion != "v3" || v.Deltas["auc"] != 0.02 || v.Deltas["latency_ms"] != -10 {
		t.Errorf("deltas against the champion: %+v", v)
	}
}

func TestRegistryRoundTrip(t *testing.T) {
	reg := &registry.Registry{Model: "fraud"}
	for _, run := range []string{"fraud-a", "fraud-b"} {
		reg.Add(registry.Version{Run: run, Metrics: map[string]float64{"auc": 0.9}})
	}
	reg.RememberStep("key1", registry.Step{Run: "fraud-a", Name: "prep", Outputs: map[string]string{"features": "s3://x"}})
	data, err := reg.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := registry.Decode("fraud", data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, reg) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, reg)
	}
	if v := back.Latest(); v == nil || v.Version != "v2" || v.Run != "fraud-b" {
		t.Errorf("Latest = %+v, want v2 from fraud-b", v)
	}
	if v := back.ByRun("fraud-a"); v == nil || v.Version != "v1" {
		t.Errorf("ByRun(fraud-a) = %+v, want v1", v)
	}
	if _, err := registry.Decode("fraud", []byte(`{"model": "other"}`)); err == nil || !strings.Contains(err.Error(), "other") {
		t.Errorf("a registry of another model: err = %v", err)
	}
}
