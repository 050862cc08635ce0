package reconciler

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mlsync/mlsync/reconciler/drift"
)

// Metrics are the reconciler's Prometheus metrics. Register them with
// NewMetrics; a nil *Metrics records nothing.
type Metrics struct {
	passes        *prometheus.CounterVec
	passDuration  *prometheus.HistogramVec
	applied       *prometheus.GaugeVec
	objects       *prometheus.CounterVec
	drifted       prometheus.Gauge
	specErrors    prometheus.Gauge
	gitDuration   *prometheus.HistogramVec
	gitFailures   *prometheus.CounterVec
	verifyFailed  prometheus.Counter
	statusPending prometheus.Gauge
	ready         prometheus.Gauge
	runs          *prometheus.CounterVec
	stepSeconds   *prometheus.HistogramVec
	cacheHits     *prometheus.CounterVec
	driftStat     *prometheus.GaugeVec
	modelDrifted  *prometheus.GaugeVec
	driftFailures *prometheus.CounterVec
	canaryChecks  *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mlsync_reconcile_total", Help: "Reconcile passes by result (applied, unchanged, rejected, failed, skipped).",
		}, []string{"result"}),
		passDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mlsync_reconcile_duration_seconds", Help: "Duration of reconcile passes that did work.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"result"}),
		applied: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mlsync_applied_revision_info", Help: "The Git revision whose objects are applied (value 1).",
		}, []string{"revision"}),
		objects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mlsync_objects_total", Help: "Objects handled by apply and prune, by action.",
		}, []string{"action"}),
		drifted: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mlsync_drifted_objects", Help: "Objects the last apply or drift check found changed outside Git.",
		}),
		specErrors: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mlsync_spec_errors", Help: "Spec errors in the newest revision (0 when it is valid).",
		}),
		gitDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mlsync_git_duration_seconds", Help: "Duration of Git operations: resolve, fetch, push.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"op"}),
		gitFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mlsync_git_failures_total", Help: "Failed Git operations: resolve, fetch, push.",
		}, []string{"op"}),
		verifyFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mlsync_verification_failures_total", Help: "Revisions refused because their commit signature is missing or untrusted.",
		}),
		statusPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mlsync_status_push_pending", Help: "1 while a status report could not be pushed and waits for the next pass.",
		}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mlsync_ready", Help: "1 when the cluster matches the newest revision and is healthy, 0 otherwise.",
		}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mlsync_training_runs_total", Help: "Training runs that ended, by model and phase (Succeeded, Failed, Superseded).",
		}, []string{"model", "phase"}),
		stepSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mlsync_training_step_duration_seconds", Help: "Duration of finished training steps.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 16),
		}, []string{"model", "step"}),
		cacheHits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mlsync_training_cache_hits_total", Help: "Steps reused from an earlier run instead of run again.",
		}, []string{"model"}),
		driftStat: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mlsync_model_drift_statistic", Help: "The last drift check's statistic per model and feature (PSI, KS or JS).",
		}, []string{"model", "feature", "method"}),
		modelDrifted: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mlsync_model_drifted", Help: "1 when the model's last drift check found it drifted.",
		}, []string{"model"}),
		driftFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mlsync_drift_check_failures_total", Help: "Drift checks that could not run (Prometheus unreachable, bad answers).",
		}, []string{"model"}),
		canaryChecks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mlsync_canary_analyses_total", Help: "Canary analyses by model, stage and result (passed, failed, inconclusive, error).",
		}, []string{"model", "stage", "result"}),
	}
	reg.MustRegister(m.passes, m.passDuration, m.applied, m.objects, m.drifted, m.specErrors,
		m.gitDuration, m.gitFailures, m.verifyFailed, m.statusPending, m.ready, m.runs, m.stepSeconds, m.cacheHits,
		m.driftStat, m.modelDrifted, m.driftFailures, m.canaryChecks)
	return m
}

func (m *Metrics) modelDrift(res *drift.Result) {
	if m == nil {
		return
	}
	for _, f := range res.Features {
		if f.Note == "" {
			m.driftStat.WithLabelValues(res.Model, f.Feature, f.Method).Set(f.Statistic)
		}
	}
	m.modelDrifted.WithLabelValues(res.Model).Set(b2f(res.Drifted))
}

func (m *Metrics) driftFailed(model string) {
	if m != nil {
		m.driftFailures.WithLabelValues(model).Inc()
	}
}

func (m *Metrics) canaryCheck(model, stage, result string) {
	if m != nil {
		m.canaryChecks.WithLabelValues(model, stage, result).Inc()
	}
}

func (m *Metrics) run(model, phase string) {
	if m != nil {
		m.runs.WithLabelValues(model, phase).Inc()
	}
}

func (m *Metrics) stepDuration(model, step string, d time.Duration) {
	if m != nil {
		m.stepSeconds.WithLabelValues(model, step).Observe(d.Seconds())
	}
}

func (m *Metrics) cacheHit(model string) {
	if m != nil {
		m.cacheHits.WithLabelValues(model).Inc()
	}
}

func (m *Metrics) pass(result string, took time.Duration) {
	if m == nil {
		return
	}
	m.passes.WithLabelValues(result).Inc()
	if result != "skipped" {
		m.passDuration.WithLabelValues(result).Observe(took.Seconds())
	}
}

func (m *Metrics) git(op string, took time.Duration, err error) {
	if m == nil {
		return
	}
	m.gitDuration.WithLabelValues(op).Observe(took.Seconds())
	if err != nil {
		m.gitFailures.WithLabelValues(op).Inc()
	}
}

func (m *Metrics) appliedRevision(rev string) {
	if m == nil {
		return
	}
	m.applied.Reset()
	m.applied.WithLabelValues(rev).Set(1)
}

func (m *Metrics) changes(counts map[string]int, drifted int) {
	if m == nil {
		return
	}
	for action, n := range counts {
		m.objects.WithLabelValues(action).Add(float64(n))
	}
	m.drifted.Set(float64(drifted))
}

func (m *Metrics) state(specErrors int, pending, ready bool) {
	if m == nil {
		return
	}
	m.specErrors.Set(float64(specErrors))
	m.statusPending.Set(b2f(pending))
	m.ready.Set(b2f(ready))
}

func (m *Metrics) verificationFailed() {
	if m != nil {
		m.verifyFailed.Inc()
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
