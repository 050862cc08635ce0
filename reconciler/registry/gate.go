package registry

import (
	"fmt"
	"math"
	"sort"

	"github.com/mlsync/mlsync/spec"
)

// Verdict is the evaluation gate's decision on a version.
type Verdict struct {
	Passed bool `json:"passed"`
	// Reasons says why it failed (or "no evaluation gate").
	Reasons []string `json:"reasons,omitempty"`
	// Champion is the version compared against, if any.
	Champion string `json:"champion,omitempty"`
	// Deltas are the version's metrics minus the champion's.
	Deltas map[string]float64 `json:"deltas,omitempty"`
}

// Champion returns the version pinned in the model's first stage: the
// one a candidate must beat. Nil when nothing is pinned or it is not in
// the registry.
func (r *Registry) Champion(m *spec.Model) *Version {
	if len(m.Stages) == 0 || m.Stages[0].Version == "" {
		return nil
	}
	return r.Get(m.Stages[0].Version)
}

// Evaluate checks metrics against the gate e: every threshold, and with
// mustBeatChampion, the primary metric against the champion's (better by
// direction, or within tolerance). A missing metric fails.
func Evaluate(e *spec.Evaluation, metrics map[string]float64, champion *Version) Verdict {
	if e == nil {
		return Verdict{Passed: true, Reasons: []string{"no evaluation gate"}}
	}
	v := Verdict{Passed: true}
	fail := func(format string, args ...any) {
		v.Passed = false
		v.Reasons = append(v.Reasons, fmt.Sprintf(format, args...))
	}
	names := make([]string, 0, len(e.Thresholds))
	for n := range e.Thresholds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t := e.Thresholds[n]
		got, ok := metrics[n]
		switch {
		case !ok:
			fail("metric %s was not reported", n)
		case t.Min != nil && got < *t.Min:
			fail("%s %s is below the minimum %s", n, num(got), num(*t.Min))
		case t.Max != nil && got > *t.Max:
			fail("%s %s is above the maximum %s", n, num(got), num(*t.Max))
		}
	}
	primary, ok := metrics[e.PrimaryMetric]
	if !ok {
		fail("primary metric %s was not reported", e.PrimaryMetric)
	}
	if champion != nil {
		v.Champion = champion.Version
		v.Deltas = map[string]float64{}
		for n, x := range metrics {
			if c, ok := champion.Metrics[n]; ok {
				v.Deltas[n] = round(x - c)
			}
		}
	}
	if e.MustBeatChampion && champion != nil && ok {
		c, has := champion.Metrics[e.PrimaryMetric]
		switch {
		case !has:
			// The champion predates this metric: nothing to beat.
		case e.Direction == spec.Minimize && primary > c+e.Tolerance:
			fail("%s %s does not beat champion %s (%s, lower is better, tolerance %s)", e.PrimaryMetric, num(primary),
				champion.Version, num(c), num(e.Tolerance))
		case e.Direction != spec.Minimize && primary < c-e.Tolerance:
			fail("%s %s does not beat champion %s (%s, tolerance %s)", e.PrimaryMetric, num(primary),
				champion.Version, num(c), num(e.Tolerance))
		}
	}
	return v
}

func num(f float64) string { return fmt.Sprintf("%.4g", f) }

// round trims float noise from deltas (0.93-0.91 is 0.02, not
// 0.020000000000000018).
func round(f float64) float64 { return math.Round(f*1e9) / 1e9 }
