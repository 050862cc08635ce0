package cue

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
)

// Files is the schema as a CUE package (package mlsync), one file per kind.
//
//go:embed schema/*.cue
var Files embed.FS

// Dir is the directory inside Files that holds the schema files.
const Dir = "schema"

// Package is the CUE package name declared by every schema file.
const Package = "mlsync"

// Module is the CUE module path Export declares.
const Module = "mlsync.io/schema@v0"

// Export writes the schema under dir as a CUE module (cue.mod/module.cue
// plus one file per kind), so editors and `cue vet` see the definitions
// mlsync validates with:
//
//	cue vet -d '#Model' ./schema models/fraud.cue
//
// It returns the paths it wrote, sorted.
func Export(dir string) ([]string, error) {
	if err := os.MkdirAll(filepath.Join(dir, "cue.mod"), 0o755); err != nil {
		return nil, err
	}
	files := map[string][]byte{
		filepath.Join(dir, "cue.mod", "module.cue"): fmt.Appendf(nil, "module: %q\nlanguage: version: \"v0.17.0\"\n", Module),
	}
	entries, err := fs.ReadDir(Files, Dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		data, err := fs.ReadFile(Files, path.Join(Dir, e.Name()))
		if err != nil {
			return nil, err
		}
		files[filepath.Join(dir, e.Name())] = data
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := os.WriteFile(name, files[name], 0o644); err != nil {
			return nil, fmt.Errorf("exporting schema: %w", err)
		}
	}
	return names, nil
}
