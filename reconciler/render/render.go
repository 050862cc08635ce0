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
	// Files are the repository's other files under the spec root: the
	// overlays under environments/ and the plain YAML under manifests/.
	Files []spec.File
	// Rollouts are the stages whose pin is changing, by RolloutKey: a
	// stage with a canary serves the candidate beside the current
	// version until the analysis window ends.
	Rollouts map[string]Rollout
	// PrometheusOperator says the cluster serves ServiceMonitor and
	// PrometheusRule: monitoring objects are rendered with serving.
	PrometheusOperator bool
}

// Labels mlsync sets besides kube's ownership labels.
const (
	StageLabel     = "mlsync.io/stage"
	VersionLabel   = "mlsync.io/version"
	ComponentLabel = "app.kubernetes.io/component"
	NameLabel      = "app.kubernetes.io/name"
)

// Component values of the app.kubernetes.io/component label.
const (
	ComponentServing = "serving"
)

// Objects renders every object the specs in set declare, with each
// stage's overlay applied and the manifests added, sorted by namespace,
// kind and name. Problems in overlays or manifests come back as
// spec.Errors, positioned in their files.
func Objects(set *spec.Set, opts Options) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	namespaces := map[string]bool{}
	for i := range set.Models {
		m := &set.Models[i]
		for _, t := range servingTargets(m) {
			objs = append(objs, servingObjects(m, t, opts)...)
			namespaces[t.namespace] = true
		}
		namespaces[m.Namespace] = true
	}
	for ns := range namespaces {
		if ns != "default" {
			objs = append(objs, namespace(ns))
		}
	}
	objs, errs := applyOverlays(objs, collectOverlays(opts.Files))
	plain, merrs := manifests(opts.Files, opts)
	errs = append(errs, merrs...)
	objs, derrs := merge(plain, objs)
	errs = append(errs, derrs...)
	if len(errs) > 0 {
		return nil, errs
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

// merge adds the rendered objects to the manifests. A Namespace both
// declare is the manifest's (it may carry labels the team wants); any
// other object declared twice is an error.
func merge(plain, rendered []*unstructured.Unstructured) ([]*unstructured.Unstructured, spec.Errors) {
	byKey := map[string]*unstructured.Unstructured{}
	for _, o := range plain {
		byKey[kube.RefOf(o).Key()] = o
	}
	out := append([]*unstructured.Unstructured(nil), plain...)
	var errs spec.Errors
	for _, o := range rendered {
		k := kube.RefOf(o).Key()
		if m, dup := byKey[k]; dup {
			if o.GetKind() != "Namespace" {
				errs = append(errs, &spec.Error{Pos: spec.Position{File: m.GetAnnotations()[kube.SourceAnnotation]},
					Msg: fmt.Sprintf("%s is also rendered from %s", kube.RefOf(o), o.GetAnnotations()[kube.SourceAnnotation])})
			}
			continue
		}
		byKey[k] = o
		out = append(out, o)
	}
	return out, errs
}

// kindOrder puts namespaces first and otherwise sorts by kind name.
func kindOrder(kind string) string {
	if kind == "Namespace" {
		return ""
	}
	return kind
}

// Sort orders objects by namespace, kind and name (namespaces first).
func Sort(objs []*unstructured.Unstructured) {
	sort.SliceStable(objs, func(i, j int) bool {
		a, b := kube.RefOf(objs[i]), kube.RefOf(objs[j])
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if ka, kb := kindOrder(a.Kind), kindOrder(b.Kind); ka != kb {
			return ka < kb
		}
		return a.Name < b.Name
	})
}

// stampHash sets the spec-hash annotation to a hash of everything the
// object says except its revision, so the annotation changes exactly when
// what mlsync applies changes, and a commit that leaves an object alone
// leaves its revision annotation (and the live object) alone too.
func stampHash(o *unstructured.Unstructured) error {
	md, _ := o.Object["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
		o.Object["metadata"] = md
	}
	// Hash the object as it is, with the two annotations taken out of its
	// own map for the moment (a deep copy of every object per render
	// cost more than the hashing).
	ann, _ := md["annotations"].(map[string]any)
	if ann == nil && md["annotations"] != nil {
		o.SetAnnotations(o.GetAnnotations()) // to the map[string]any form
		ann, _ = md["annotations"].(map[string]any)
	}
	rev, hadRev := ann[kube.RevisionAnnotation]
	delete(ann, kube.RevisionAnnotation)
	delete(ann, kube.SpecHashAnnotation)
	data, err := json.Marshal(o.Object)
	if hadRev {
		ann[kube.RevisionAnnotation] = rev
	}
	if err != nil {
		return fmt.Errorf("hashing %s: %w", kube.RefOf(o), err)
	}
	sum := sha256.Sum256(data)
	if ann == nil {
		ann = map[string]any{}
		md["annotations"] = ann
	}
	ann[kube.SpecHashAnnotation] = hex.EncodeToString(sum[:16])
	return nil
}

// namespace renders a namespace specs use. mlsync creates it but never
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
