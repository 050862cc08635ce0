package training

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
)

// MaxMetricsSize bounds a step's metrics payload (Kubernetes itself cuts
// termination messages at 4 KiB).
const MaxMetricsSize = 4096

var metricName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

// ParseMetrics reads the metrics a step wrote to /dev/termination-log: a
// flat JSON object of finite numbers, such as {"auc": 0.93, "loss": 0.21},
// under 4 KiB, with metric names that are identifiers and appear once.
// Anything else is an error that says what is wrong.
func ParseMetrics(msg string) (map[string]float64, error) {
	if len(msg) > MaxMetricsSize {
		return nil, fmt.Errorf("metrics are %d bytes, over the %d-byte limit", len(msg), MaxMetricsSize)
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(msg)))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("metrics are not JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("metrics must be a JSON object of numbers")
	}
	out := map[string]float64{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("metrics are not JSON: %v", err)
		}
		name, _ := tok.(string)
		if !metricName.MatchString(name) {
			return nil, fmt.Errorf("metric name %q is not an identifier (a letter, then letters, digits and '_')", name)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("metric %q appears twice", name)
		}
		tok, err = dec.Token()
		if err != nil {
			return nil, fmt.Errorf("metrics are not JSON: %v", err)
		}
		n, ok := tok.(json.Number)
		if !ok {
			return nil, fmt.Errorf("metric %q must be a number, got %s", name, describeToken(tok))
		}
		f, err := strconv.ParseFloat(n.String(), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("metric %q = %s is not a finite number", name, n)
		}
		out[name] = f
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("metrics are not JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("metrics must be one JSON object, with nothing after it")
	}
	if len(out) == 0 {
		return nil, errors.New("metrics object is empty")
	}
	return out, nil
}

func describeToken(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			return "an object (metrics are flat)"
		}
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", tok)
}
