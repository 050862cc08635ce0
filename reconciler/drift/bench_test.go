package drift_test

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/mlsync/mlsync/reconciler/drift"
	"github.com/mlsync/mlsync/spec"
)

// BenchmarkAnalyze100x20 analyses 100 models with 20 features each (ten
// buckets per feature, the three methods in turn) and renders their
// reports: the whole drift pass but for the Prometheus queries, which
// are one per model.
func BenchmarkAnalyze100x20(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	edges := []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, math.Inf(1)}
	hist := func(shift float64) drift.Histogram {
		h := drift.Histogram{Edges: edges, Counts: make([]float64, len(edges))}
		for i := range h.Counts {
			h.Counts[i] = 100 + 50*rng.Float64() + shift*float64(i)
		}
		return h
	}
	type model struct {
		d              *spec.Drift
		baseline, live map[string]drift.Histogram
	}
	var models []model
	methods := []string{spec.DriftPSI, spec.DriftKS, spec.DriftJS}
	for m := range 100 {
		d := &spec.Drift{Window: "1h", Share: 0.3}
		base, live := map[string]drift.Histogram{}, map[string]drift.Histogram{}
		for f := range 20 {
			name := fmt.Sprintf("feature_%02d", f)
			d.Features = append(d.Features, spec.DriftFeature{Name: name, Method: methods[f%3], Threshold: 0.1})
			base[name], live[name] = hist(0), hist(float64(m%5))
		}
		models = append(models, model{d, base, live})
	}
	b.ResetTimer()
	for range b.N {
		for i, m := range models {
			res := drift.Analyze(m.d, m.baseline, m.live)
			res.Model = fmt.Sprintf("model-%03d", i)
			if _, err := res.Files(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
