package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/parser"

	mlcue "github.com/mlsync/mlsync/cue"
)

// DefaultMaxFileSize is the largest spec file the loader accepts.
const DefaultMaxFileSize = 1 << 20

// File is one file of a spec repository, its path relative to the spec
// root with forward slashes.
type File struct {
	Path string
	Data []byte
	// Link is the target of a symbolic link, as written in the link;
	// empty for regular files. A link is loaded as the file it points to,
	// which must be inside the spec root.
	Link string
}

// LoaderOptions tune a Loader.
type LoaderOptions struct {
	// MaxFileSize is the largest file accepted, in bytes.
	MaxFileSize int
	// Workers evaluate files in parallel; GOMAXPROCS when zero.
	Workers int
}

// DefaultLoaderOptions returns the options mlsync runs with.
func DefaultLoaderOptions() LoaderOptions {
	return LoaderOptions{MaxFileSize: DefaultMaxFileSize}
}

// Loader validates spec files against the embedded schema. It caches the
// result of each file by path and content, so re-loading a repository
// where one file changed re-validates one file. A Loader is safe for
// concurrent use.
type Loader struct {
	opts LoaderOptions
	// evaluators holds idle evaluators; a CUE context is not safe for
	// concurrent use, so each worker takes one of its own.
	evaluators chan *evaluator
	made       int
	mu         sync.Mutex
	cache      map[string]*fileResult
}

// evaluator is a CUE context with the schema compiled into it.
type evaluator struct {
	ctx     *cue.Context
	schemas map[Kind]cue.Value
	// uses counts the files evaluated: a CUE context keeps every file it
	// built reachable, so an evaluator is replaced after recycleAfter
	// files (compiling the schema again costs about 3 ms).
	uses int
}

const recycleAfter = 64

// fileResult is what one file declares, or what is wrong with it.
type fileResult struct {
	models    []Model
	pipelines []Pipeline
	errs      Errors
}

// NewLoader compiles the embedded schema and returns a Loader.
func NewLoader(opts LoaderOptions) (*Loader, error) {
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	l := &Loader{opts: opts, evaluators: make(chan *evaluator, opts.Workers), cache: map[string]*fileResult{}}
	ev, err := newEvaluator()
	if err != nil {
		return nil, err
	}
	l.made = 1
	l.evaluators <- ev
	return l, nil
}

func newEvaluator() (*evaluator, error) {
	ctx := cuecontext.New()
	schema, err := compileSchema(ctx)
	if err != nil {
		return nil, err
	}
	ev := &evaluator{ctx: ctx, schemas: map[Kind]cue.Value{}}
	for _, k := range Kinds {
		def := schema.LookupPath(cue.MakePath(cue.Def(string(k))))
		if err := def.Err(); err != nil {
			return nil, fmt.Errorf("embedded schema has no #%s: %w", k, err)
		}
		ev.schemas[k] = def
	}
	return ev, nil
}

// take returns an idle evaluator, making one when fewer than Workers exist.
func (l *Loader) take() (*evaluator, error) {
	select {
	case ev := <-l.evaluators:
		return ev, nil
	default:
	}
	l.mu.Lock()
	canMake := l.made < l.opts.Workers
	if canMake {
		l.made++
	}
	l.mu.Unlock()
	if !canMake {
		return <-l.evaluators, nil
	}
	ev, err := newEvaluator()
	if err != nil {
		l.mu.Lock()
		l.made--
		l.mu.Unlock()
		return nil, err
	}
	return ev, nil
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
		f, err := parser.ParseFile(schemaFilePrefix+e.Name(), data, parser.ParseComments)
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

// schemaFilePrefix names the schema's files in CUE positions, so they are
// never mistaken for the user's.
const schemaFilePrefix = "mlsync-schema/"

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
// returns every problem, sorted by position, as Errors and no Set.
func (l *Loader) Load(files []File) (*Set, error) {
	files, linkErrs := resolveLinks(files)
	results := make([]*fileResult, len(files))
	var todo []int
	for i, f := range files {
		if !IsSpecFile(f.Path) {
			continue
		}
		if r := l.cached(f); r != nil {
			results[i] = r
			continue
		}
		todo = append(todo, i)
	}
	if err := l.evalAll(files, todo, results); err != nil {
		return nil, err
	}

	var set Set
	errs := linkErrs
	for _, r := range results {
		if r == nil {
			continue
		}
		errs = append(errs, r.errs...)
		set.Models = append(set.Models, r.models...)
		set.Pipelines = append(set.Pipelines, r.pipelines...)
	}
	sortSet(&set)
	errs = append(errs, crossCheck(&set)...)
	if len(errs) > 0 {
		errs.sort()
		return nil, errs
	}
	return &set, nil
}

func cacheKey(f File) string {
	sum := sha256.Sum256(f.Data)
	return f.Path + "\x00" + hex.EncodeToString(sum[:])
}

func (l *Loader) cached(f File) *fileResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cache[cacheKey(f)]
}

// evalAll evaluates files[i] for each i in todo, in parallel, into
// results and the cache.
func (l *Loader) evalAll(files []File, todo []int, results []*fileResult) error {
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(l.opts.Workers, len(todo)) {
		ev, err := l.take()
		if err != nil {
			close(work)
			wg.Wait()
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { l.evaluators <- ev }() // the latest, after recycling
			for i := range work {
				if ev.uses >= recycleAfter {
					if fresh, err := newEvaluator(); err == nil {
						ev = fresh
					}
				}
				ev.uses++
				r := ev.evalFile(files[i], l.opts.MaxFileSize)
				results[i] = r
				l.mu.Lock()
				l.cache[cacheKey(files[i])] = r
				l.mu.Unlock()
			}
		}()
	}
	for _, i := range todo {
		work <- i
	}
	close(work)
	wg.Wait()
	return nil
}

// resolveLinks replaces each symbolic link by the file it points to and
// reports links that leave the spec root or point at nothing.
func resolveLinks(files []File) ([]File, Errors) {
	byPath := make(map[string]File, len(files))
	hasLinks := false
	for _, f := range files {
		byPath[f.Path] = f
		hasLinks = hasLinks || f.Link != ""
	}
	if !hasLinks {
		return files, nil
	}
	var errs Errors
	out := make([]File, 0, len(files))
	for _, f := range files {
		if f.Link == "" {
			out = append(out, f)
			continue
		}
		if !IsSpecFile(f.Path) {
			continue
		}
		target, ok := linkTarget(f.Path, f.Link)
		if !ok {
			errs = append(errs, &Error{Pos: Position{File: f.Path},
				Msg: fmt.Sprintf("symbolic link points outside the spec root (to %q)", f.Link)})
			continue
		}
		t, ok := byPath[target]
		for hops := 0; ok && t.Link != "" && hops < 8; hops++ {
			next, inside := linkTarget(t.Path, t.Link)
			if !inside {
				ok = false
				break
			}
			t, ok = byPath[next]
		}
		if !ok || t.Link != "" {
			errs = append(errs, &Error{Pos: Position{File: f.Path},
				Msg: fmt.Sprintf("symbolic link target %q is not a file of the spec root", f.Link)})
			continue
		}
		out = append(out, File{Path: f.Path, Data: t.Data})
	}
	return out, errs
}

// linkTarget resolves a link's target relative to the link's folder and
// reports whether it stays inside the root.
func linkTarget(linkPath, target string) (string, bool) {
	if path.IsAbs(target) {
		return "", false
	}
	p := path.Clean(path.Join(path.Dir(linkPath), target))
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", false
	}
	return p, true
}

func sortSet(set *Set) {
	sort.SliceStable(set.Models, func(i, j int) bool {
		a, b := set.Models[i], set.Models[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	sort.SliceStable(set.Pipelines, func(i, j int) bool {
		a, b := set.Pipelines[i], set.Pipelines[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
}
