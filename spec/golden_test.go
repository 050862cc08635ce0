package spec_test

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/tools/txtar"

	"github.com/mlsync/mlsync/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestGoldenValid loads each testdata/valid/*.txtar archive's spec files
// and compares the defaulted specs with out/specs.json.
func TestGoldenValid(t *testing.T) {
	forEachArchive(t, "testdata/valid/*.txtar", func(t *testing.T, ar *txtar.Archive) []byte {
		set, err := newLoader(t).Load(archiveFiles(ar))
		if err != nil {
			t.Fatalf("load: %v", err)
		}
		out, err := json.MarshalIndent(map[string]any{"models": set.Models, "pipelines": set.Pipelines}, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		return append(out, '\n')
	}, "out/specs.json")
}

// TestGoldenInvalid loads each testdata/invalid/*.txtar archive and
// compares the errors, one per line with file:line:col, with
// out/errors.txt.
func TestGoldenInvalid(t *testing.T) {
	archives := forEachArchive(t, "testdata/invalid/*.txtar", func(t *testing.T, ar *txtar.Archive) []byte {
		_, err := newLoader(t).Load(archiveFiles(ar))
		var errs spec.Errors
		if !errors.As(err, &errs) {
			t.Fatalf("want spec errors, got %v", err)
		}
		for _, e := range errs {
			if e.Pos.File == "" || strings.HasPrefix(e.Pos.File, "mlsync-schema/") {
				t.Errorf("error not positioned in the user's file: %v", e)
			}
		}
		return []byte(errs.Error() + "\n")
	}, "out/errors.txt")
	if archives < 50 {
		t.Errorf("the bad-input corpus has %d cases; keep at least 50", archives)
	}
}

// forEachArchive runs check on every archive matching glob and compares
// its output with the archive's file golden (rewriting it with -update).
// It returns how many archives it ran.
func forEachArchive(t *testing.T, glob string, check func(*testing.T, *txtar.Archive) []byte, golden string) int {
	t.Helper()
	paths, err := filepath.Glob(glob)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no archives match %s", glob)
	}
	for _, path := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got := check(t, ar)
			if t.Failed() {
				return
			}
			if *update {
				setFile(ar, golden, got)
				if err := os.WriteFile(path, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if diff := cmp.Diff(string(fileData(ar, golden)), string(got)); diff != "" {
				t.Errorf("%s differs (-want +got); rerun with -update if intended:\n%s", golden, diff)
			}
		})
	}
	return len(paths)
}

func newLoader(t testing.TB) *spec.Loader {
	t.Helper()
	l, err := spec.NewLoader(spec.DefaultLoaderOptions())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func archiveFiles(ar *txtar.Archive) []spec.File {
	var files []spec.File
	for _, f := range ar.Files {
		if !strings.HasPrefix(f.Name, "out/") {
			files = append(files, spec.File{Path: f.Name, Data: f.Data})
		}
	}
	return files
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
