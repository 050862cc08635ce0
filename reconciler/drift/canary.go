package drift

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/common/model"

	"github.com/mlsync/mlsync/reconciler/render"
	"github.com/mlsync/mlsync/spec"
)

// CanarySample is what one version of a model served in a stage over a
// window, from the model server's request metrics:
//
//	mlsync_requests_total{model, stage, version, code}
//	mlsync_request_duration_seconds_bucket{model, stage, version, le}
type CanarySample struct {
	Requests float64 `json:"requests"`
	// Errors are the requests answered with a 5xx code.
	Errors float64 `json:"errors"`
	// LatencyP99 is the 99th percentile latency in seconds; NaN without
	// requests.
	LatencyP99 float64 `json:"-"`
	// Found says whether Prometheus has the version's request metrics
	// at all.
	Found bool `json:"found"`
}

// ErrorRate is the share of requests that failed; 0 without requests.
func (s CanarySample) ErrorRate() float64 {
	if s.Requests <= 0 {
		return 0
	}
	return s.Errors / s.Requests
}

// MinCanaryRequests is the traffic a canary needs before it is judged:
// with fewer requests one error would fail it.
const MinCanaryRequests = 10

// CanaryQuery is the PromQL of one version's requests, 5xx errors and p99
// latency over a window: one query, the three series told apart by a "q"
// label.
func CanaryQuery(modelName, stage, version string, window time.Duration) string {
	sel := fmt.Sprintf("model=%q, stage=%q, version=%q", modelName, stage, version)
	w := promDuration(window)
	return fmt.Sprintf(`label_replace(sum(increase(%[1]s{%[3]s}[%[4]s])), "q", "requests", "", "")`+
		` or label_replace(sum(increase(%[1]s{%[3]s, code=~"5.."}[%[4]s])), "q", "errors", "", "")`+
		` or label_replace(histogram_quantile(0.99, sum by (le) (increase(%[2]s_bucket{%[3]s}[%[4]s]))), "q", "p99", "", "")`,
		render.RequestsMetric, render.RequestDurationMetric, sel, w)
}

// Canary returns what version served in the stage over the window ending
// at now.
func (p *Prometheus) Canary(ctx context.Context, modelName, stage, version string, window time.Duration, now time.Time) (CanarySample, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	s := CanarySample{LatencyP99: math.NaN()}
	val, _, _, err := p.api.Query(ctx, CanaryQuery(modelName, stage, version, window), now)
	if err != nil {
		return s, fmt.Errorf("querying prometheus for the %s canary of %s: %w", version, modelName, err)
	}
	vec, ok := val.(model.Vector)
	if !ok {
		return s, fmt.Errorf("querying prometheus for the %s canary of %s: want a vector, got %s", version, modelName, val.Type())
	}
	s.Found = len(vec) > 0
	for _, v := range vec {
		x := float64(v.Value)
		switch v.Metric["q"] {
		case "requests":
			s.Requests = zeroNaN(x)
		case "errors":
			s.Errors = zeroNaN(x)
		case "p99":
			s.LatencyP99 = x
		}
	}
	return s, nil
}

func zeroNaN(x float64) float64 {
	if math.IsNaN(x) {
		return 0
	}
	return x
}

// JudgeCanary checks a sample against the model's objectives. It returns
// why the canary fails, or "" when it meets them or saw too little
// traffic to tell (judged says which).
func JudgeCanary(s CanarySample, slo *spec.SLO) (failure string, judged bool) {
	if slo == nil || s.Requests < MinCanaryRequests {
		return "", false
	}
	if slo.ErrorRate != nil && s.ErrorRate() > *slo.ErrorRate {
		return fmt.Sprintf("error rate %.3f > %g over %.0f requests", s.ErrorRate(), *slo.ErrorRate, s.Requests), true
	}
	if slo.LatencyP99 != "" {
		limit, err := time.ParseDuration(slo.LatencyP99)
		if err == nil && !math.IsNaN(s.LatencyP99) && s.LatencyP99 > limit.Seconds() {
			return fmt.Sprintf("p99 latency %s > %s", time.Duration(s.LatencyP99*float64(time.Second)).Round(time.Millisecond), slo.LatencyP99), true
		}
	}
	return "", true
}
