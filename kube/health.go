package kube

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Status is an object's health in one vocabulary for every kind, after
// kstatus.
type Status string

// The health statuses.
const (
	StatusInProgress  Status = "InProgress"
	StatusCurrent     Status = "Current"
	StatusFailed      Status = "Failed"
	StatusTerminating Status = "Terminating"
	StatusNotFound    Status = "NotFound"
)

// Health is the computed health of one object.
type Health struct {
	Object  ObjectRef `json:"object"`
	Status  Status    `json:"status"`
	Message string    `json:"message,omitempty"`
}

// String formats the health as "Kind/ns/name Status: message".
func (h Health) String() string {
	if h.Message == "" {
		return fmt.Sprintf("%s %s", h.Object, h.Status)
	}
	return fmt.Sprintf("%s %s: %s", h.Object, h.Status, h.Message)
}

// Compute returns the health of a live object: Deployments, StatefulSets
// and DaemonSets by their rollout, Jobs by their conditions, Services of
// type LoadBalancer by their ingress, PersistentVolumeClaims by their
// phase, and any other object by its Ready condition (KServe
// InferenceServices, Kubeflow PyTorchJobs, ...) when it has one.
// Objects without any of these are Current once they exist.
func Compute(obj *unstructured.Unstructured) Health {
	h := Health{Object: RefOf(obj), Status: StatusCurrent}
	if obj.GetDeletionTimestamp() != nil {
		h.Status, h.Message = StatusTerminating, "being deleted"
		return h
	}
	if gen, found, _ := unstructured.NestedInt64(obj.Object, "status", "observedGeneration"); found && gen < obj.GetGeneration() {
		h.Status, h.Message = StatusInProgress, "waiting for the controller to observe the latest generation"
		return h
	}
	switch obj.GroupVersionKind().GroupKind().String() {
	case "Deployment.apps":
		return deploymentHealth(obj, h)
	case "StatefulSet.apps":
		return statefulSetHealth(obj, h)
	case "DaemonSet.apps":
		return daemonSetHealth(obj, h)
	case "Job.batch":
		return jobHealth(obj, h)
	case "Service":
		return serviceHealth(obj, h)
	case "PersistentVolumeClaim":
		return pvcHealth(obj, h)
	case "PyTorchJob.kubeflow.org", "TrainJob.trainer.kubeflow.org":
		return trainingJobHealth(obj, h)
	}
	return readyHealth(obj, h)
}

func readyHealth(obj *unstructured.Unstructured, h Health) Health {
	c, ok := condition(obj, "Ready")
	if !ok {
		return h
	}
	switch c.status {
	case "True":
		h.Status = StatusCurrent
	case "False":
		h.Status = StatusFailed
		if c.reason == "Progressing" || strings.Contains(strings.ToLower(c.reason), "progress") {
			h.Status = StatusInProgress
		}
	default:
		h.Status = StatusInProgress
	}
	h.Message = joinNonEmpty(c.reason, c.message)
	return h
}

func deploymentHealth(obj *unstructured.Unstructured, h Health) Health {
	if c, ok := condition(obj, "Progressing"); ok && c.status == "False" && c.reason == "ProgressDeadlineExceeded" {
		h.Status, h.Message = StatusFailed, c.message
		return h
	}
	want := replicas(obj)
	updated, _, _ := unstructured.NestedInt64(obj.Object, "status", "updatedReplicas")
	available, _, _ := unstructured.NestedInt64(obj.Object, "status", "availableReplicas")
	total, _, _ := unstructured.NestedInt64(obj.Object, "status", "replicas")
	switch {
	case updated < want:
		h.Status, h.Message = StatusInProgress, fmt.Sprintf("%d of %d replicas updated", updated, want)
	case total > updated:
		h.Status, h.Message = StatusInProgress, fmt.Sprintf("%d old replicas pending termination", total-updated)
	case available < want:
		h.Status, h.Message = StatusInProgress, fmt.Sprintf("%d of %d replicas available", available, want)
	default:
		h.Status, h.Message = StatusCurrent, fmt.Sprintf("%d of %d replicas available", available, want)
	}
	return h
}

func statefulSetHealth(obj *unstructured.Unstructured, h Health) Health {
	want := replicas(obj)
	ready, _, _ := unstructured.NestedInt64(obj.Object, "status", "readyReplicas")
	updated, _, _ := unstructured.NestedInt64(obj.Object, "status", "updatedReplicas")
	cur, _, _ := unstructured.NestedString(obj.Object, "status", "currentRevision")
	upd, _, _ := unstructured.NestedString(obj.Object, "status", "updateRevision")
	switch {
	case ready < want:
		h.Status, h.Message = StatusInProgress, fmt.Sprintf("%d of %d replicas ready", ready, want)
	case upd != "" && cur != upd && updated < want:
		h.Status, h.Message = StatusInProgress, fmt.Sprintf("%d of %d replicas updated", updated, want)
	default:
		h.Message = fmt.Sprintf("%d of %d replicas ready", ready, want)
	}
	return h
}

func daemonSetHealth(obj *unstructured.Unstructured, h Health) Health {
	want, _, _ := unstructured.NestedInt64(obj.Object, "status", "desiredNumberScheduled")
	avail, _, _ := unstructured.NestedInt64(obj.Object, "status", "numberAvailable")
	updated, _, _ := unstructured.NestedInt64(obj.Object, "status", "updatedNumberScheduled")
	if updated < want || avail < want {
		h.Status = StatusInProgress
	}
	h.Message = fmt.Sprintf("%d of %d pods available", avail, want)
	return h
}

func jobHealth(obj *unstructured.Unstructured, h Health) Health {
	if c, ok := condition(obj, "Failed"); ok && c.status == "True" {
		h.Status, h.Message = StatusFailed, joinNonEmpty(c.reason, c.message)
		return h
	}
	if c, ok := condition(obj, "Complete"); ok && c.status == "True" {
		h.Status, h.Message = StatusCurrent, "complete"
		return h
	}
	active, _, _ := unstructured.NestedInt64(obj.Object, "status", "active")
	h.Status, h.Message = StatusInProgress, fmt.Sprintf("running (%d active pods)", active)
	return h
}

func trainingJobHealth(obj *unstructured.Unstructured, h Health) Health {
	for _, typ := range []string{"Failed", "Succeeded", "Complete"} {
		if c, ok := condition(obj, typ); ok && c.status == "True" {
			if typ == "Failed" {
				h.Status, h.Message = StatusFailed, joinNonEmpty(c.reason, c.message)
			} else {
				h.Status, h.Message = StatusCurrent, "succeeded"
			}
			return h
		}
	}
	h.Status, h.Message = StatusInProgress, "running"
	return h
}

func serviceHealth(obj *unstructured.Unstructured, h Health) Health {
	typ, _, _ := unstructured.NestedString(obj.Object, "spec", "type")
	if typ != "LoadBalancer" {
		return h
	}
	ingress, _, _ := unstructured.NestedSlice(obj.Object, "status", "loadBalancer", "ingress")
	if len(ingress) == 0 {
		h.Status, h.Message = StatusInProgress, "waiting for a load-balancer address"
	}
	return h
}

func pvcHealth(obj *unstructured.Unstructured, h Health) Health {
	phase, _, _ := unstructured.NestedString(obj.Object, "status", "phase")
	switch phase {
	case "Bound":
		h.Message = "bound"
	case "Lost":
		h.Status, h.Message = StatusFailed, "volume lost"
	default:
		h.Status, h.Message = StatusInProgress, "waiting for a volume ("+strings.ToLower(orString(phase, "pending"))+")"
	}
	return h
}

// replicas is spec.replicas, 1 when unset (as the API defaults it).
func replicas(obj *unstructured.Unstructured) int64 {
	want, found, _ := unstructured.NestedInt64(obj.Object, "spec", "replicas")
	if !found {
		return 1
	}
	return want
}

type cond struct{ status, reason, message string }

func condition(obj *unstructured.Unstructured, typ string) (cond, bool) {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok || m["type"] != typ {
			continue
		}
		s, _ := m["status"].(string)
		r, _ := m["reason"].(string)
		msg, _ := m["message"].(string)
		return cond{status: s, reason: r, message: msg}, true
	}
	return cond{}, false
}

func joinNonEmpty(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + ": " + b
}

func orString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Health returns the health of each object refs names.
func (m *ResourceManager) Health(ctx context.Context, refs []ObjectRef) ([]Health, error) {
	out := make([]Health, 0, len(refs))
	for _, ref := range refs {
		obj, err := m.Get(ctx, ref)
		if err != nil {
			out = append(out, Health{Object: ref, Status: StatusFailed, Message: err.Error()})
			continue
		}
		if obj == nil {
			out = append(out, Health{Object: ref, Status: StatusNotFound})
			continue
		}
		out = append(out, Compute(obj))
	}
	return out, ctx.Err()
}

// TimeoutError says which objects were not healthy when a wait ended.
type TimeoutError struct {
	After     time.Duration
	Unhealthy []Health
}

func (e *TimeoutError) Error() string {
	parts := make([]string, 0, min(len(e.Unhealthy), 5))
	for i, h := range e.Unhealthy {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("and %d more", len(e.Unhealthy)-5))
			break
		}
		parts = append(parts, h.String())
	}
	return fmt.Sprintf("not healthy after %s: %s", e.After, strings.Join(parts, "; "))
}

// Wait polls the objects' health until all are Current, one has Failed,
// or timeout passes. It returns the last health of every object, and a
// *TimeoutError naming the unhealthy ones when the time ran out.
func (m *ResourceManager) Wait(ctx context.Context, refs []ObjectRef, timeout, interval time.Duration) ([]Health, error) {
	deadline := time.Now().Add(timeout)
	for {
		hs, err := m.Health(ctx, refs)
		if err != nil {
			return hs, err
		}
		var bad []Health
		failed := false
		for _, h := range hs {
			if h.Status != StatusCurrent {
				bad = append(bad, h)
				failed = failed || h.Status == StatusFailed
			}
		}
		if len(bad) == 0 || failed {
			return hs, nil
		}
		if time.Now().After(deadline) {
			return hs, &TimeoutError{After: timeout, Unhealthy: bad}
		}
		select {
		case <-ctx.Done():
			return hs, ctx.Err()
		case <-time.After(interval):
		}
	}
}
