package render

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlsync/mlsync/kube"
	"github.com/mlsync/mlsync/spec"
)

// Options say what the objects are rendered from.
type Options struct {
	// Revision is the Git commit the specs were read at; it goes into the
	// mlsync.io/revision annotation.
	Revision string
}

// Component values of the app.kubernetes.io/component label.
const (
	ComponentServing = "serving"
)

// Objects renders every object the specs in set declare, sorted by
// namespace, kind and name.
func Objects(set *spec.Set, opts Options) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	namespaces := map[string]bool{}
	for i := range set.Models {
		m := &set.Models[i]
		objs = append(objs, deployment(m, opts), service(m, opts))
		if m.Namespace != "default" {
			namespaces[m.Namespace] = true
		}
	}
	for ns := range namespaces {
		objs = append(objs, namespace(ns))
	}
	Sort(objs)
	for _, o := range objs {
		if o.GetName() == "" {
			return nil, fmt.Errorf("rendered %s without a name", o.GetKind())
		}
		if err := stampHash(o); err != nil {
			return nil, err
		}
	}
	return objs, nil
}

// stampHash sets the spec-hash annotation to a hash of everything the
// object says except its revision, so the annotation changes exactly when
// what mlsync applies changes, and a commit that leaves an object alone
// leaves its revision annotation (and the live object) alone too.
func stampHash(o *unstructured.Unstructured) error {
	c := o.DeepCopy()
	ann := c.GetAnnotations()
	delete(ann, kube.RevisionAnnotation)
	delete(ann, kube.SpecHashAnnotation)
	c.SetAnnotations(ann)
	data, err := json.Marshal(c.Object)
	if err != nil {
		return fmt.Errorf("hashing %s: %w", kube.RefOf(o), err)
	}
	sum := sha256.Sum256(data)
	ann = o.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[kube.SpecHashAnnotation] = hex.EncodeToString(sum[:16])
	o.SetAnnotations(ann)
	return nil
}

// Sort orders objects by namespace, kind and name.
func Sort(objs []*unstructured.Unstructured) {
	sort.SliceStable(objs, func(i, j int) bool {
		a, b := kube.RefOf(objs[i]), kube.RefOf(objs[j])
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Name < b.Name
	})
}

// modelLabels are the labels every object of model m carries; the
// selector labels are a stable subset of them.
func modelLabels(m *spec.Model, component string) map[string]any {
	return map[string]any{
		kube.ManagedByLabel:           kube.ManagedByValue,
		"app.kubernetes.io/name":      m.Name,
		"app.kubernetes.io/component": component,
		kube.ModelLabel:               m.Name,
	}
}

func selectorLabels(m *spec.Model, component string) map[string]any {
	return map[string]any{kube.ModelLabel: m.Name, "app.kubernetes.io/component": component}
}

func annotations(m *spec.Model, opts Options) map[string]any {
	a := map[string]any{
		kube.RevisionAnnotation: opts.Revision,
		kube.SourceAnnotation:   m.Source.File,
	}
	if m.Description != "" {
		a["mlsync.io/description"] = m.Description
	}
	return a
}

func metadata(m *spec.Model, component string, opts Options) map[string]any {
	return map[string]any{
		"name":        m.Name,
		"namespace":   m.Namespace,
		"labels":      modelLabels(m, component),
		"annotations": annotations(m, opts),
	}
}

func deployment(m *spec.Model, opts Options) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1",
		"kind":       "Deployment",
		"metadata":   metadata(m, ComponentServing, opts),
		"spec": map[string]any{
			"replicas": int64(m.Serving.Replicas),
			"selector": map[string]any{"matchLabels": selectorLabels(m, ComponentServing)},
			"template": map[string]any{
				"metadata": map[string]any{"labels": modelLabels(m, ComponentServing)},
				"spec": map[string]any{
					"containers": []any{map[string]any{
						"name":  "server",
						"image": m.Serving.Image,
						"ports": []any{map[string]any{
							"name": "http", "containerPort": int64(m.Serving.Port), "protocol": "TCP",
						}},
						"env": []any{
							map[string]any{"name": "MLSYNC_MODEL", "value": m.Name},
						},
					}},
				},
			},
		},
	}}
}

func service(m *spec.Model, opts Options) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "Service",
		"metadata":   metadata(m, ComponentServing, opts),
		"spec": map[string]any{
			"selector": selectorLabels(m, ComponentServing),
			"ports": []any{map[string]any{
				"name": "http", "port": int64(80), "targetPort": "http", "protocol": "TCP",
			}},
		},
	}}
}

// namespace renders a model's namespace. mlsync creates it but never
// prunes it: other things may live there.
func namespace(name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "Namespace",
		"metadata": map[string]any{
			"name":        name,
			"labels":      map[string]any{kube.ManagedByLabel: kube.ManagedByValue},
			"annotations": map[string]any{kube.PruneAnnotation: kube.PruneDisabled},
		},
	}}
}
