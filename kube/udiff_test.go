package kube

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestUnifiedDiff(t *testing.T) {
	a := "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: \"1\"\n  b: \"2\"\n  c: \"3\"\nmetadata:\n  name: x\n"
	b := "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: \"1\"\n  b: \"20\"\n  c: \"3\"\nmetadata:\n  name: x\n"
	want := `--- live
+++ git
@@ -2,7 +2,7 @@
 kind: ConfigMap
 data:
   a: "1"
-  b: "2"
+  b: "20"
   c: "3"
 metadata:
   name: x
`
	if diff := cmp.Diff(want, unifiedDiff("live", "git", a, b)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := unifiedDiff("a", "b", a, a); got != "" {
		t.Errorf("equal inputs gave a diff:\n%s", got)
	}
	created := unifiedDiff("/dev/null", "git", "", "x: 1\n")
	if !strings.Contains(created, "@@ -0,0 +1,1 @@\n+x: 1\n") {
		t.Errorf("creation diff:\n%s", created)
	}
}

// TestUnifiedDiffApplies checks on random inputs that applying the hunks
// to a gives b.
func TestUnifiedDiffApplies(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	words := []string{"a", "b", "c", "d", "e"}
	gen := func() string {
		n := rng.Intn(40)
		var lines []string
		for range n {
			lines = append(lines, words[rng.Intn(len(words))])
		}
		if n == 0 {
			return ""
		}
		return strings.Join(lines, "\n") + "\n"
	}
	for i := range 500 {
		a, b := gen(), gen()
		d := unifiedDiff("a", "b", a, b)
		if got := applyUnified(t, a, d); got != b {
			t.Fatalf("case %d: patch(a) != b\na=%q\nb=%q\ndiff:\n%s\ngot=%q", i, a, b, d, got)
		}
	}
}

// applyUnified applies a unified diff to a, checking context lines.
func applyUnified(t *testing.T, a, d string) string {
	t.Helper()
	if d == "" {
		return a
	}
	src := splitLines(a)
	var out []string
	pos := 0 // next unread line of src
	lines := splitLines(d)[2:]
	for i := 0; i < len(lines); {
		var startA, nA, startB, nB int
		if _, err := fmtSscanf(lines[i], &startA, &nA, &startB, &nB); err != nil {
			t.Fatalf("bad hunk header %q: %v", lines[i], err)
		}
		if nA == 0 {
			startA++
		}
		out = append(out, src[pos:startA-1]...)
		pos = startA - 1
		i++
		for i < len(lines) && !strings.HasPrefix(lines[i], "@@") {
			l := lines[i]
			switch l[0] {
			case ' ', '-':
				if src[pos] != l[1:] {
					t.Fatalf("context mismatch at line %d: %q vs %q", pos+1, src[pos], l[1:])
				}
				if l[0] == ' ' {
					out = append(out, src[pos])
				}
				pos++
			case '+':
				out = append(out, l[1:])
			}
			i++
		}
	}
	out = append(out, src[pos:]...)
	if len(out) == 0 {
		return ""
	}
	return strings.Join(out, "\n") + "\n"
}

func fmtSscanf(s string, a, b, c, d *int) (int, error) {
	return fmt.Sscanf(s, "@@ -%d,%d +%d,%d @@", a, b, c, d)
}
