package spec

import (
	"strconv"
	"strings"

	"cuelang.org/go/cue/ast"
)

// positions maps the paths of a user's document ("stages[1].name") to
// where they are written, for errors found after CUE validation.
type positions struct {
	file string
	at_  map[string]Position
	doc  Position
}

// astPositions records the position of every field and list element of
// a document's syntax.
func astPositions(file string, f *ast.File) positions {
	p := positions{file: file, at_: map[string]Position{}, doc: Position{File: file}}
	if len(f.Decls) > 0 {
		if pos := f.Decls[0].Pos(); pos.IsValid() {
			p.doc = Position{File: file, Line: pos.Line(), Column: pos.Column()}
		}
	}
	p.decls("", f.Decls)
	return p
}

func (p positions) decls(prefix string, decls []ast.Decl) {
	for _, d := range decls {
		switch x := d.(type) {
		case *ast.Field:
			name := labelName(x.Label)
			if name == "" {
				continue
			}
			path := name
			if prefix != "" {
				path = prefix + "." + name
			}
			if pos := x.Label.Pos(); pos.IsValid() {
				p.at_[path] = Position{File: p.file, Line: pos.Line(), Column: pos.Column()}
			}
			p.expr(path, x.Value)
		case *ast.EmbedDecl:
			p.expr(prefix, x.Expr)
		}
	}
}

func (p positions) expr(path string, e ast.Expr) {
	switch x := e.(type) {
	case *ast.StructLit:
		p.decls(path, x.Elts)
	case *ast.ListLit:
		for i, el := range x.Elts {
			ep := path + "[" + strconv.Itoa(i) + "]"
			if pos := el.Pos(); pos.IsValid() {
				p.at_[ep] = Position{File: p.file, Line: pos.Line(), Column: pos.Column()}
			}
			p.expr(ep, el)
		}
	}
}

// at returns the position of path, or of its nearest written ancestor,
// or of the document.
func (p positions) at(path string) Position {
	for path != "" {
		if pos, ok := p.at_[path]; ok {
			return pos
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return p.doc
}
