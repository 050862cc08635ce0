package stats

import "testing"

func TestMedianAndRange(t *testing.T) {
	s := Samples{}
	for _, v := range []float64{3.14159, 1.5, 2.25} {
		s.Add("x", v)
	}
	if got := s.Median("x"); got != 2.25 {
		t.Errorf("Median = %v, want 2.25", got)
	}
	if got := s.Range("x", 2); got != "1.50-3.14" {
		t.Errorf("Range = %q, want 1.50-3.14", got)
	}
	if s.Median("none") != 0 || s.Range("none", 1) != "-" {
		t.Errorf("empty: Median %v, Range %q", s.Median("none"), s.Range("none", 1))
	}
	if s["x"][0] != 3.14159 {
		t.Error("Median sorted the samples in place")
	}
}
