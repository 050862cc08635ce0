package spec

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule is a parsed #Schedule: a five-field cron expression evaluated
// in UTC, a shorthand (@hourly, @daily, @weekly, @monthly) or a fixed
// interval (@every 30m).
type Schedule struct {
	expr  string
	every time.Duration
	// Bit sets of allowed minutes, hours, days of month, months, days of
	// week (bit n set = value n allowed).
	minute, hour, dom, month, dow uint64
	// domAny/dowAny record a "*" day field: cron matches a day when both
	// day fields match, or either when both are restricted.
	domAny, dowAny bool
}

var shorthands = map[string]string{
	"@hourly":  "0 * * * *",
	"@daily":   "0 0 * * *",
	"@weekly":  "0 0 * * 0",
	"@monthly": "0 0 1 * *",
}

// ParseSchedule parses a schedule expression.
func ParseSchedule(expr string) (*Schedule, error) {
	s := &Schedule{expr: expr}
	if rest, ok := strings.CutPrefix(expr, "@every "); ok {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err != nil {
			return nil, fmt.Errorf("@every: %v", err)
		}
		if d < time.Minute {
			return nil, fmt.Errorf("@every %s: the shortest interval is 1m", d)
		}
		s.every = d
		return s, nil
	}
	if full, ok := shorthands[expr]; ok {
		expr = full
	}
	fields := strings.Fields(expr)
	if len(fields) != 5 {
		return nil, fmt.Errorf("want 5 cron fields (minute hour day-of-month month day-of-week), got %d", len(fields))
	}
	specs := []struct {
		name     string
		min, max int
		names    map[string]int
		set      *uint64
		any      *bool
	}{
		{"minute", 0, 59, nil, &s.minute, nil},
		{"hour", 0, 23, nil, &s.hour, nil},
		{"day of month", 1, 31, nil, &s.dom, &s.domAny},
		{"month", 1, 12, monthNames, &s.month, nil},
		{"day of week", 0, 7, dayNames, &s.dow, &s.dowAny},
	}
	for i, f := range specs {
		set, err := parseCronField(fields[i], f.min, f.max, f.names)
		if err != nil {
			return nil, fmt.Errorf("%s field %q: %v", f.name, fields[i], err)
		}
		*f.set = set
		if f.any != nil {
			*f.any = fields[i] == "*" || fields[i] == "?"
		}
	}
	if s.dow&(1<<7) != 0 { // 7 is Sunday too
		s.dow |= 1
	}
	return s, nil
}

var monthNames = map[string]int{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
	"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}

var dayNames = map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}

func parseCronField(field string, lo, hi int, names map[string]int) (uint64, error) {
	var set uint64
	for _, part := range strings.Split(field, ",") {
		rng, stepText, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 {
				return 0, fmt.Errorf("step %q must be a positive number", stepText)
			}
			step = n
		}
		from, to := lo, hi
		switch {
		case rng == "*" || rng == "?":
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if from, err = cronValue(a, lo, hi, names); err != nil {
				return 0, err
			}
			if to, err = cronValue(b, lo, hi, names); err != nil {
				return 0, err
			}
			if from > to {
				return 0, fmt.Errorf("range %s runs backwards", rng)
			}
		default:
			v, err := cronValue(rng, lo, hi, names)
			if err != nil {
				return 0, err
			}
			from, to = v, v
			if hasStep {
				to = hi
			}
		}
		for v := from; v <= to; v += step {
			set |= 1 << uint(v)
		}
	}
	return set, nil
}

func cronValue(s string, lo, hi int, names map[string]int) (int, error) {
	if v, ok := names[strings.ToLower(s)]; ok {
		return v, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if v < lo || v > hi {
		return 0, fmt.Errorf("%d is out of range %d-%d", v, lo, hi)
	}
	return v, nil
}

// String returns the expression the schedule was parsed from.
func (s *Schedule) String() string { return s.expr }

// Next returns the first tick strictly after t. An @every schedule ticks
// at multiples of its interval since the Unix epoch, so every replica of
// the daemon agrees on the ticks.
func (s *Schedule) Next(t time.Time) time.Time {
	t = t.UTC()
	if s.every > 0 {
		n := t.UnixNano()/int64(s.every) + 1
		return time.Unix(0, n*int64(s.every)).UTC()
	}
	t = t.Truncate(time.Minute).Add(time.Minute)
	limit := t.AddDate(5, 0, 0)
	for t.Before(limit) {
		switch {
		case s.month&(1<<uint(t.Month())) == 0:
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		case !s.dayMatches(t):
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, time.UTC)
		case s.hour&(1<<uint(t.Hour())) == 0:
			t = t.Truncate(time.Hour).Add(time.Hour)
		case s.minute&(1<<uint(t.Minute())) == 0:
			t = t.Add(time.Minute)
		default:
			return t
		}
	}
	return time.Time{} // e.g. "0 0 31 2 *": never
}

func (s *Schedule) dayMatches(t time.Time) bool {
	dom := s.dom&(1<<uint(t.Day())) != 0
	dow := s.dow&(1<<uint(t.Weekday())) != 0
	if s.domAny || s.dowAny {
		return dom && dow
	}
	return dom || dow
}
