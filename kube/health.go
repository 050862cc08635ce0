package kube

import (
	"context"
	"fmt"

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

// Compute returns the health of a live object.
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
	case "Job.batch":
		return jobHealth(obj, h)
	}
	if c, ok := condition(obj, "Ready"); ok {
		switch c.status {
		case "True":
			h.Status = StatusCurrent
		case "False":
			h.Status = StatusFailed
		default:
			h.Status = StatusInProgress
		}
		h.Message = c.message
	}
	return h
}

func deploymentHealth(obj *unstructured.Unstructured, h Health) Health {
	if c, ok := condition(obj, "Progressing"); ok && c.status == "False" && c.reason == "ProgressDeadlineExceeded" {
		h.Status, h.Message = StatusFailed, c.message
		return h
	}
	want, found, _ := unstructured.NestedInt64(obj.Object, "spec", "replicas")
	if !found {
		want = 1
	}
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

func jobHealth(obj *unstructured.Unstructured, h Health) Health {
	if c, ok := condition(obj, "Failed"); ok && c.status == "True" {
		h.Status, h.Message = StatusFailed, c.message
		return h
	}
	if c, ok := condition(obj, "Complete"); ok && c.status == "True" {
		h.Status, h.Message = StatusCurrent, "complete"
		return h
	}
	h.Status, h.Message = StatusInProgress, "running"
	return h
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

// Health returns the health of each object refs names, reading them live.
func (m *ResourceManager) Health(ctx context.Context, refs []ObjectRef) ([]Health, error) {
	out := make([]Health, 0, len(refs))
	for _, ref := range refs {
		obj, err := m.Get(ctx, ref)
		if err != nil {
			return out, err
		}
		if obj == nil {
			out = append(out, Health{Object: ref, Status: StatusNotFound})
			continue
		}
		out = append(out, Compute(obj))
	}
	return out, nil
}
