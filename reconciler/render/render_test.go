package render_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/tools/txtar"
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
