package kube

import (
	"context"
	"fmt"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Event types.
const (
	EventNormal  = "Normal"
	EventWarning = "Warning"
)

// Event records a Kubernetes Event on the object ref names, reported by
// component "mlsync". Messages must not hold secrets.
func (m *ResourceManager) Event(ctx context.Context, ref ObjectRef, eventType, reason, message string) error {
	ns := ref.Namespace
	if ns == "" {
		ns = "default" // events about cluster-scoped objects
	}
	now := time.Now().UTC().Format(time.RFC3339)
	host, _ := os.Hostname()
	apiVersion := ref.Version
	if ref.Group != "" {
		apiVersion = ref.Group + "/" + ref.Version
	}
	ev := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "Event",
		"metadata": map[string]any{
			"generateName": ref.Name + ".",
			"namespace":    ns,
			"labels":       map[string]any{ManagedByLabel: ManagedByValue},
		},
		"involvedObject": map[string]any{
			"apiVersion": apiVersion, "kind": ref.Kind, "name": ref.Name, "namespace": ref.Namespace,
		},
		"reason":             reason,
		"message":            message,
		"type":               eventType,
		"source":             map[string]any{"component": FieldManager},
		"reportingComponent": FieldManager,
		"reportingInstance":  host,
		"firstTimestamp":     now,
		"lastTimestamp":      now,
		"count":              int64(1),
	}}
	ri, _, err := m.resource(ObjectRef{Version: "v1", Kind: "Event", Namespace: ns}, false)
	if err != nil {
		return err
	}
	if _, err := ri.Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("recording event %s on %s: %w", reason, ref, err)
	}
	return nil
}
