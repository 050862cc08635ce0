package render_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/tools/txtar"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/mlsync/mlsync/reconciler/render"
	"github.com/mlsync/mlsync/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestGolden renders each testdata/*.txtar archive's spec files (every
// file outside out/) and compares the objects with out/objects.yaml.
// Run with -update to rewrite the expected output.
func TestGolden(t *testing.T) {
	archives, err := filepath.Glob("testdata/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	if len(archives) == 0 {
		t.Fatal("no golden files in testdata/")
	}
	loader, err := spec.NewLoader(spec.DefaultLoaderOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range archives {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var files []spec.File
			for _, f := range ar.Files {
				if !strings.HasPrefix(f.Name, "out/") {
					files = append(files, spec.File{Path: f.Name, Data: f.Data})
				}
			}
			set, err := loader.Load(files)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			got := renderYAML(t, set, files)
			// Rendering twice gives the same bytes.
			if again := renderYAML(t, set, files); !bytes.Equal(got, again) {
				t.Fatalf("rendering is not deterministic:\n%s", cmp.Diff(string(got), string(again)))
			}
			if *update {
				setFile(ar, "out/objects.yaml", got)
				if err := os.WriteFile(path, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want := fileData(ar, "out/objects.yaml")
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("rendered objects differ from out/objects.yaml (-want +got); rerun with -update if intended:\n%s", diff)
			}
		})
	}
}

func renderYAML(t *testing.T, set *spec.Set, files []spec.File) []byte {
	t.Helper()
	objs, err := render.Objects(set, render.Options{Revision: "0123456789abcdef0123456789abcdef01234567", Files: files})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for i, o := range objs {
		if i > 0 {
			b.WriteString("---\n")
		}
		data, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	return b.Bytes()
}

func fileData(ar *txtar.Archive, name string) []byte {
	for _, f := range ar.Files {
		if f.Name == name {
			return f.Data
		}
	}
	return nil
}

func setFile(ar *txtar.Archive, name string, data []byte) {
	for i := range ar.Files {
		if ar.Files[i].Name == name {
			ar.Files[i].Data = data
			return
		}
	}
	ar.Files = append(ar.Files, txtar.File{Name: name, Data: data})
}

// TestGoldenExamples renders each repository under examples/ and compares
// the objects with testdata/examples/<name>.yaml.
func TestGoldenExamples(t *testing.T) {
	dirs, err := filepath.Glob("../../examples/*")
	if err != nil {
		t.Fatal(err)
	}
	loader, err := spec.NewLoader(spec.DefaultLoaderOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			files, err := spec.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			set, err := loader.Load(files)
			if err != nil {
				t.Fatal(err)
			}
			got := renderYAML(t, set, files)
			golden := filepath.Join("testdata", "examples", name+".yaml")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("rendered objects differ from %s (-want +got); rerun with -update if intended:\n%s", golden, diff)
			}
		})
	}
}

// TestFailedCanaryHolds: a stage whose canary failed its analysis serves
// the previous version again (a Deployment of it; for KServe, all the
// traffic to the previous revision), marked so a restart keeps the hold.
func TestFailedCanaryHolds(t *testing.T) {
	loader, err := spec.NewLoader(spec.DefaultLoaderOptions())
	if err != nil {
		t.Fatal(err)
	}
	since := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	rollouts := map[string]render.Rollout{"fraud/production": {From: "v1", Since: since, Now: since.Add(time.Minute), Failed: "error rate 0.200 > 0.05 over 300 requests"}}
	for _, tt := range []struct{ runtime, serving string }{
		{"deployment", `serving: {image: "ghcr.io/example/fraud:{version}", replicas: min: 4}`},
		{"kserve", `serving: {runtime: "kserve", modelFormat: "sklearn", storageUri: "s3://models/fraud/{version}"}`},
	} {
		t.Run(tt.runtime, func(t *testing.T) {
			files := []spec.File{{Path: "models/fraud.cue", Data: []byte(`kind: "Model"
name: "fraud"
namespace: "ml"
stages: [{name: "production", namespace: "ml", version: "v2", canary: {percent: 25, analysis: "10m"}}]
` + tt.serving + "\n")}}
			set, err := loader.Load(files)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := render.Objects(set, render.Options{Revision: "0123456789abcdef0123456789abcdef01234567", Files: files, Rollouts: rollouts})
			if err != nil {
				t.Fatal(err)
			}
			var main map[string]any
			for _, o := range objs {
				if o.GetName() == "fraud"+render.CanarySuffix {
					t.Errorf("a failed canary is still rendered: %s", o.GetKind())
				}
				if (o.GetKind() == "Deployment" || o.GetKind() == "InferenceService") && o.GetName() == "fraud" {
					main = o.Object
					if got := o.GetAnnotations()[render.CanaryFailedAnnotation]; got != "v2" {
						t.Errorf("%s annotation = %q, want v2", render.CanaryFailedAnnotation, got)
					}
					if got := o.GetAnnotations()[render.CanarySinceAnnotation]; got != "2026-12-04T10:00:00Z" {
						t.Errorf("%s annotation = %q", render.CanarySinceAnnotation, got)
					}
				}
			}
			if main == nil {
				t.Fatal("no main serving object")
			}
			if tt.runtime == "deployment" {
				img, _, _ := unstructured.NestedSlice(main, "spec", "template", "spec", "containers")
				if c, _ := img[0].(map[string]any); c["image"] != "ghcr.io/example/fraud:v1" {
					t.Errorf("held Deployment runs %v, want ghcr.io/example/fraud:v1", c["image"])
				}
				return
			}
			if pct, ok, _ := unstructured.NestedInt64(main, "spec", "predictor", "canaryTrafficPercent"); !ok || pct != 0 {
				t.Errorf("held InferenceService canaryTrafficPercent = %d (set %v), want 0", pct, ok)
			}
		})
	}
}
