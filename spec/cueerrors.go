package spec

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"
)

// convertErrors turns CUE's errors into Errors positioned in the user's
// file. CUE reports positions in both the schema and the user's file; only
// the user's are useful to the user. When an error has none (a required
// field the user left out), the nearest enclosing field the user did write
// gives the position.
func convertErrors(file string, err error, user cue.Value) Errors {
	// CUE reports one error per failed disjunct: for `int & >=0 | *1`
	// given -1, both "conflicting values 1 and -1" and "out of bound
	// >=0". Keep the most telling message per field.
	var errs Errors
	best := map[string]int{} // path -> index in errs
	for _, ce := range cueerrors.Errors(err) {
		sels := trimDef(ce.Path())
		format, args := ce.Msg()
		e := &Error{Path: formatPath(sels), Msg: fmt.Sprintf(format, args...)}
		if strings.HasSuffix(e.Msg, "errors in empty disjunction:") {
			continue
		}
		e.Msg = plainMessage(e.Msg)
		e.Pos = userPosition(file, ce, user)
		key := e.Path
		if i, ok := best[key]; ok {
			if rank(e.Msg) > rank(errs[i].Msg) {
				errs[i] = e
			}
			continue
		}
		best[key] = len(errs)
		errs = append(errs, e)
	}
	if len(errs) == 0 {
		errs = Errors{{Pos: Position{File: file}, Msg: err.Error()}}
	}
	return errs
}

// trimDef drops the schema definition (#Model) that starts CUE's paths.
func trimDef(sels []string) []string {
	if len(sels) > 0 && strings.HasPrefix(sels[0], "#") {
		return sels[1:]
	}
	return sels
}

// rank orders CUE messages for one field from least to most telling.
func rank(msg string) int {
	switch {
	case strings.HasPrefix(msg, "must be") && !strings.Contains(msg, "must be int;"):
		return 3
	case strings.HasPrefix(msg, "must be"):
		return 2
	case strings.HasPrefix(msg, "conflicting values"):
		return 1
	}
	return 0
}

func userPosition(file string, ce cueerrors.Error, user cue.Value) Position {
	var best token.Pos
	for _, p := range append([]token.Pos{ce.Position()}, ce.InputPositions()...) {
		if p.IsValid() && p.Filename() == file {
			if !best.IsValid() || p.Offset() > best.Offset() {
				best = p
			}
		}
	}
	if best.IsValid() {
		return Position{File: file, Line: best.Line(), Column: best.Column()}
	}
	if user.Exists() {
		sels := trimDef(ce.Path())
		for n := len(sels); n > 0; n-- {
			if v := user.LookupPath(cue.ParsePath(quotePath(sels[:n]))); v.Exists() {
				if p := position(file, v); p.Line > 0 {
					return p
				}
			}
		}
	}
	return Position{File: file}
}

// position is where a value of the user's file is written.
func position(file string, v cue.Value) Position {
	if !v.Exists() {
		return Position{File: file}
	}
	p := v.Pos()
	if !p.IsValid() || p.Filename() != file {
		return Position{File: file}
	}
	return Position{File: file, Line: p.Line(), Column: p.Column()}
}

// formatPath renders CUE path selectors as a.b[1].c.
func formatPath(sels []string) string {
	var b strings.Builder
	for _, s := range sels {
		if _, err := strconv.Atoi(s); err == nil {
			fmt.Fprintf(&b, "[%s]", s)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

func quotePath(sels []string) string {
	parts := make([]string, len(sels))
	for i, s := range sels {
		if _, err := strconv.Atoi(s); err == nil {
			parts[i] = "[" + s + "]"
			continue
		}
		parts[i] = strconv.Quote(s)
	}
	return strings.ReplaceAll(strings.Join(parts, "."), ".[", "[")
}

var (
	outOfBound = regexp.MustCompile(`^invalid value (.*) \(out of bound (.*)\)$`)
	mismatched = regexp.MustCompile(`^conflicting values (.*) and ([a-z]+) \(mismatched types ([a-z]+) and [a-z]+\)$`)
)

// dnsLabelBound is the schema's #Name regular expression as CUE prints it.
const dnsLabelBound = `=~"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"`

// plainMessage rewrites CUE's messages into what a user can act on.
func plainMessage(msg string) string {
	switch {
	case msg == "field not allowed":
		return "unknown field"
	case strings.HasPrefix(msg, "incomplete value"):
		return "required field is missing"
	}
	if m := outOfBound.FindStringSubmatch(msg); m != nil {
		if m[2] == dnsLabelBound {
			return "must be a DNS-1123 label (lower-case letters, digits and '-', starting and ending with a letter or digit); got " + m[1]
		}
		return fmt.Sprintf("must be %s; got %s", m[2], m[1])
	}
	if m := mismatched.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("must be %s; got %s %s", m[2], m[3], m[1])
	}
	return msg
}
