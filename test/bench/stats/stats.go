// Package stats keeps the side-by-side benchmarks' measurements: several
// runs of each, reported as the median and the range.
package stats

import (
	"fmt"
	"sort"
)

// Samples are the measurements of each named quantity, one per run.
type Samples map[string][]float64

// Add records one run's value of k.
func (s Samples) Add(k string, v float64) { s[k] = append(s[k], v) }

// Median is k's median (0 without values).
func (s Samples) Median(k string) float64 {
	v := s.sorted(k)
	if len(v) == 0 {
		return 0
	}
	return v[len(v)/2]
}

// Range is "min-max" of k with the given decimals ("-" without values).
func (s Samples) Range(k string, decimals int) string {
	v := s.sorted(k)
	if len(v) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.*f-%.*f", decimals, v[0], decimals, v[len(v)-1])
}

func (s Samples) sorted(k string) []float64 {
	v := append([]float64(nil), s[k]...)
	sort.Float64s(v)
	return v
}
