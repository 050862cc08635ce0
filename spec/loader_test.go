package spec_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlsync/mlsync/spec"
)

const minimalModel = `kind: "Model"
name: "fraud"
serving: image: "ghcr.io/acme/fraud:1"
`

// TestFileProblems covers inputs txtar cannot hold well: huge, binary and
// non-UTF-8 files, and symbolic links.
func TestFileProblems(t *testing.T) {
	tests := []struct {
		name  string
		files []spec.File
		want  string
	}{
		{
			name:  "huge file",
			files: []spec.File{{Path: "models/huge.cue", Data: bytes.Repeat([]byte("// padding\n"), 100_000)}},
			want:  "models/huge.cue: file is 1100000 bytes, over the 1048576-byte limit for spec files",
		},
		{
			name:  "binary file",
			files: []spec.File{{Path: "models/model.yaml", Data: []byte("kind: Model\x00\x01\x02")}},
			want:  "models/model.yaml: file contains NUL bytes; spec files are text",
		},
		{
			name:  "not UTF-8",
			files: []spec.File{{Path: "models/latin1.cue", Data: []byte("kind: \"Model\"\nname: \"caf\xe9\"\n")}},
			want:  "models/latin1.cue: file is not valid UTF-8 text",
		},
		{
			name:  "link out of the root",
			files: []spec.File{{Path: "models/evil.cue", Link: "../../etc/passwd"}},
			want:  `models/evil.cue: symbolic link points outside the spec root (to "../../etc/passwd")`,
		},
		{
			name:  "absolute link",
			files: []spec.File{{Path: "models/evil.cue", Link: "/etc/passwd"}},
			want:  `models/evil.cue: symbolic link points outside the spec root (to "/etc/passwd")`,
		},
		{
			name:  "dangling link",
			files: []spec.File{{Path: "models/gone.cue", Link: "nowhere.cue"}},
			want:  `models/gone.cue: symbolic link target "nowhere.cue" is not a file of the spec root`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newLoader(t).Load(tc.files)
			var errs spec.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("want spec errors, got %v", err)
			}
			if got := errs.Error(); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestLinkInsideRootIsLoaded(t *testing.T) {
	set, err := newLoader(t).Load([]spec.File{
		{Path: "shared/fraud.cue.txt", Data: []byte(minimalModel)},
		{Path: "models/fraud.cue", Link: "../shared/fraud.cue.txt"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Models) != 1 || set.Models[0].Source.File != "models/fraud.cue" {
		t.Fatalf("want the linked model from models/fraud.cue, got %+v", set.Models)
	}
}

func TestReadDirRejectsLinksOutOfRoot(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.cue"), []byte(minimalModel), 0o644); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "models"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret.cue"), filepath.Join(root, "models", "fraud.cue")); err != nil {
		t.Fatal(err)
	}
	_, err := spec.ReadDir(root)
	var e *spec.Error
	if !errors.As(err, &e) || !strings.Contains(e.Msg, "outside the spec root") || e.Pos.File != "models/fraud.cue" {
		t.Fatalf("want an error naming models/fraud.cue as a link out of the root, got %v", err)
	}
}

func TestReadDirSkipsOverlaysAndHidden(t *testing.T) {
	root := t.TempDir()
	for name, content := range map[string]string{
		"models/fraud.cue":                     minimalModel,
		"environments/prod/kustomization.yaml": "resources: []\n",
		"manifests/rbac.yaml":                  "kind: Role\n",
		".github/workflows/ci.yaml":            "on: push\n",
		"README.md":                            "# specs\n",
		"models/.fraud.cue.swp":                "junk",
	} {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files, err := spec.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, f.Path)
	}
	if diff := cmp.Diff([]string{"models/fraud.cue"}, got); diff != "" {
		t.Errorf("ReadDir files (-want +got):\n%s", diff)
	}
}

// TestCacheRevalidatesOnlyChangedFiles checks that a second load reuses
// unchanged files' results and sees a changed file's new content.
func TestCacheRevalidatesOnlyChangedFiles(t *testing.T) {
	l := newLoader(t)
	files := []spec.File{
		{Path: "models/a.cue", Data: []byte(strings.Replace(minimalModel, "fraud", "a", 1))},
		{Path: "models/b.cue", Data: []byte(strings.Replace(minimalModel, "fraud", "b", 1))},
	}
	first, err := l.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	files[1].Data = []byte(strings.Replace(string(files[1].Data), `"ghcr.io/acme/fraud:1"`, `"ghcr.io/acme/fraud:2"`, 1))
	second, err := l.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	if first.Models[0].Source.Hash != second.Models[0].Source.Hash {
		t.Errorf("unchanged model a got a new hash")
	}
	if first.Models[1].Source.Hash == second.Models[1].Source.Hash || second.Models[1].Serving.Image != "ghcr.io/acme/fraud:2" {
		t.Errorf("changed model b not re-validated: %+v", second.Models[1].Serving)
	}
}

// TestDeterministic loads the same files in different orders and with
// different worker counts and expects identical results.
func TestDeterministic(t *testing.T) {
	files, err := spec.ReadDir("../examples/fraud-detection")
	if err != nil {
		t.Fatal(err)
	}
	reversed := append([]spec.File(nil), files...)
	for i, j := 0, len(reversed)-1; i < j; i, j = i+1, j-1 {
		reversed[i], reversed[j] = reversed[j], reversed[i]
	}
	encode := func(workers int, fs []spec.File) string {
		opts := spec.DefaultLoaderOptions()
		opts.Workers = workers
		l, err := spec.NewLoader(opts)
		if err != nil {
			t.Fatal(err)
		}
		set, err := l.Load(fs)
		if err != nil {
			t.Fatal(err)
		}
		data, err := json.Marshal(set)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	want := encode(1, files)
	if got := encode(4, reversed); got != want {
		t.Errorf("load differs with file order or worker count:\n%s", cmp.Diff(want, got))
	}
}

// TestExamplesValid loads every example repository.
func TestExamplesValid(t *testing.T) {
	dirs, err := filepath.Glob("../examples/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 3 {
		t.Fatalf("want at least 3 examples, found %v", dirs)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			files, err := spec.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			set, err := newLoader(t).Load(files)
			if err != nil {
				t.Fatalf("example does not validate:\n%v", err)
			}
			if len(set.Models) == 0 || len(set.Pipelines) == 0 {
				t.Errorf("example has %d models and %d pipelines; want both", len(set.Models), len(set.Pipelines))
			}
		})
	}
}
