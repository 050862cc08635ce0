package reconciler

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlsync/mlsync/kube"
	"github.com/mlsync/mlsync/reconciler/drift"
	"github.com/mlsync/mlsync/reconciler/render"
	"github.com/mlsync/mlsync/reconciler/report"
	"github.com/mlsync/mlsync/spec"
)

// CanaryMetrics reads what a version served in a stage over a window; a
// *drift.Prometheus does.
type CanaryMetrics interface {
	Canary(ctx context.Context, model, stage, version string, window time.Duration, now time.Time) (drift.CanarySample, error)
}

var _ CanaryMetrics = (*drift.Prometheus)(nil)

// rollout is a stage's pin change to a canary stage, in progress.
type rollout struct {
	from, to string
	since    time.Time
	window   time.Duration
	// failed is why an analysis failed the candidate; the stage serves
	// from until the pin moves.
	failed string
	// judged: an analysis had enough traffic to judge the candidate.
	judged bool
}

// rollouts finds the canary stages whose pin differs from what serves
// now (or whose canary window is still open) and returns them for the
// renderer. It also notes when the earliest window closes, for the pass
// that completes the rollout.
func (r *Reconciler) rollouts(ctx context.Context, set *spec.Set, now time.Time) map[string]render.Rollout {
	out := map[string]render.Rollout{}
	r.st.rolloutDue = time.Time{}
	r.st.endedCanaries = nil
	seen := map[string]bool{}
	for i := range set.Models {
		m := &set.Models[i]
		for _, s := range m.Stages {
			if s.Canary == nil || s.Version == "" {
				continue
			}
			key := render.RolloutKey(m.Name, s.Name)
			seen[key] = true
			window, err := time.ParseDuration(s.Canary.Analysis)
			if err != nil {
				continue
			}
			ro, ok := r.st.rollouts[key]
			if !ok || ro.to != s.Version {
				ro, ok = r.liveRollout(ctx, m, s, now)
				if !ok {
					delete(r.st.rollouts, key)
					if c, had := r.st.canaries[key]; had && c.Version != s.Version {
						delete(r.st.canaries, key) // the pin moved away (a revert)
					}
					continue
				}
			}
			ro.window = window
			if ro.failed == "" {
				r.analyse(ctx, m, s, &ro, now)
				if ro.failed != "" {
					r.removeCanaryAfterApply(m, s)
				}
			}
			if ro.failed == "" && !now.Before(ro.since.Add(window)) {
				// Complete: the last analysis found nothing wrong; the
				// stage serves the pin alone.
				delete(r.st.rollouts, key)
				r.canaryEnded(m, s, ro, report.CanaryCompleted)
				r.removeCanaryAfterApply(m, s)
				continue
			}
			r.st.rollouts[key] = ro
			out[key] = render.Rollout{From: ro.from, Since: ro.since, Now: now, Failed: ro.failed}
			if ro.failed != "" {
				if c := r.st.canaries[key]; c.Version != ro.to || c.State != report.CanaryFailed {
					r.st.canaries[key] = report.Canary{Model: m.Name, Stage: s.Name, From: ro.from, Version: ro.to,
						Since: ro.since.UTC().Format(time.RFC3339), State: report.CanaryFailed, Verdict: ro.failed}
				}
				continue // held until the pin moves
			}
			end := ro.since.Add(window)
			if r.opts.Canaries != nil && m.Monitoring != nil && m.Monitoring.SLO != nil {
				if next := now.Add(r.opts.CanaryInterval); next.Before(end) {
					end = next // the next analysis
				}
			}
			if r.st.rolloutDue.IsZero() || end.Before(r.st.rolloutDue) {
				r.st.rolloutDue = end
			}
		}
	}
	for key := range r.st.rollouts {
		if !seen[key] {
			delete(r.st.rollouts, key)
		}
	}
	for key := range r.st.canaries {
		if !seen[key] {
			delete(r.st.canaries, key)
		}
	}
	return out
}

// analyse judges a canary in its window against the model's SLOs from
// what the candidate served since the rollout began. A failure holds
// the stage at the previous version; too little traffic, or Prometheus
// unreachable, leaves the canary running (and is reported).
func (r *Reconciler) analyse(ctx context.Context, m *spec.Model, s spec.Stage, ro *rollout, now time.Time) {
	key := render.RolloutKey(m.Name, s.Name)
	c := report.Canary{Model: m.Name, Stage: s.Name, From: ro.from, Version: ro.to,
		Since: ro.since.UTC().Format(time.RFC3339), State: report.CanaryAnalysing}
	if prev, ok := r.st.canaries[key]; ok && prev.Version == ro.to && prev.State == report.CanaryAnalysing {
		c.Verdict = prev.Verdict
	}
	defer func() { r.st.canaries[key] = c }()
	slo := (*spec.SLO)(nil)
	if m.Monitoring != nil {
		slo = m.Monitoring.SLO
	}
	switch {
	case slo == nil:
		c.Verdict = "not judged: the model has no SLOs"
		return
	case r.opts.Canaries == nil:
		c.Verdict = "not judged: no Prometheus configured"
		return
	}
	elapsed := now.Sub(ro.since)
	if elapsed <= 0 {
		return // it starts now: nothing served yet
	}
	// The model server's counters are read over the rollout so far (at
	// least a minute, so a few scrapes), at the real present: the clock
	// only paces the analyses.
	window := min(max(elapsed, time.Minute), ro.window)
	sample, err := r.opts.Canaries.Canary(ctx, m.Name, s.Name, ro.to, window, time.Now())
	if err != nil {
		c.Error = err.Error()
		r.metrics.canaryCheck(m.Name, s.Name, "error")
		r.log.Warn("canary analysis failed", "model", m.Name, "stage", s.Name, "version", ro.to, "error", err)
		return
	}
	failure, judged := drift.JudgeCanary(sample, slo)
	switch {
	case failure != "":
		ro.failed, c.State, c.Verdict = failure, report.CanaryFailed, failure
		r.metrics.canaryCheck(m.Name, s.Name, "failed")
		r.log.Warn("canary failed its analysis", "model", m.Name, "stage", s.Name, "version", ro.to, "reason", failure, "serving", ro.from)
		r.canaryEvent(ctx, m, s, kube.EventWarning, "CanaryFailed",
			fmt.Sprintf("%s failed its analysis (%s); %s serves again until the pin moves", ro.to, failure, ro.from))
	case judged:
		ro.judged = true
		c.Verdict = "within the objectives so far"
		r.metrics.canaryCheck(m.Name, s.Name, "passed")
	case !ro.judged && !sample.Found:
		c.Verdict = fmt.Sprintf("not judged yet: no request metrics for %s (%s with a version label)", ro.to, render.RequestsMetric)
		r.metrics.canaryCheck(m.Name, s.Name, "inconclusive")
	case !ro.judged:
		// Stable text, so a trickle of traffic does not rewrite the
		// status at every analysis.
		c.Verdict = fmt.Sprintf("not judged yet: fewer than %d requests", drift.MinCanaryRequests)
		r.metrics.canaryCheck(m.Name, s.Name, "inconclusive")
	}
}

// canaryEnded records a canary's end in the status.
func (r *Reconciler) canaryEnded(m *spec.Model, s spec.Stage, ro rollout, state string) {
	key := render.RolloutKey(m.Name, s.Name)
	c := report.Canary{Model: m.Name, Stage: s.Name, From: ro.from, Version: ro.to,
		Since: ro.since.UTC().Format(time.RFC3339), State: state}
	switch prev, ok := r.st.canaries[key]; {
	case ok && prev.Version == ro.to && ro.judged:
		c.Verdict = "within the objectives for the whole window"
	case ok && prev.Version == ro.to && strings.HasPrefix(prev.Verdict, "not judged yet: "):
		c.Verdict = "not judged: " + strings.TrimPrefix(prev.Verdict, "not judged yet: ") + " in the window"
	case ok && prev.Version == ro.to && prev.Verdict != "":
		c.Verdict = prev.Verdict
	default:
		c.Verdict = "window ended unjudged"
	}
	r.st.canaries[key] = c
}

// removeCanaryAfterApply notes a deployment stage's canary for deletion
// once its rollout ended and the pass applied the stage without it. With
// pruning on, the inventory prune of the same pass deletes it; with
// pruning off, removeCanaries does, so a failed candidate stops serving.
func (r *Reconciler) removeCanaryAfterApply(m *spec.Model, s spec.Stage) {
	if r.opts.Prune || m.Serving.Runtime == spec.RuntimeKServe {
		return
	}
	ref := mainServingRef(m, s)
	ref.Name += render.CanarySuffix
	r.st.endedCanaries = append(r.st.endedCanaries, ref)
}

// removeCanaries deletes the canaries of ended rollouts (after a
// successful apply).
func (r *Reconciler) removeCanaries(ctx context.Context) {
	if len(r.st.endedCanaries) == 0 {
		return
	}
	cs, err := r.cluster.Prune(ctx, r.st.endedCanaries)
	for _, c := range cs {
		if c.Action == kube.ActionFailed {
			r.log.Warn("removing an ended canary", "object", c.Object.String(), "reason", c.Reason)
		}
	}
	if err != nil {
		r.log.Warn("removing ended canaries", "error", err)
	}
	r.st.endedCanaries = nil
}

// canaryEvent records an Event on a stage's main serving object.
func (r *Reconciler) canaryEvent(ctx context.Context, m *spec.Model, s spec.Stage, typ, reason, msg string) {
	if err := r.cluster.Event(ctx, mainServingRef(m, s), typ, reason, msg); err != nil {
		r.log.Debug("recording event", "model", m.Name, "stage", s.Name, "error", err)
	}
}

// mainServingRef is the object that serves a stage: its Deployment, or
// its InferenceService.
func mainServingRef(m *spec.Model, s spec.Stage) kube.ObjectRef {
	if m.Serving.Runtime == spec.RuntimeKServe {
		return kube.ObjectRef{Group: "serving.kserve.io", Version: "v1beta1", Kind: "InferenceService", Namespace: s.Namespace, Name: m.Name}
	}
	return kube.ObjectRef{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: s.Namespace, Name: m.Name}
}

// canaryList is the status's canaries, sorted.
func (r *Reconciler) canaryList() []report.Canary {
	out := make([]report.Canary, 0, len(r.st.canaries))
	for _, c := range r.st.canaries {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Model+"/"+out[i].Stage < out[j].Model+"/"+out[j].Stage })
	return out
}

// liveRollout starts (or, after a restart, recovers) the rollout of a
// stage from the live objects: the version the stage's main object
// serves, and a canary's start time.
func (r *Reconciler) liveRollout(ctx context.Context, m *spec.Model, s spec.Stage, now time.Time) (rollout, bool) {
	return liveRollout(ctx, r.cluster, m, s, now)
}

// ObjectReader reads one live object (nil when it does not exist).
type ObjectReader interface {
	Get(ctx context.Context, ref kube.ObjectRef) (*unstructured.Unstructured, error)
}

// LiveRollouts are the canary rollouts the live objects show, for
// rendering what the daemon would apply without being the daemon (mlsync
// diff): a canary still in its window, or a failed canary's hold. It
// judges nothing.
func LiveRollouts(ctx context.Context, c ObjectReader, set *spec.Set, now time.Time) map[string]render.Rollout {
	out := map[string]render.Rollout{}
	for i := range set.Models {
		m := &set.Models[i]
		for _, s := range m.Stages {
			if s.Canary == nil || s.Version == "" {
				continue
			}
			window, err := time.ParseDuration(s.Canary.Analysis)
			if err != nil {
				continue
			}
			ro, ok := liveRollout(ctx, c, m, s, now)
			if !ok || (ro.failed == "" && !now.Before(ro.since.Add(window))) {
				continue
			}
			out[render.RolloutKey(m.Name, s.Name)] = render.Rollout{From: ro.from, Since: ro.since, Now: now, Failed: ro.failed}
		}
	}
	return out
}

func liveRollout(ctx context.Context, c ObjectReader, m *spec.Model, s spec.Stage, now time.Time) (rollout, bool) {
	main := mainServingRef(m, s)
	live, err := c.Get(ctx, main)
	if err != nil || live == nil {
		return rollout{}, false // nothing served yet: no canary for a first version
	}
	from := live.GetLabels()[render.VersionLabel]
	ann := live.GetAnnotations()
	kserve := m.Serving.Runtime == spec.RuntimeKServe
	if failed := ann[render.CanaryFailedAnnotation]; failed != "" {
		// A failed canary holds the stage at the version it served
		// before (KServe: the InferenceService still names the failed
		// candidate, the previous revision takes the traffic).
		if held := ann[render.CanaryFromAnnotation]; held != "" {
			from = held
		} else if kserve {
			from = "(previous)"
		}
		if failed == s.Version {
			// The same pin, after a restart: keep holding.
			ro := rollout{from: from, to: s.Version, since: now, failed: ann[render.CanaryFailedReasonAnnotation]}
			if t, err := time.Parse(time.RFC3339, ann[render.CanarySinceAnnotation]); err == nil {
				ro.since = t
			}
			if ro.failed == "" {
				ro.failed = "failed its analysis"
			}
			return ro, from != ""
		}
		// The pin moved on from the failed candidate: a revert to the
		// held version ends the hold, a newer version gets its own
		// canary, starting now.
		if from == "" || from == s.Version {
			return rollout{}, false
		}
		return rollout{from: from, to: s.Version, since: now}, true
	}
	since := now
	canary := live
	if !kserve {
		ref := main
		ref.Name = m.Name + render.CanarySuffix
		canary, _ = c.Get(ctx, ref)
		if canary != nil && canary.GetLabels()[render.VersionLabel] != s.Version {
			canary = nil // left from another candidate
		}
	}
	if canary != nil {
		if t, err := time.Parse(time.RFC3339, canary.GetAnnotations()[render.CanarySinceAnnotation]); err == nil {
			switch {
			case !kserve || from == s.Version:
				// This pin's canary, in its window (KServe: the
				// InferenceService already names the candidate).
				since = t
			default:
				// KServe: another candidate's canary, which this pin
				// replaces; the rest of the traffic stays on the
				// revision rolled out before both.
			}
			if kserve {
				from = "(previous)"
			}
		}
	}
	if from == "" || from == s.Version {
		return rollout{}, false
	}
	return rollout{from: from, to: s.Version, since: since}, true
}
