package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/parser"
	cueyaml "cuelang.org/go/encoding/yaml"

	mlcue "github.com/mlsync/mlsync/cue"
)

// DefaultMaxFileSize is the largest spec file the loader accepts.
const DefaultMaxFileSize = 1 << 20

// File is one file of a spec repository, its path relative to the spec
// root with forward slashes.
type File struct {
	Path string
	Data []byte
}

// LoaderOptions tune a Loader.
type LoaderOptions struct {
	// MaxFileSize is the largest file accepted, in bytes.
	MaxFileSize int
}

// DefaultLoaderOptions returns the options mlsync runs with.
func DefaultLoaderOptions() LoaderOptions {
	return LoaderOptions{MaxFileSize: DefaultMaxFileSize}
}

// Loader validates spec files against the embedded schema. It caches the
// result of each file by content, so re-loading a repository where one file
// changed re-validates one file. A Loader is safe for concurrent use.
type Loader struct {
	opts    LoaderOptions
	ctx     *cue.Context
	schemas map[Kind]cue.Value

	mu    sync.Mutex
	cache map[string]fileResult
}

type fileResult struct {
	specs []any // *Model, ...
	errs  Errors
}

// NewLoader compiles the embedded schema and returns a Loader.
func NewLoader(opts LoaderOptions) (*Loader, error) {
	ctx := cuecontext.New()
	schema, err := compileSchema(ctx)
	if err != nil {
		return nil, err
	}
	l := &Loader{opts: opts, ctx: ctx, schemas: map[Kind]cue.Value{}, cache: map[string]fileResult{}}
	for _, k := range []Kind{KindModel} {
		def := schema.LookupPath(cue.MakePath(cue.Def(string(k))))
		if err := def.Err(); err != nil {
			return nil, fmt.Errorf("embedded schema has no #%s: %w", k, err)
		}
		l.schemas[k] = def
	}
	return l, nil
}

func compileSchema(ctx *cue.Context) (cue.Value, error) {
	entries, err := fs.ReadDir(mlcue.Files, mlcue.Dir)
	if err != nil {
		return cue.Value{}, fmt.Errorf("reading embedded schema: %w", err)
	}
	inst := build.NewContext().NewInstance("", nil)
	for _, e := range entries {
		name := path.Join(mlcue.Dir, e.Name())
		data, err := fs.ReadFile(mlcue.Files, name)
		if err != nil {
			return cue.Value{}, fmt.Errorf("reading embedded schema: %w", err)
		}
		f, err := parser.ParseFile("mlsync-schema/"+e.Name(), data, parser.ParseComments)
		if err != nil {
			return cue.Value{}, fmt.Errorf("parsing embedded schema: %w", err)
		}
		if err := inst.AddSyntax(f); err != nil {
			return cue.Value{}, fmt.Errorf("adding embedded schema %s: %w", name, err)
		}
	}
	v := ctx.BuildInstance(inst)
	if err := v.Err(); err != nil {
		return cue.Value{}, fmt.Errorf("building embedded schema: %w", err)
	}
	return v, nil
}

// IsSpecFile reports whether a path relative to the spec root is loaded as
// a spec: a .cue, .yaml or .yml file outside hidden folders and outside
// the top-level environments/ and manifests/ folders.
func IsSpecFile(p string) bool {
	switch path.Ext(p) {
	case ".cue", ".yaml", ".yml":
	default:
		return false
	}
	parts := strings.Split(p, "/")
	if parts[0] == "environments" || parts[0] == "manifests" {
		return false
	}
	for _, part := range parts {
		if strings.HasPrefix(part, ".") {
			return false
		}
	}
	return true
}

// Load validates files and returns the specs they declare. Files that
// IsSpecFile rejects are ignored. When any file has a problem, Load
// returns every problem as Errors and no Set.
func (l *Loader) Load(files []File) (*Set, error) {
	var (
		set  Set
		errs Errors
	)
	for _, f := range files {
		if !IsSpecFile(f.Path) {
			continue
		}
		r := l.loadFile(f)
		errs = append(errs, r.errs...)
		for _, s := range r.specs {
			if m, ok := s.(*Model); ok {
				set.Models = append(set.Models, *m)
			}
		}
	}
	errs = append(errs, checkUnique(set)...)
	if len(errs) > 0 {
		errs.sort()
		return nil, errs
	}
	sort.Slice(set.Models, func(i, j int) bool {
		a, b := set.Models[i], set.Models[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return &set, nil
}

func (l *Loader) loadFile(f File) fileResult {
	sum := sha256.Sum256(f.Data)
	key := f.Path + "\x00" + hex.EncodeToString(sum[:])
	l.mu.Lock()
	r, ok := l.cache[key]
	l.mu.Unlock()
	if ok {
		return r
	}
	r = l.evalFile(f)
	l.mu.Lock()
	l.cache[key] = r
	l.mu.Unlock()
	return r
}

func (l *Loader) evalFile(f File) fileResult {
	fileErr := func(format string, args ...any) fileResult {
		return fileResult{errs: Errors{{Pos: Position{File: f.Path}, Msg: fmt.Sprintf(format, args...)}}}
	}
	if l.opts.MaxFileSize > 0 && len(f.Data) > l.opts.MaxFileSize {
		return fileErr("file is %d bytes, over the %d-byte limit for spec files", len(f.Data), l.opts.MaxFileSize)
	}
	if !utf8.Valid(f.Data) {
		return fileErr("file is not valid UTF-8 text")
	}
	syntax, err := parse(f)
	if err != nil {
		return fileResult{errs: convertErrors(f.Path, err, cue.Value{})}
	}
	v := l.ctx.BuildFile(syntax)
	if err := v.Err(); err != nil {
		return fileResult{errs: convertErrors(f.Path, err, v)}
	}
	kindV := v.LookupPath(cue.ParsePath("kind"))
	if !kindV.Exists() {
		return fileErr("no kind field; want one of: %s", kindList())
	}
	kind, err := kindV.String()
	if err != nil {
		return fileResult{errs: convertErrors(f.Path, err, v)}
	}
	def, ok := l.schemas[Kind(kind)]
	if !ok {
		return fileResult{errs: Errors{{Pos: position(f.Path, kindV), Path: "kind",
			Msg: fmt.Sprintf("unknown kind %q; want one of: %s", kind, kindList())}}}
	}
	unified := def.Unify(v)
	err = unified.Validate(cue.Concrete(true), cue.Final())
	if err == nil {
		return decode(f.Path, Kind(kind), unified)
	}
	return fileResult{errs: l.allErrors(f.Path, syntax, def, v, err)}
}

// maxErrorRounds bounds how many times allErrors re-validates a file.
const maxErrorRounds = 32

// allErrors collects every error of a file that failed validation. CUE
// reports only the first kind of error it meets (unknown fields hide
// missing ones), so each round removes the fields already reported from
// the user's syntax and validates again, until nothing new turns up.
func (l *Loader) allErrors(file string, syntax *ast.File, def, user cue.Value, err error) Errors {
	errs := convertErrors(file, err, user)
	reported := map[string]bool{}
	for _, e := range errs {
		reported[e.Path] = true
	}
	for range maxErrorRounds {
		removed := false
		for _, ce := range cueerrors.Errors(err) {
			if removeField(syntax, trimDef(ce.Path())) {
				removed = true
			}
		}
		if !removed {
			break
		}
		v := l.ctx.BuildFile(syntax)
		if err = def.Unify(v).Validate(cue.Concrete(true), cue.Final()); err == nil {
			break
		}
		added := false
		for _, e := range convertErrors(file, err, user) {
			if !reported[e.Path] {
				reported[e.Path] = true
				errs = append(errs, e)
				added = true
			}
		}
		if !added {
			break
		}
	}
	return errs
}

func parse(f File) (*ast.File, error) {
	if path.Ext(f.Path) == ".cue" {
		return parser.ParseFile(f.Path, f.Data, parser.ParseComments)
	}
	return cueyaml.Extract(f.Path, f.Data)
}

func decode(file string, kind Kind, v cue.Value) fileResult {
	js, err := v.MarshalJSON()
	if err != nil {
		return fileResult{errs: convertErrors(file, err, v)}
	}
	sum := sha256.Sum256(js)
	src := Source{File: file, Hash: hex.EncodeToString(sum[:]),
		NamePos: position(file, v.LookupPath(cue.ParsePath("name")))}
	switch kind {
	case KindModel:
		var m Model
		if err := v.Decode(&m); err != nil {
			return fileResult{errs: convertErrors(file, err, v)}
		}
		m.Source = src
		return fileResult{specs: []any{&m}}
	}
	return fileResult{errs: Errors{{Pos: Position{File: file}, Msg: fmt.Sprintf("kind %q has no decoder", kind)}}}
}

func kindList() string { return string(KindModel) }

// checkUnique reports specs of one kind that share a namespace and name.
func checkUnique(set Set) Errors {
	var errs Errors
	seen := map[string]Source{}
	for _, m := range set.Models {
		key := m.Namespace + "/" + m.Name
		if first, dup := seen[key]; dup {
			errs = append(errs, &Error{Pos: m.Source.NamePos, Path: "name",
				Msg: fmt.Sprintf("model %s is also declared in %s", key, first.File)})
			continue
		}
		seen[key] = m.Source
	}
	return errs
}
