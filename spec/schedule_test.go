package spec_test

import (
	"testing"
	"time"

	"github.com/mlsync/mlsync/spec"
)

func TestScheduleNext(t *testing.T) {
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		expr, after, want string
	}{
		{"0 2 * * 1", "2026-12-03T10:00:00Z", "2026-12-07T02:00:00Z"}, // Thursday -> next Monday 02:00
		{"0 2 * * mon", "2026-12-07T02:00:00Z", "2026-12-14T02:00:00Z"},
		{"*/15 * * * *", "2026-12-03T10:07:30Z", "2026-12-03T10:15:00Z"},
		{"30 6 1 * *", "2026-12-03T00:00:00Z", "2027-01-01T06:30:00Z"},
		{"0 0 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"},
		{"0 9 1 * 1", "2026-12-01T10:00:00Z", "2026-12-07T09:00:00Z"}, // day of month OR day of week
		{"0 0 * * 7", "2026-12-03T00:00:00Z", "2026-12-06T00:00:00Z"}, // 7 is Sunday
		{"@daily", "2026-12-03T23:59:00Z", "2026-12-04T00:00:00Z"},
		{"@hourly", "2026-12-03T10:00:00Z", "2026-12-03T11:00:00Z"},
		{"@weekly", "2026-12-03T10:00:00Z", "2026-12-06T00:00:00Z"},
		{"@every 6h", "2026-12-03T10:00:00Z", "2026-12-03T12:00:00Z"},
		{"0-10/5 12 * jan-mar *", "2026-12-03T00:00:00Z", "2027-01-01T12:00:00Z"},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			s, err := spec.ParseSchedule(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Next(at(tc.after)); !got.Equal(at(tc.want)) {
				t.Errorf("Next(%s) = %s, want %s", tc.after, got.Format(time.RFC3339), tc.want)
			}
		})
	}
}

func TestScheduleErrors(t *testing.T) {
	for _, expr := range []string{"", "* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8",
		"*/0 * * * *", "5-1 * * * *", "@every 10s", "@every soon", "@yearly", "a b c d e"} {
		if _, err := spec.ParseSchedule(expr); err == nil {
			t.Errorf("ParseSchedule(%q) accepted an invalid schedule", expr)
		}
	}
}
