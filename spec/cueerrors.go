package spec

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"
)

// maxErrorRounds bounds how many times allErrors re-validates a file.
const maxErrorRounds = 32

// allErrors collects every error of a document that failed validation.
// CUE reports only the first kind of error it meets (unknown fields hide
// missing ones), so each round removes the fields already reported from
// the user's syntax and validates again, until nothing new turns up.
func (ev *evaluator) allErrors(file string, syntax *ast.File, def, user cue.Value, err error) Errors {
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
		v := ev.ctx.BuildFile(syntax)
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

// convertErrors turns CUE's errors into Errors positioned in the user's
// file, one per field. CUE reports positions in both the schema and the
// user's file; only the user's are useful to the user. When an error has
// none (a required field the user left out), the nearest enclosing field
// the user did write gives the position.
func convertErrors(file string, err error, user cue.Value) Errors {
	var cueErr cueerrors.Error
	if !errors.As(err, &cueErr) {
		return Errors{plainError(file, err)}
	}
	type field struct {
		err  *Error
		rank int
		alts []alternative // enum members the user's value conflicts with
	}
	var order []string
	fields := map[string]*field{}
	for _, ce := range cueerrors.Errors(err) {
		sels := trimDef(ce.Path())
		format, args := ce.Msg()
		msg := fmt.Sprintf(format, args...)
		if strings.HasSuffix(msg, "errors in empty disjunction:") {
			continue
		}
		e := &Error{Path: formatPath(sels), Msg: plainMessage(msg), Pos: userPosition(file, ce, user)}
		if msg == "field not allowed" && len(sels) >= 2 {
			if why, ok := patternKeys[sels[len(sels)-2]]; ok {
				e.Msg = why
			}
		}
		if m := mismatchedTypes.FindStringSubmatch(msg); m != nil {
			e.Msg = mismatchMessage(m, userLiteral(user, e.Path))
		}
		f, ok := fields[e.Path]
		if !ok {
			f = &field{err: e, rank: rank(msg)}
			fields[e.Path] = f
			order = append(order, e.Path)
		} else if r := rank(msg); r > f.rank {
			f.err, f.rank = e, r
		}
		if alt, ok := enumAlternative(file, msg, ce, user, sels); ok {
			f.alts = append(f.alts, alt)
		}
	}
	var errs Errors
	for _, p := range order {
		f := fields[p]
		// Several "conflicting values" at one field are the members of an
		// enum; a bound ("must be >=0") says more than the default value a
		// bound's disjunction carries.
		if len(f.alts) > 0 && f.rank < 3 {
			f.err.Msg = enumMessage(f.alts, userLiteral(user, f.err.Path))
		}
		errs = append(errs, f.err)
	}
	if len(errs) == 0 {
		errs = Errors{plainError(file, err)}
	}
	return errs
}

// lineError matches the "file:line: message" errors of the YAML parser.
var lineError = regexp.MustCompile(`^(.+):([0-9]+): (.+)$`)

// plainError positions an error that is not a CUE error, such as the YAML
// parser's.
func plainError(file string, err error) *Error {
	msg := err.Error()
	if m := lineError.FindStringSubmatch(msg); m != nil && m[1] == file {
		line, _ := strconv.Atoi(m[2])
		return &Error{Pos: Position{File: file, Line: line}, Msg: "invalid YAML: " + m[3]}
	}
	return &Error{Pos: Position{File: file}, Msg: strings.TrimPrefix(msg, file+": ")}
}

// alternative is one enum member and where the schema writes it.
type alternative struct {
	text   string
	offset int
}

var conflicting = regexp.MustCompile(`^conflicting values (.+) and (.+)$`)

// enumAlternative extracts the schema's side of a "conflicting values A
// and B" error between two literals.
func enumAlternative(file, msg string, ce cueerrors.Error, user cue.Value, sels []string) (alternative, bool) {
	m := conflicting.FindStringSubmatch(msg)
	if m == nil || strings.Contains(msg, "mismatched types") {
		return alternative{}, false
	}
	got := userLiteral(user, formatPath(sels))
	var alt string
	switch got {
	case m[1]:
		alt = m[2]
	case m[2]:
		alt = m[1]
	default:
		return alternative{}, false
	}
	// The literal itself is the schema position written last.
	offset := -1
	for _, p := range ce.InputPositions() {
		if p.IsValid() && p.Filename() != file && p.Offset() > offset {
			offset = p.Offset()
		}
	}
	return alternative{text: alt, offset: offset}, true
}

// enumMessage says which values a field takes, in the schema's order.
func enumMessage(alts []alternative, got string) string {
	sort.SliceStable(alts, func(i, j int) bool { return alts[i].offset < alts[j].offset })
	seen := map[string]bool{}
	var names []string
	for _, a := range alts {
		if seen[a.text] {
			continue
		}
		seen[a.text] = true
		if s, err := strconv.Unquote(a.text); err == nil {
			names = append(names, s)
		} else {
			names = append(names, a.text)
		}
	}
	if len(names) == 1 {
		return fmt.Sprintf("must be %s; got %s", alts[0].text, got)
	}
	return fmt.Sprintf("must be one of %s; got %s", strings.Join(names, ", "), got)
}

// userLiteral is the user's value at path, as CUE prints a literal.
func userLiteral(user cue.Value, p string) string {
	if !user.Exists() || p == "" {
		return ""
	}
	v := user.LookupPath(cue.ParsePath(quotePathString(p)))
	if !v.Exists() || !v.IsConcrete() {
		return ""
	}
	switch v.Kind() {
	case cue.StringKind:
		s, _ := v.String()
		return strconv.Quote(s)
	case cue.IntKind, cue.FloatKind, cue.BoolKind, cue.NullKind:
		return fmt.Sprint(v)
	}
	return ""
}

// trimDef drops the schema definition (#Model) that starts CUE's paths.
func trimDef(sels []string) []string {
	if len(sels) > 0 && strings.HasPrefix(sels[0], "#") {
		return sels[1:]
	}
	return sels
}

// rank orders CUE's messages for one field from least to most telling:
// a violated bound or validator, then a wrong type, then a conflict with
// one literal (often only a default).
func rank(msg string) int {
	switch {
	case strings.HasPrefix(msg, "invalid value"):
		return 3
	case strings.Contains(msg, "mismatched types"):
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
		// A field missing at the top: the document's first field.
		if it, err := user.Fields(cue.All()); err == nil && it.Next() {
			if p := position(file, it.Value()); p.Line > 0 {
				return Position{File: file, Line: p.Line, Column: 1}
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

// quotePathString turns a formatted path (a.b[1].c) back into a CUE path.
func quotePathString(p string) string {
	return quotePath(splitPath(p))
}

// splitPath splits a formatted path into selectors: a.b[1].c -> a b 1 c.
func splitPath(p string) []string {
	var sels []string
	for _, part := range strings.Split(p, ".") {
		for part != "" {
			i := strings.IndexByte(part, '[')
			if i < 0 {
				sels = append(sels, part)
				break
			}
			if i > 0 {
				sels = append(sels, part[:i])
			}
			j := strings.IndexByte(part[i:], ']')
			if j < 0 {
				sels = append(sels, part[i:])
				break
			}
			sels = append(sels, part[i+1:i+j])
			part = part[i+j+1:]
		}
	}
	return sels
}

var (
	outOfBound      = regexp.MustCompile(`^invalid value (.*) \(out of bound (.*)\)$`)
	mismatchedTypes = regexp.MustCompile(`^conflicting values (.+) and (.+) \(mismatched types ([a-z]+) and ([a-z]+)\)$`)
)

// mismatchMessage says which type a field wants, given CUE's "conflicting
// values A and B (mismatched types TA and TB)" and the user's literal.
func mismatchMessage(m []string, got string) string {
	a, b, ta, tb := m[1], m[2], m[3], m[4]
	switch {
	case got != "" && got == a:
		return fmt.Sprintf("must be %s; got %s %s", typeName(tb), ta, a)
	case got != "" && got == b:
		return fmt.Sprintf("must be %s; got %s %s", typeName(ta), tb, b)
	case isTypeName(b) && !isTypeName(a):
		return fmt.Sprintf("must be %s; got %s %s", typeName(tb), ta, a)
	case isTypeName(a) && !isTypeName(b):
		return fmt.Sprintf("must be %s; got %s %s", typeName(ta), tb, b)
	}
	return fmt.Sprintf("must be %s, not %s", typeName(ta), typeName(tb))
}

// patternKeys says what the keys of the schema's pattern-constrained maps
// must look like: CUE reports a key that does not match as "field not
// allowed", which would read as a misspelled field name.
var patternKeys = map[string]string{
	"env":        "must be an environment variable name (letters, digits and '_', not starting with a digit)",
	"params":     "must be an identifier (a letter, then letters, digits and '_')",
	"thresholds": "must be a metric name: an identifier (a letter, then letters, digits and '_')",
}

// Schema regular expressions as CUE prints them, and what they mean.
var patternMeaning = map[string]string{
	`=~"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"`:                        "must be a DNS-1123 label (lower-case letters, digits and '-', starting and ending with a letter or digit)",
	`=~"^[A-Za-z][A-Za-z0-9_]*$"`:                                "must be an identifier (a letter, then letters, digits and '_')",
	`=~"^v[1-9][0-9]*$"`:                                         "must be a model version such as v1 or v12",
	`=~"^[a-z][a-z0-9+.-]*://[^\\s]+$"`:                          "must be an absolute URI such as s3://bucket/path",
	`=~"^[a-z0-9][^\\s]*$"`:                                      "must be a container image reference such as ghcr.io/acme/train:1.0",
	`=~"^[0-9]+(\\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"`: "must be a resource quantity such as 500m, 2 or 4Gi",
	`=~"^(@(hourly|daily|weekly|monthly)|@every [0-9][0-9a-z.]*|(\\S+\\s+){4}\\S+)$"`: "must be a schedule: five cron fields, @hourly, @daily, @weekly, @monthly or \"@every 30m\"",
}

// plainMessage rewrites CUE's messages into what a user can act on.
func plainMessage(msg string) string {
	switch {
	case msg == "field not allowed":
		return "unknown field"
	case strings.HasPrefix(msg, "incomplete value"):
		return "required field is missing"
	case strings.HasPrefix(msg, "invalid value") && strings.Contains(msg, "does not satisfy time.Duration"):
		return "must be a duration such as 90s, 15m or 2h30m" + gotValue(msg)
	case strings.Contains(msg, "does not satisfy list.MinItems(1)") || strings.Contains(msg, "len(list) < MinItems(1)"):
		return "must have at least one element"
	case maxRunes.MatchString(msg):
		m := maxRunes.FindStringSubmatch(msg)
		return fmt.Sprintf("must be at most %s characters; got %d", m[2], len([]rune(unquote(m[1]))))
	case strings.HasSuffix(msg, `(out of bound !="")`):
		return "must not be empty"
	}
	if m := outOfBound.FindStringSubmatch(msg); m != nil {
		if meaning, ok := patternMeaning[m[2]]; ok {
			return meaning + "; got " + m[1]
		}
		return fmt.Sprintf("must be %s; got %s", m[2], m[1])
	}
	if m := mismatchedTypes.FindStringSubmatch(msg); m != nil {
		return mismatchMessage(m, "")
	}
	if m := conflicting.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("must be %s; got %s", m[1], m[2])
	}
	return msg
}

func isTypeName(s string) bool {
	switch s {
	case "int", "float", "number", "string", "bool", "struct", "list", "null", "bytes":
		return true
	}
	return false
}

func typeName(s string) string {
	switch s {
	case "struct":
		return "a mapping"
	case "list":
		return "a list"
	case "int":
		return "an integer"
	case "number", "float":
		return "a number"
	case "bool":
		return "true or false"
	case "string":
		return "a string"
	}
	return s
}

var maxRunes = regexp.MustCompile(`^invalid value (".*") \(does not satisfy strings.MaxRunes\(([0-9]+)\)\)$`)

func unquote(s string) string {
	if u, err := strconv.Unquote(s); err == nil {
		return u
	}
	return s
}

var invalidValue = regexp.MustCompile(`^invalid value (.*?) \(`)

func gotValue(msg string) string {
	if m := invalidValue.FindStringSubmatch(msg); m != nil {
		return "; got " + m[1]
	}
	return ""
}
