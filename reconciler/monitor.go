package reconciler

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/mlsync/mlsync/kube"
	"github.com/mlsync/mlsync/reconciler/drift"
	"github.com/mlsync/mlsync/reconciler/report"
	"github.com/mlsync/mlsync/reconciler/training"
	"github.com/mlsync/mlsync/spec"
)

// LiveDistributions reads a served model's live feature histograms; a
// *drift.Prometheus does.
type LiveDistributions interface {
	Live(ctx context.Context, model, version string, window time.Duration, now time.Time) (map[string]drift.Histogram, error)
}

var _ LiveDistributions = (*drift.Prometheus)(nil)

// modelDrift is what the last drift check of a model found.
type modelDrift struct {
	last   time.Time
	result *drift.Result
	err    string
	report string
}

// checkModelDrift runs the drift checks that are due: live distributions
// from Prometheus against the served version's training baseline. A new
// verdict writes a report; a model that starts drifting with
// retrainOnDrift gets a training run. Prometheus being down is recorded
// and retried at the next pass.
func (r *Reconciler) checkModelDrift(ctx context.Context, now time.Time) error {
	r.st.nextDriftCheck = time.Time{}
	if r.opts.Prometheus == nil || r.st.set == nil {
		return nil
	}
	var errs []error
	for i := range r.st.set.Models {
		m := &r.st.set.Models[i]
		if m.Monitoring == nil || m.Monitoring.Drift == nil {
			continue
		}
		d := m.Monitoring.Drift
		st := r.st.modelDrift[m.Name]
		if st == nil {
			st = &modelDrift{}
			r.st.modelDrift[m.Name] = st
		}
		sched, err := spec.ParseSchedule(d.Schedule)
		if err != nil {
			continue
		}
		if !st.last.IsZero() {
			if next := sched.Next(st.last); next.After(now) {
				r.noteDriftCheck(next)
				continue
			}
		}
		if err := r.checkOne(ctx, m, st, now); err != nil {
			st.err = err.Error()
			r.metrics.driftFailed(m.Name)
			errs = append(errs, fmt.Errorf("drift check of %s: %w", m.Name, err))
			continue // retried at the next pass
		}
		st.err = ""
		st.last = now
		r.noteDriftCheck(sched.Next(now))
	}
	return errors.Join(errs...)
}

func (r *Reconciler) noteDriftCheck(t time.Time) {
	if !t.IsZero() && (r.st.nextDriftCheck.IsZero() || t.Before(r.st.nextDriftCheck)) {
		r.st.nextDriftCheck = t
	}
}

func (r *Reconciler) checkOne(ctx context.Context, m *spec.Model, st *modelDrift, now time.Time) error {
	d := m.Monitoring.Drift
	version := servedVersion(m)
	reg := r.st.registries[m.Name]
	if reg == nil || reg.Get(version) == nil {
		st.err = fmt.Sprintf("no training baseline: the served version %s is not in the registry", version)
		return nil
	}
	window, err := time.ParseDuration(d.Window)
	if err != nil {
		return err
	}
	// Prometheus is asked for the real present: the clock only paces the
	// checks.
	live, err := r.opts.Prometheus.Live(ctx, m.Name, version, window, time.Now())
	if err != nil {
		return err
	}
	res := drift.Analyze(d, drift.BaselineFromMetrics(reg.Get(version).Metrics), live)
	res.Model, res.Version, res.Time = m.Name, version, now.UTC()
	r.metrics.modelDrift(&res)
	prev := st.result
	st.result = &res
	if prev != nil && prev.Verdicts() == res.Verdicts() {
		return nil // nothing new to report
	}
	files, err := res.Files()
	if err != nil {
		return err
	}
	for p, data := range files {
		r.st.extra[p] = data
	}
	st.report = res.ReportBase() + ".md"
	if res.Drifted && (prev == nil || !prev.Drifted) && d.RetrainOnDrift && m.Training != nil {
		r.st.retrain[m.Name] = training.TriggerDrift
	}
	return nil
}

// servedVersion is the version whose traffic drift checks look at: the
// last stage's pin (production, usually), or "latest" without stages.
func servedVersion(m *spec.Model) string {
	for i := len(m.Stages) - 1; i >= 0; i-- {
		if v := m.Stages[i].Version; v != "" {
			return v
		}
	}
	return "latest"
}

// driftSummaries reports each model's last drift check for the status.
func (r *Reconciler) driftSummaries() []report.ModelDrift {
	var out []report.ModelDrift
	for model, st := range r.st.modelDrift {
		md := report.ModelDrift{Model: model, Error: st.err, Report: st.report}
		if st.result != nil {
			md.Version, md.Drifted, md.Summary = st.result.Version, st.result.Drifted, st.result.Summary()
		}
		out = append(out, md)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Model < out[j].Model })
	return out
}

// servesPrometheusOperator reports whether the cluster has the
// Prometheus Operator's ServiceMonitor and PrometheusRule kinds.
func (r *Reconciler) servesPrometheusOperator(ctx context.Context) bool {
	for _, kind := range []string{"ServiceMonitor", "PrometheusRule"} {
		_, err := r.cluster.Get(ctx, kube.ObjectRef{Group: "monitoring.coreos.com", Version: "v1", Kind: kind,
			Namespace: "default", Name: "mlsync-probe"})
		var uk *kube.UnknownKindError
		if errors.As(err, &uk) {
			return false
		}
	}
	return true
}
