package reconciler

import (
	"context"
	"time"

	"github.com/mlsync/mlsync/kube"
	"github.com/mlsync/mlsync/reconciler/render"
	"github.com/mlsync/mlsync/spec"
)

// rollout is a stage's pin change to a canary stage, in progress.
type rollout struct {
	from, to string
	since    time.Time
	window   time.Duration
}

// rollouts finds the canary stages whose pin differs from what serves
// now (or whose canary window is still open) and returns them for the
// renderer. It also notes when the earliest window closes, for the pass
// that completes the rollout.
func (r *Reconciler) rollouts(ctx context.Context, set *spec.Set, now time.Time) map[string]render.Rollout {
	out := map[string]render.Rollout{}
	r.st.rolloutDue = time.Time{}
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
					continue
				}
			}
			ro.window = window
			if !now.Before(ro.since.Add(window)) {
				delete(r.st.rollouts, key) // complete: the stage serves the pin alone
				continue
			}
			r.st.rollouts[key] = ro
			out[key] = render.Rollout{From: ro.from, Since: ro.since, Now: now}
			if end := ro.since.Add(window); r.st.rolloutDue.IsZero() || end.Before(r.st.rolloutDue) {
				r.st.rolloutDue = end
			}
		}
	}
	for key := range r.st.rollouts {
		if !seen[key] {
			delete(r.st.rollouts, key)
		}
	}
	return out
}

// liveRollout starts (or, after a restart, recovers) the rollout of a
// stage from the live objects: the version the stage's main object
// serves, and a canary's start time.
func (r *Reconciler) liveRollout(ctx context.Context, m *spec.Model, s spec.Stage, now time.Time) (rollout, bool) {
	main := kube.ObjectRef{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: s.Namespace, Name: m.Name}
	if m.Serving.Runtime == spec.RuntimeKServe {
		main = kube.ObjectRef{Group: "serving.kserve.io", Version: "v1beta1", Kind: "InferenceService", Namespace: s.Namespace, Name: m.Name}
	}
	live, err := r.cluster.Get(ctx, main)
	if err != nil || live == nil {
		return rollout{}, false // nothing served yet: no canary for a first version
	}
	from := live.GetLabels()[render.VersionLabel]
	since := now
	canary := live
	if m.Serving.Runtime != spec.RuntimeKServe {
		c := main
		c.Name = m.Name + render.CanarySuffix
		canary, _ = r.cluster.Get(ctx, c)
	}
	if canary != nil {
		if t, err := time.Parse(time.RFC3339, canary.GetAnnotations()["mlsync.io/canary-since"]); err == nil {
			since = t
			if canary.GetLabels()[render.VersionLabel] == s.Version && from == s.Version {
				from = "(previous)" // KServe: the InferenceService already names the candidate
			}
		}
	}
	if from == "" || from == s.Version {
		return rollout{}, false
	}
	return rollout{from: from, to: s.Version, since: since}, true
}
