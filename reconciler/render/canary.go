package render

import (
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlsync/mlsync/spec"
)

// Rollout is a stage's pin change in progress: what the stage served
// before, since when the new pin is rolling out, and the time now.
type Rollout struct {
	From  string
	Since time.Time
	Now   time.Time
	// Failed is why the candidate failed its analysis: the stage serves
	// From again (for KServe, the previous revision takes all traffic)
	// until the pin moves.
	Failed string
}

// Annotations on a stage's main object while a failed canary holds it
// at the previous version; they let a restarted mlsync keep the hold.
const (
	CanaryFailedAnnotation       = "mlsync.io/canary-failed"
	CanaryFailedReasonAnnotation = "mlsync.io/canary-failed-reason"
	// CanaryFromAnnotation is the version the held stage serves (for
	// KServe, the revision that takes the traffic).
	CanaryFromAnnotation  = "mlsync.io/canary-from"
	CanarySinceAnnotation = "mlsync.io/canary-since"
)

// RolloutKey is a Rollouts key.
func RolloutKey(model, stage string) string { return model + "/" + stage }

// CanarySuffix names the canary Deployment of a model.
const CanarySuffix = "-canary"

// TrackLabel marks a canary's objects and pods.
const TrackLabel = "mlsync.io/track"

// canaryFor returns the rollout of target t when its stage has a canary
// and the rollout is still inside the analysis window.
func canaryFor(m *spec.Model, t target, opts Options) (Rollout, *spec.Canary, bool) {
	if t.stage == "" {
		return Rollout{}, nil, false
	}
	var canary *spec.Canary
	for _, s := range m.Stages {
		if s.Name == t.stage {
			canary = s.Canary
		}
	}
	ro, ok := opts.Rollouts[RolloutKey(m.Name, t.stage)]
	if canary == nil || !ok || ro.From == "" || ro.From == t.version || ro.Failed != "" {
		return Rollout{}, nil, false
	}
	window, err := time.ParseDuration(canary.Analysis)
	if err != nil || !ro.Now.Before(ro.Since.Add(window)) {
		return Rollout{}, nil, false
	}
	return ro, canary, true
}

// heldFor returns the rollout of target t when its canary failed: the
// stage goes back to what it served before.
func heldFor(m *spec.Model, t target, opts Options) (Rollout, bool) {
	if t.stage == "" {
		return Rollout{}, false
	}
	ro, ok := opts.Rollouts[RolloutKey(m.Name, t.stage)]
	if !ok || ro.Failed == "" || ro.From == "" || ro.From == t.version {
		return Rollout{}, false
	}
	return ro, true
}

// markHeld annotates a stage's main object with the failed candidate.
func markHeld(obj *unstructured.Unstructured, t target, ro Rollout) {
	ann := obj.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[CanaryFailedAnnotation] = t.version
	ann[CanaryFailedReasonAnnotation] = ro.Failed
	ann[CanaryFromAnnotation] = ro.From
	ann[CanarySinceAnnotation] = ro.Since.UTC().Format(time.RFC3339)
	obj.SetAnnotations(ann)
}

// canaryDeployments renders a deployment stage during a canary: the
// current version keeps the model's Deployment, the candidate runs beside
// it as <model>-canary, both behind the same Service, with replicas in
// proportion to the canary's share of traffic.
func canaryDeployments(m *spec.Model, t target, ro Rollout, c *spec.Canary, opts Options) []*unstructured.Unstructured {
	total := max(int64(m.Serving.Replicas.Min), 2)
	canaryReplicas := max(total*int64(c.Percent)/100, 1)
	current := t
	current.version = ro.From
	main := deployment(m, current, opts)
	if m.Serving.Replicas.Max <= m.Serving.Replicas.Min {
		// Without an autoscaler, make room for the canary's share.
		_ = unstructured.SetNestedField(main.Object, max(total-canaryReplicas, 1), "spec", "replicas")
	}
	cand := deployment(m, t, opts)
	cand.SetName(m.Name + CanarySuffix)
	_ = unstructured.SetNestedField(cand.Object, canaryReplicas, "spec", "replicas")
	ann := cand.GetAnnotations()
	ann[CanarySinceAnnotation] = ro.Since.UTC().Format(time.RFC3339)
	ann["mlsync.io/canary-percent"] = itoa(int64(c.Percent))
	cand.SetAnnotations(ann)
	// The Service selects both. The canary's pods carry a track label its
	// selector adds (the main Deployment's selector is immutable and stays
	// as it is; pod-template hashes keep the two ReplicaSets apart).
	_ = unstructured.SetNestedField(cand.Object, "canary", "spec", "template", "metadata", "labels", TrackLabel)
	_ = unstructured.SetNestedField(cand.Object, "canary", "spec", "selector", "matchLabels", TrackLabel)
	labels := cand.GetLabels()
	labels[TrackLabel] = "canary"
	cand.SetLabels(labels)
	return []*unstructured.Unstructured{main, cand}
}
