package spec

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ReadDir reads the spec files under root on disk. Symbolic links that
// point outside root are rejected; files IsSpecFile rejects are skipped.
func ReadDir(root string) ([]File, error) { return ReadFiles(root, IsSpecFile) }

// ReadFiles reads the files under root for which keep returns true
// (paths relative to root, with forward slashes), skipping hidden
// folders. Symbolic links that point outside root are rejected.
func ReadFiles(root string, keep func(path string) bool) ([]File, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("spec root %s: %w", root, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("spec root %s: %w", root, err)
	}
	var files []File
	err = filepath.WalkDir(real, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(real, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel != "." && rel[0] == '.' {
				return filepath.SkipDir
			}
			return nil
		}
		if !keep(rel) {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			target, err := filepath.EvalSymlinks(p)
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			if r, err := filepath.Rel(real, target); err != nil || r == ".." || len(r) > 2 && r[:3] == "../" {
				return &Error{Pos: Position{File: rel}, Msg: "symbolic link points outside the spec root"}
			}
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		files = append(files, File{Path: rel, Data: data})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return files, nil
}
