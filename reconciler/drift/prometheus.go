package drift

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// FeatureMetric is the histogram a model server exports for drift
// checks, one series per feature (the prediction included, as feature
// "prediction"):
//
//	mlsync_feature_value_bucket{model="fraud", version="v3", feature="amount", le="100"}
//
// mlsync labels the serving pods with the model and version (MLSYNC_MODEL
// and MLSYNC_MODEL_VERSION in the environment) for the server to use.
const FeatureMetric = "mlsync_feature_value"

// Prometheus reads live distributions from a Prometheus server.
type Prometheus struct {
	api     promv1.API
	timeout time.Duration
}

// NewPrometheus returns a client for the server at url.
func NewPrometheus(url string, timeout time.Duration) (*Prometheus, error) {
	c, err := api.NewClient(api.Config{Address: url})
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: %w", url, err)
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &Prometheus{api: promv1.NewAPI(c), timeout: timeout}, nil
}

// Query is the PromQL of one model's live feature histograms over a
// window: one query per model, all features at once.
func Query(modelName, version string, window time.Duration) string {
	return fmt.Sprintf(`sum by (feature, le) (increase(%s_bucket{model=%q, version=%q}[%s]))`,
		FeatureMetric, modelName, version, promDuration(window))
}

// Live returns each feature's live histogram for a model version over
// the window ending at now.
func (p *Prometheus) Live(ctx context.Context, modelName, version string, window time.Duration, now time.Time) (map[string]Histogram, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	q := Query(modelName, version, window)
	val, _, _, err := p.api.Query(ctx, q, now)
	if err != nil {
		return nil, fmt.Errorf("querying prometheus for %s: %w", modelName, err)
	}
	vec, ok := val.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("querying prometheus for %s: want a vector, got %s", modelName, val.Type())
	}
	cum := map[string]map[float64]float64{}
	for _, s := range vec {
		feature := string(s.Metric["feature"])
		le, err := strconv.ParseFloat(string(s.Metric["le"]), 64)
		if feature == "" || err != nil {
			continue
		}
		if cum[feature] == nil {
			cum[feature] = map[float64]float64{}
		}
		v := float64(s.Value)
		if math.IsNaN(v) {
			v = 0
		}
		cum[feature][le] = v
	}
	out := map[string]Histogram{}
	for f, c := range cum {
		out[f] = FromCumulative(c)
	}
	return out, nil
}

func promDuration(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	if d%time.Minute == 0 {
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", max(int64(d/time.Second), 1))
}
