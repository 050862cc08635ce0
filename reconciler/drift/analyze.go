package drift

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mlsync/mlsync/spec"
)

// Histogram is a distribution over buckets: Edges are the buckets' upper
// bounds, ascending, the last +Inf; Counts the observations per bucket
// (not cumulative).
type Histogram struct {
	Edges  []float64
	Counts []float64
}

// FromCumulative builds a histogram from cumulative counts by upper bound
// (Prometheus buckets, or baseline fractions).
func FromCumulative(cum map[float64]float64) Histogram {
	edges := make([]float64, 0, len(cum))
	for le := range cum {
		edges = append(edges, le)
	}
	sort.Float64s(edges)
	h := Histogram{Edges: edges, Counts: make([]float64, len(edges))}
	prev := 0.0
	for i, le := range edges {
		h.Counts[i] = math.Max(cum[le]-prev, 0)
		prev = math.Max(cum[le], prev)
	}
	return h
}

// Total is the number of observations.
func (h Histogram) Total() float64 {
	t := 0.0
	for _, c := range h.Counts {
		t += c
	}
	return t
}

// baselineKey matches the evaluation step's baseline metrics: the
// cumulative share of the feature's training values at or below each
// bucket edge, named <feature>__le_<edge>, the edge written with "p" for
// the decimal point, a leading "m" for minus, and "inf" for +Inf: for
// example amount__le_100, amount__le_0p5, amount__le_inf.
var baselineKey = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9_]*?)__le_(m?[0-9]+(?:p[0-9]+)?|inf)$`)

// BaselineFromMetrics extracts the baseline histograms from a version's
// metrics (see baselineKey).
func BaselineFromMetrics(metrics map[string]float64) map[string]Histogram {
	cum := map[string]map[float64]float64{}
	for k, v := range metrics {
		m := baselineKey.FindStringSubmatch(k)
		if m == nil {
			continue
		}
		le, ok := parseEdge(m[2])
		if !ok {
			continue
		}
		if cum[m[1]] == nil {
			cum[m[1]] = map[float64]float64{}
		}
		cum[m[1]][le] = v
	}
	out := map[string]Histogram{}
	for f, c := range cum {
		out[f] = FromCumulative(c)
	}
	return out
}

func parseEdge(s string) (float64, bool) {
	if s == "inf" {
		return math.Inf(1), true
	}
	neg := strings.HasPrefix(s, "m")
	s = strings.TrimPrefix(s, "m")
	v, err := strconv.ParseFloat(strings.Replace(s, "p", ".", 1), 64)
	if err != nil {
		return 0, false
	}
	if neg {
		v = -v
	}
	return v, true
}

// EdgeKey writes an edge as baseline metric keys spell it.
func EdgeKey(feature string, le float64) string {
	if math.IsInf(le, 1) {
		return feature + "__le_inf"
	}
	s := strconv.FormatFloat(math.Abs(le), 'f', -1, 64)
	s = strings.Replace(s, ".", "p", 1)
	if le < 0 {
		s = "m" + s
	}
	return feature + "__le_" + s
}

// FeatureResult is one feature's comparison.
type FeatureResult struct {
	Feature   string  `json:"feature"`
	Method    string  `json:"method"`
	Statistic float64 `json:"statistic"`
	Threshold float64 `json:"threshold"`
	Drifted   bool    `json:"drifted"`
	// Edges are the buckets' upper bounds as Prometheus writes them
	// ("100", "+Inf").
	Edges    []string  `json:"edges,omitempty"`
	Baseline []float64 `json:"baseline,omitempty"`
	Live     []float64 `json:"live,omitempty"`
	// LiveCount is the number of live observations in the window.
	LiveCount float64 `json:"liveCount"`
	// Note says why a feature could not be compared.
	Note string `json:"note,omitempty"`
}

// Result is one model's drift check.
type Result struct {
	Model    string          `json:"model"`
	Version  string          `json:"version"`
	Time     time.Time       `json:"time"`
	Window   string          `json:"window"`
	Features []FeatureResult `json:"features"`
	// DriftedCount of Compared features drifted; the model drifts when
	// DriftedCount/Compared reaches Share.
	DriftedCount int     `json:"driftedCount"`
	Compared     int     `json:"compared"`
	Share        float64 `json:"share"`
	Drifted      bool    `json:"drifted"`
}

// Analyze compares live with baseline for each feature of d.
func Analyze(d *spec.Drift, baseline, live map[string]Histogram) Result {
	res := Result{Window: d.Window, Share: d.Share}
	for _, f := range d.Features {
		fr := FeatureResult{Feature: f.Name, Method: f.Method, Threshold: f.Threshold}
		b, okB := baseline[f.Name]
		l, okL := live[f.Name]
		switch {
		case !okB:
			fr.Note = "no training baseline recorded for this feature"
		case !okL || l.Total() == 0:
			fr.Note = "no live observations in the window"
		case !sameEdges(b.Edges, l.Edges):
			fr.Note = fmt.Sprintf("bucket edges differ: baseline %v, live %v", b.Edges, l.Edges)
		default:
			fr.Edges, fr.LiveCount = formatEdges(b.Edges), l.Total()
			fr.Baseline, fr.Live = Proportions(b.Counts), Proportions(l.Counts)
			switch f.Method {
			case spec.DriftKS:
				fr.Statistic = KS(fr.Baseline, fr.Live)
			case spec.DriftJS:
				fr.Statistic = JS(fr.Baseline, fr.Live)
			default:
				fr.Statistic = PSI(fr.Baseline, fr.Live)
			}
			fr.Statistic = math.Round(fr.Statistic*1e6) / 1e6
			fr.Drifted = fr.Statistic > fr.Threshold
			res.Compared++
			if fr.Drifted {
				res.DriftedCount++
			}
		}
		res.Features = append(res.Features, fr)
	}
	res.Drifted = res.Compared > 0 && float64(res.DriftedCount)/float64(res.Compared) >= d.Share
	return res
}

func formatEdges(edges []float64) []string {
	out := make([]string, len(edges))
	for i, e := range edges {
		if math.IsInf(e, 1) {
			out[i] = "+Inf"
		} else {
			out[i] = strconv.FormatFloat(e, 'g', -1, 64)
		}
	}
	return out
}

func sameEdges(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(math.IsInf(a[i], 1) && math.IsInf(b[i], 1)) {
			if math.Abs(a[i]-b[i]) > 1e-9*math.Max(math.Abs(a[i]), 1) {
				return false
			}
		}
	}
	return true
}

// Summary is the commit subject's wording: "2/5 features drifted
// (amount psi=0.31 > 0.2)".
func (r Result) Summary() string {
	s := fmt.Sprintf("%d/%d features drifted", r.DriftedCount, r.Compared)
	var worst *FeatureResult
	for i := range r.Features {
		f := &r.Features[i]
		if f.Drifted && (worst == nil || f.Statistic/f.Threshold > worst.Statistic/worst.Threshold) {
			worst = f
		}
	}
	if worst != nil {
		s += fmt.Sprintf(" (%s %s=%.3g > %.3g)", worst.Feature, worst.Method, worst.Statistic, worst.Threshold)
	}
	return s
}

// Verdicts is a fingerprint of the result's verdicts: a check whose
// verdicts match the last one's needs no new report.
func (r Result) Verdicts() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %t", r.Version, r.Drifted)
	for _, f := range r.Features {
		fmt.Fprintf(&b, " %s=%t/%s", f.Feature, f.Drifted, f.Note)
	}
	return b.String()
}
