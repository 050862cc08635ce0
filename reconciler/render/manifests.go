package render

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/mlsync/mlsync/kube"
	"github.com/mlsync/mlsync/spec"
)

// ManifestsDir holds plain Kubernetes YAML (RBAC, storage, ...) applied
// as it is, with mlsync's ownership label added.
const ManifestsDir = "manifests"

var yamlLine = regexp.MustCompile(`line ([0-9]+)`)

// manifests parses the YAML and JSON files under manifests/.
func manifests(files []spec.File, opts Options) ([]*unstructured.Unstructured, spec.Errors) {
	var objs []*unstructured.Unstructured
	var errs spec.Errors
	for _, f := range files {
		if !strings.HasPrefix(f.Path, ManifestsDir+"/") {
			continue
		}
		switch path.Ext(f.Path) {
		case ".yaml", ".yml", ".json":
		default:
			continue
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(f.Data), 4096)
		for doc := 1; ; doc++ {
			var m map[string]any
			err := dec.Decode(&m)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				pos := spec.Position{File: f.Path}
				if l := yamlLine.FindStringSubmatch(err.Error()); l != nil {
					pos.Line, _ = strconv.Atoi(l[1])
				}
				errs = append(errs, &spec.Error{Pos: pos, Msg: "invalid YAML: " + err.Error()})
				break
			}
			if len(m) == 0 {
				continue
			}
			o := &unstructured.Unstructured{Object: m}
			if o.GetAPIVersion() == "" || o.GetKind() == "" || o.GetName() == "" {
				errs = append(errs, &spec.Error{Pos: spec.Position{File: f.Path},
					Msg: fmt.Sprintf("document %d: a manifest needs apiVersion, kind and metadata.name", doc)})
				continue
			}
			labels := o.GetLabels()
			if labels == nil {
				labels = map[string]string{}
			}
			labels[kube.ManagedByLabel] = kube.ManagedByValue
			o.SetLabels(labels)
			ann := o.GetAnnotations()
			if ann == nil {
				ann = map[string]string{}
			}
			ann[kube.RevisionAnnotation] = opts.Revision
			ann[kube.SourceAnnotation] = f.Path
			if o.GetKind() == "Namespace" && ann[kube.PruneAnnotation] == "" {
				// Pruning a namespace deletes everything in it: only
				// when the manifest asks for it.
				ann[kube.PruneAnnotation] = kube.PruneDisabled
			}
			o.SetAnnotations(ann)
			objs = append(objs, o)
		}
	}
	return objs, errs
}

// IsSourceFile reports whether a path under the spec root is read by
// mlsync: a spec, or a file of an overlay or of the manifests folder.
func IsSourceFile(p string) bool {
	return spec.IsSpecFile(p) || strings.HasPrefix(p, EnvironmentsDir+"/") || strings.HasPrefix(p, ManifestsDir+"/")
}
