package render

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/mlsync/mlsync/kube"
	"github.com/mlsync/mlsync/spec"
)

// EnvironmentsDir holds one kustomize overlay per stage:
// environments/<stage>/kustomization.yaml patches the objects that serve
// each model in that stage.
const EnvironmentsDir = "environments"

// renderedFile is the file the overlay's kustomization gets as an extra
// resource, holding the group's rendered objects.
const renderedFile = "mlsync-rendered.yaml"

var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// overlays maps a stage name to the files of its environment folder,
// keyed by their path inside that folder.
type overlays map[string]map[string][]byte

func collectOverlays(files []spec.File) overlays {
	ov := overlays{}
	for _, f := range files {
		rest, ok := strings.CutPrefix(f.Path, EnvironmentsDir+"/")
		if !ok {
			continue
		}
		stage, inner, ok := strings.Cut(rest, "/")
		if !ok || stage == "" {
			continue
		}
		if ov[stage] == nil {
			ov[stage] = map[string][]byte{}
		}
		ov[stage][inner] = f.Data
	}
	for stage, fs := range ov {
		if kustomizationName(fs) == "" {
			delete(ov, stage)
		}
	}
	return ov
}

func kustomizationName(files map[string][]byte) string {
	for _, n := range kustomizationNames {
		if _, ok := files[n]; ok {
			return n
		}
	}
	return ""
}

// applyOverlays runs each stage's overlay over each model's objects in
// that stage, one kustomize build per model and stage: kustomize's cost
// grows with the square of the resources it holds, so it never sees the
// whole set.
func applyOverlays(objs []*unstructured.Unstructured, ov overlays) ([]*unstructured.Unstructured, spec.Errors) {
	if len(ov) == 0 {
		return objs, nil
	}
	type group struct{ model, stage string }
	groups := map[group][]*unstructured.Unstructured{}
	var out []*unstructured.Unstructured
	for _, o := range objs {
		g := group{o.GetLabels()[kube.ModelLabel], o.GetLabels()[StageLabel]}
		if g.model == "" || ov[g.stage] == nil {
			out = append(out, o)
			continue
		}
		groups[g] = append(groups[g], o)
	}
	keys := make([]group, 0, len(groups))
	for g := range groups {
		keys = append(keys, g)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].stage != keys[j].stage {
			return keys[i].stage < keys[j].stage
		}
		return keys[i].model < keys[j].model
	})
	var errs spec.Errors
	for _, g := range keys {
		built, err := kustomize(ov[g.stage], groups[g])
		if err != nil {
			errs = append(errs, &spec.Error{
				Pos: spec.Position{File: path.Join(EnvironmentsDir, g.stage, kustomizationName(ov[g.stage]))},
				Msg: fmt.Sprintf("overlay for model %s: %v", g.model, err),
			})
			continue
		}
		template := groups[g][0]
		for _, o := range built {
			keepOwnership(o, template)
		}
		out = append(out, built...)
	}
	return out, errs
}

// kustomize builds the overlay with objs as an extra resource, on an
// in-memory filesystem.
func kustomize(files map[string][]byte, objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	fs := filesys.MakeFsInMemory()
	const root = "/overlay"
	for name, data := range files {
		if err := fs.MkdirAll(path.Dir(path.Join(root, name))); err != nil {
			return nil, err
		}
		if err := fs.WriteFile(path.Join(root, name), data); err != nil {
			return nil, err
		}
	}
	var docs []string
	for _, o := range objs {
		data, err := yaml.Marshal(o.Object)
		if err != nil {
			return nil, err
		}
		docs = append(docs, string(data))
	}
	if err := fs.WriteFile(path.Join(root, renderedFile), []byte(strings.Join(docs, "---\n"))); err != nil {
		return nil, err
	}
	name := kustomizationName(files)
	var k map[string]any
	if err := yaml.Unmarshal(files[name], &k); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if k == nil {
		k = map[string]any{}
	}
	resources, _ := k["resources"].([]any)
	k["resources"] = append([]any{renderedFile}, resources...)
	data, err := yaml.Marshal(k)
	if err != nil {
		return nil, err
	}
	if err := fs.WriteFile(path.Join(root, name), data); err != nil {
		return nil, err
	}
	opts := krusty.MakeDefaultOptions()
	resMap, err := krusty.MakeKustomizer(opts).Run(fs, root)
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	for _, r := range resMap.Resources() {
		js, err := r.MarshalJSON()
		if err != nil {
			return nil, err
		}
		// Decoding JSON the Kubernetes way gives int64 numbers, as the
		// rest of mlsync expects.
		o := &unstructured.Unstructured{}
		if err := o.UnmarshalJSON(js); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// keepOwnership makes sure an object that came out of an overlay carries
// mlsync's ownership labels and source annotations, even if the overlay
// added it or dropped them.
func keepOwnership(o, template *unstructured.Unstructured) {
	labels := o.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	tl := template.GetLabels()
	for _, k := range []string{kube.ManagedByLabel, kube.ModelLabel, StageLabel, VersionLabel} {
		if v, ok := tl[k]; ok {
			labels[k] = v
		}
	}
	o.SetLabels(labels)
	ann := o.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ta := template.GetAnnotations()
	for _, k := range []string{kube.RevisionAnnotation, kube.SourceAnnotation} {
		if v, ok := ta[k]; ok {
			ann[k] = v
		}
	}
	o.SetAnnotations(ann)
}
