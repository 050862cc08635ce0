package spec_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"
	"sigs.k8s.io/yaml"

	"github.com/mlsync/mlsync/reconciler/render"
	"github.com/mlsync/mlsync/spec"
)

// FuzzLoad feeds arbitrary bytes to the loader as a CUE or a YAML file.
// It must never panic, and whatever it accepts must render to the same
// bytes every time. Seeds: the examples and both golden corpora.
func FuzzLoad(f *testing.F) {
	seed := func(name string, data []byte) {
		f.Add(strings.HasSuffix(name, ".cue"), data)
	}
	examples, _ := filepath.Glob("../examples/*/*/*")
	for _, p := range examples {
		if data, err := os.ReadFile(p); err == nil {
			seed(p, data)
		}
	}
	archives, _ := filepath.Glob("testdata/*/*.txtar")
	for _, p := range archives {
		ar, err := txtar.ParseFile(p)
		if err != nil {
			continue
		}
		for _, file := range ar.Files {
			if !strings.HasPrefix(file.Name, "out/") {
				seed(file.Name, file.Data)
			}
		}
	}
	l, err := spec.NewLoader(spec.DefaultLoaderOptions())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, isCUE bool, data []byte) {
		name := "models/fuzz.yaml"
		if isCUE {
			name = "models/fuzz.cue"
		}
		set, err := l.Load([]spec.File{{Path: name, Data: data}})
		if err != nil {
			return
		}
		first := renderAll(t, set)
		again, err := l.Load([]spec.File{{Path: name, Data: append([]byte(nil), data...)}})
		if err != nil {
			t.Fatalf("accepted once, rejected the second time: %v", err)
		}
		if second := renderAll(t, again); !bytes.Equal(first, second) {
			t.Fatalf("rendering is not deterministic")
		}
	})
}

func renderAll(t *testing.T, set *spec.Set) []byte {
	objs, err := render.Objects(set, render.Options{Revision: "fuzz"})
	if err != nil {
		t.Fatalf("accepted specs fail to render: %v", err)
	}
	var b bytes.Buffer
	for _, o := range objs {
		data, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	return b.Bytes()
}
