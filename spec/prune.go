package spec

import (
	"strconv"

	"cuelang.org/go/cue/ast"
)

// removeField deletes the field at sels (CUE path selectors) from a user
// file's syntax tree and reports whether it found one. The loader uses it
// to look past one error to the next: CUE stops at the first kind of
// error it meets, while users want every error at once.
func removeField(f *ast.File, sels []string) bool {
	return removeIn(&f.Decls, sels)
}

func removeIn(decls *[]ast.Decl, sels []string) bool {
	if len(sels) == 0 {
		return false
	}
	for j, d := range *decls {
		field, ok := d.(*ast.Field)
		if !ok || labelName(field.Label) != sels[0] {
			continue
		}
		if len(sels) == 1 {
			*decls = append((*decls)[:j:j], (*decls)[j+1:]...)
			return true
		}
		return removeInExpr(field.Value, sels[1:])
	}
	return false
}

func removeInExpr(v ast.Expr, sels []string) bool {
	switch x := v.(type) {
	case *ast.StructLit:
		return removeIn(&x.Elts, sels)
	case *ast.ListLit:
		n, err := strconv.Atoi(sels[0])
		if err != nil || n < 0 || n >= len(x.Elts) {
			return false
		}
		if len(sels) == 1 {
			x.Elts = append(x.Elts[:n:n], x.Elts[n+1:]...)
			return true
		}
		return removeInExpr(x.Elts[n], sels[1:])
	}
	return false
}

func labelName(l ast.Label) string {
	switch x := l.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.BasicLit:
		if s, err := strconv.Unquote(x.Value); err == nil {
			return s
		}
		return x.Value
	}
	return ""
}
