package spec_test

import (
	"path/filepath"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/load"

	mlcue "github.com/mlsync/mlsync/cue"
)

// TestExportIsAModule exports the schema, loads it back as a CUE module
// the way `cue vet` would, and vets an example against #Model with it.
func TestExportIsAModule(t *testing.T) {
	dir := t.TempDir()
	if _, err := mlcue.Export(dir); err != nil {
		t.Fatal(err)
	}
	insts := load.Instances([]string{"."}, &load.Config{Dir: dir})
	if len(insts) != 1 || insts[0].Err != nil {
		t.Fatalf("loading the exported module: %v", insts[0].Err)
	}
	ctx := cuecontext.New()
	schema := ctx.BuildInstance(insts[0])
	if err := schema.Err(); err != nil {
		t.Fatal(err)
	}
	example := load.Instances([]string{filepath.Join("..", "examples", "fraud-detection", "models", "fraud.cue")}, nil)
	if example[0].Err != nil {
		t.Fatal(example[0].Err)
	}
	v := schema.LookupPath(cue.ParsePath("#Model")).Unify(ctx.BuildInstance(example[0]))
	if err := v.Validate(cue.Concrete(true)); err != nil {
		t.Errorf("example does not vet against the exported #Model: %v", err)
	}
}
