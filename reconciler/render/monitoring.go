package render

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlsync/mlsync/spec"
)

// Metric names a model server exports for mlsync's monitoring (see the
// README): request latency and counts by status code. Drift uses
// drift.FeatureMetric.
const (
	RequestDurationMetric = "mlsync_request_duration_seconds"
	RequestsMetric        = "mlsync_requests_total"
	// ModelDriftedMetric is mlsync's own gauge the drift alert fires on.
	ModelDriftedMetric = "mlsync_model_drifted"
)

// monitoringObjects renders a ServiceMonitor and a PrometheusRule for a
// deployment-served stage, when the Prometheus Operator's CRDs exist.
// Without them the pods' prometheus.io scrape annotations remain.
func monitoringObjects(m *spec.Model, t target, opts Options) []*unstructured.Unstructured {
	if !opts.PrometheusOperator || m.Serving.Runtime != spec.RuntimeDeployment {
		return nil
	}
	sm := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "monitoring.coreos.com/v1",
		"kind":       "ServiceMonitor",
		"metadata":   metadata(m, t, opts),
		"spec": map[string]any{
			"selector": map[string]any{"matchLabels": selector(m)},
			"endpoints": []any{map[string]any{
				"port": "http", "path": "/metrics", "interval": "30s",
			}},
		},
	}}
	var rules []any
	stage := t.stage
	sel := fmt.Sprintf(`model=%q`, m.Name)
	if stage != "" {
		sel += fmt.Sprintf(`, stage=%q`, stage)
	}
	labels := map[string]any{"severity": "warning", "model": m.Name}
	if stage != "" {
		labels["stage"] = stage
	}
	if mon := m.Monitoring; mon != nil && mon.SLO != nil {
		if d, err := time.ParseDuration(mon.SLO.LatencyP99); err == nil && mon.SLO.LatencyP99 != "" {
			rules = append(rules, map[string]any{
				"alert": "MLModelLatencySLO",
				"expr": fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (rate(%s_bucket{%s}[5m]))) > %g`,
					RequestDurationMetric, sel, d.Seconds()),
				"for":    "10m",
				"labels": copyAny(labels),
				"annotations": map[string]any{
					"summary": fmt.Sprintf("%s p99 latency is above its %s objective", m.Name, mon.SLO.LatencyP99),
				},
			})
		}
		if mon.SLO.ErrorRate != nil {
			rules = append(rules, map[string]any{
				"alert": "MLModelErrorRateSLO",
				"expr": fmt.Sprintf(`sum(rate(%s{%s, code=~"5.."}[5m])) / sum(rate(%s{%s}[5m])) > %g`,
					RequestsMetric, sel, RequestsMetric, sel, *mon.SLO.ErrorRate),
				"for":    "10m",
				"labels": copyAny(labels),
				"annotations": map[string]any{
					"summary": fmt.Sprintf("%s error rate is above its %g objective", m.Name, *mon.SLO.ErrorRate),
				},
			})
		}
	}
	if m.Monitoring != nil && m.Monitoring.Drift != nil {
		rules = append(rules, map[string]any{
			"alert":  "MLModelDrift",
			"expr":   fmt.Sprintf(`max(%s{model=%q}) == 1`, ModelDriftedMetric, m.Name),
			"labels": copyAny(labels),
			"annotations": map[string]any{
				"summary": fmt.Sprintf("%s's live features drifted from its training data; see the drift reports on the status branch", m.Name),
			},
		})
	}
	objs := []*unstructured.Unstructured{sm}
	if len(rules) > 0 {
		name := "mlsync." + m.Name
		if stage != "" {
			name += "." + stage
		}
		objs = append(objs, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "monitoring.coreos.com/v1",
			"kind":       "PrometheusRule",
			"metadata":   metadata(m, t, opts),
			"spec":       map[string]any{"groups": []any{map[string]any{"name": name, "rules": rules}}},
		}})
	}
	return objs
}

func copyAny(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
