package drift

import (
	"math"
	"sort"
)

// epsilon stands in for an empty bucket in PSI, which divides by and
// takes logarithms of proportions.
const epsilon = 1e-4

// Proportions turns bucket counts into proportions summing to 1; all
// zeros stay zeros.
func Proportions(counts []float64) []float64 {
	total := 0.0
	for _, c := range counts {
		total += c
	}
	out := make([]float64, len(counts))
	if total <= 0 {
		return out
	}
	for i, c := range counts {
		out[i] = c / total
	}
	return out
}

// PSI is the population stability index of actual against expected
// (both proportions over the same buckets): sum of (a-e)*ln(a/e), with
// empty buckets counted as epsilon. 0 means identical; above 0.2 is the
// usual "significant shift".
func PSI(expected, actual []float64) float64 {
	psi := 0.0
	for i := range expected {
		e := math.Max(expected[i], epsilon)
		a := math.Max(actual[i], epsilon)
		psi += (a - e) * math.Log(a/e)
	}
	return psi
}

// KS is the Kolmogorov-Smirnov statistic between two binned
// distributions: the largest gap between their cumulative proportions
// at the bucket edges.
func KS(expected, actual []float64) float64 {
	var ce, ca, d float64
	for i := range expected {
		ce += expected[i]
		ca += actual[i]
		d = math.Max(d, math.Abs(ce-ca))
	}
	return d
}

// JS is the Jensen-Shannon distance (the square root of the divergence,
// base 2): 0 for identical distributions, 1 for disjoint ones.
func JS(expected, actual []float64) float64 {
	kl := func(p, m []float64) float64 {
		s := 0.0
		for i := range p {
			if p[i] > 0 && m[i] > 0 {
				s += p[i] * math.Log2(p[i]/m[i])
			}
		}
		return s
	}
	m := make([]float64, len(expected))
	for i := range expected {
		m[i] = (expected[i] + actual[i]) / 2
	}
	d := (kl(expected, m) + kl(actual, m)) / 2
	return math.Sqrt(math.Max(d, 0))
}

// KSSamples is the two-sample Kolmogorov-Smirnov statistic of raw
// samples (for tests against textbook values and for callers that have
// samples rather than histograms).
func KSSamples(a, b []float64) float64 {
	as, bs := sorted(a), sorted(b)
	i, j := 0, 0
	d := 0.0
	for i < len(as) && j < len(bs) {
		x := math.Min(as[i], bs[j])
		for i < len(as) && as[i] <= x {
			i++
		}
		for j < len(bs) && bs[j] <= x {
			j++
		}
		d = math.Max(d, math.Abs(float64(i)/float64(len(as))-float64(j)/float64(len(bs))))
	}
	return d
}

func sorted(v []float64) []float64 {
	out := append([]float64(nil), v...)
	sort.Float64s(out)
	return out
}
