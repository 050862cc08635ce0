package spec

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"unicode/utf8"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/parser"
	cueyaml "cuelang.org/go/encoding/yaml"
)

// document is one spec's syntax: a whole CUE file, or one document of a
// YAML stream.
type document struct {
	file  *ast.File
	index int
}

// evalFile validates every document of f and decodes the specs.
func (ev *evaluator) evalFile(f File, maxSize int) *fileResult {
	fileErr := func(format string, args ...any) *fileResult {
		return &fileResult{errs: Errors{{Pos: Position{File: f.Path}, Msg: fmt.Sprintf(format, args...)}}}
	}
	switch {
	case maxSize > 0 && len(f.Data) > maxSize:
		return fileErr("file is %d bytes, over the %d-byte limit for spec files", len(f.Data), maxSize)
	case !utf8.Valid(f.Data):
		return fileErr("file is not valid UTF-8 text")
	case bytes.IndexByte(f.Data, 0) >= 0:
		return fileErr("file contains NUL bytes; spec files are text")
	case len(bytes.TrimSpace(f.Data)) == 0:
		return fileErr("file is empty; want a spec with a kind field (one of: %s)", kindList())
	}
	docs, err := parse(f)
	if err != nil {
		return &fileResult{errs: convertErrors(f.Path, err, cue.Value{})}
	}
	r := &fileResult{}
	for _, d := range docs {
		ev.evalDoc(f.Path, d, r)
	}
	return r
}

// parse returns the documents of a spec file.
func parse(f File) ([]document, error) {
	if path.Ext(f.Path) == ".cue" {
		file, err := parser.ParseFile(f.Path, f.Data, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		return []document{{file: file}}, nil
	}
	dec := cueyaml.NewDecoder(f.Path, bytes.NewReader(f.Data))
	var docs []document
	for i := 0; ; i++ {
		expr, err := dec.Extract()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		file, err := astutilToFile(expr)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", f.Path, i+1, err)
		}
		docs = append(docs, document{file: file, index: i})
	}
	return docs, nil
}

// astutilToFile wraps a YAML document's expression as a file. Documents
// that are not mappings (a bare scalar or list) become a file holding
// that value, which the kind check then reports.
func astutilToFile(expr ast.Expr) (*ast.File, error) {
	if s, ok := expr.(*ast.StructLit); ok {
		return &ast.File{Decls: s.Elts}, nil
	}
	return &ast.File{Decls: []ast.Decl{&ast.EmbedDecl{Expr: expr}}}, nil
}

// evalDoc validates one document and appends its spec or errors to r.
func (ev *evaluator) evalDoc(file string, d document, r *fileResult) {
	errorf := func(pos Position, p, format string, args ...any) {
		r.errs = append(r.errs, &Error{Pos: pos, Path: p, Msg: fmt.Sprintf(format, args...)})
	}
	docPos := Position{File: file}
	if len(d.file.Decls) > 0 {
		if p := d.file.Decls[0].Pos(); p.IsValid() {
			docPos = Position{File: file, Line: p.Line(), Column: p.Column()}
		}
	}
	v := ev.ctx.BuildFile(d.file)
	if err := v.Err(); err != nil {
		r.errs = append(r.errs, convertErrors(file, err, v)...)
		return
	}
	if v.IncompleteKind() != cue.StructKind {
		errorf(docPos, "", "want a mapping with a kind field (one of: %s), got %s", kindList(), v.IncompleteKind())
		return
	}
	kindV := v.LookupPath(cue.ParsePath("kind"))
	if !kindV.Exists() {
		errorf(docPos, "", "no kind field; want one of: %s", kindList())
		return
	}
	kind, err := kindV.String()
	if err != nil {
		errorf(position(file, kindV), "kind", "must be a string, one of: %s", kindList())
		return
	}
	def, ok := ev.schemas[Kind(kind)]
	if !ok {
		errorf(position(file, kindV), "kind", "unknown kind %q; want one of: %s", kind, kindList())
		return
	}
	unified := def.Unify(v)
	// Exporting to JSON fails on any error or incomplete value, so a
	// valid spec is checked and exported in one walk; only a failed
	// export pays for Validate, which collects the errors to report.
	if err := unified.Validate(cue.Concrete(true), cue.Final()); err != nil {
		r.errs = append(r.errs, ev.allErrors(file, d.file, def, v, err)...)
		return
	}
	js, err := unified.MarshalJSON()
	if err != nil {
		r.errs = append(r.errs, convertErrors(file, err, unified)...)
		return
	}
	if err := decode(file, d, Kind(kind), js, r); err != nil {
		r.errs = append(r.errs, convertErrors(file, err, unified)...)
	}
}

// decode turns a validated value into its Go spec, with its source.
func decode(file string, d document, kind Kind, js []byte, r *fileResult) error {
	sum := sha256.Sum256(js)
	positions := astPositions(file, d.file)
	src := Source{
		File: file, Doc: d.index, Hash: hex.EncodeToString(sum[:]),
		NamePos: positions.at("name"),
		pos:     positions.at,
	}
	// One JSON encoding gives both the hash and the Go value: decoding
	// straight from CUE walks the value a second time, at twice the cost.
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	switch kind {
	case KindModel:
		var m Model
		if err := dec.Decode(&m); err != nil {
			return fmt.Errorf("decoding model: %w", err)
		}
		m.Source = src
		for i := range m.Stages {
			if m.Stages[i].Namespace == "" {
				m.Stages[i].Namespace = stageNamespace(m.Namespace, m.Stages[i].Name)
			}
		}
		r.models = append(r.models, m)
	case KindPipeline:
		var p Pipeline
		if err := dec.Decode(&p); err != nil {
			return fmt.Errorf("decoding pipeline: %w", err)
		}
		p.Source = src
		r.pipelines = append(r.pipelines, p)
	default:
		return fmt.Errorf("kind %q has no decoder", kind)
	}
	return nil
}

// stageNamespace is a stage's namespace when the spec leaves it out:
// "<model namespace>-<stage>", cut to a valid label.
func stageNamespace(modelNS, stage string) string {
	ns := modelNS + "-" + stage
	if len(ns) > 63 {
		ns = strings.TrimRight(ns[:63], "-")
	}
	return ns
}

func kindList() string {
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}
