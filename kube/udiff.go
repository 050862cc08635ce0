package kube

import (
	"fmt"
	"strings"
)

// UnifiedDiff returns a unified diff (3 lines of context) turning a into
// b, with the given file names; "" when they are equal.
func UnifiedDiff(nameA, nameB, a, b string) string { return unifiedDiff(nameA, nameB, a, b) }

func unifiedDiff(nameA, nameB, a, b string) string {
	if a == b {
		return ""
	}
	la, lb := splitLines(a), splitLines(b)
	ops := diffLines(la, lb)
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", nameA, nameB)
	const context = 3
	// Walk the edit script, emitting hunks around changes.
	i := 0
	for i < len(ops) {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		start := max(i-context, 0)
		end := i
		for end < len(ops) {
			if ops[end].kind != ' ' {
				end++
				continue
			}
			run := end
			for run < len(ops) && ops[run].kind == ' ' {
				run++
			}
			if run-end > 2*context || run == len(ops) {
				end = min(end+context, len(ops))
				break
			}
			end = run
		}
		writeHunk(&out, ops[start:end])
		i = end
	}
	return out.String()
}

type diffOp struct {
	kind       byte // ' ', '-', '+'
	line       string
	posA, posB int // 1-based line numbers in a and b before this op
}

func writeHunk(out *strings.Builder, ops []diffOp) {
	var nA, nB int
	for _, op := range ops {
		if op.kind != '+' {
			nA++
		}
		if op.kind != '-' {
			nB++
		}
	}
	startA, startB := ops[0].posA, ops[0].posB
	if nA == 0 {
		startA--
	}
	if nB == 0 {
		startB--
	}
	fmt.Fprintf(out, "@@ -%d,%d +%d,%d @@\n", startA, nA, startB, nB)
	for _, op := range ops {
		out.WriteByte(op.kind)
		out.WriteString(op.line)
		out.WriteByte('\n')
	}
}

func splitLines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// diffLines computes an edit script by longest common subsequence; for
// inputs too large for the table it replaces a by b wholesale.
func diffLines(a, b []string) []diffOp {
	if len(a)*len(b) > 4_000_000 {
		var ops []diffOp
		for i, l := range a {
			ops = append(ops, diffOp{'-', l, i + 1, 1})
		}
		for j, l := range b {
			ops = append(ops, diffOp{'+', l, len(a) + 1, j + 1})
		}
		return ops
	}
	// lcs[i][j] = LCS length of a[i:] and b[j:].
	lcs := make([][]int32, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int32, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var ops []diffOp
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			ops = append(ops, diffOp{' ', a[i], i + 1, j + 1})
			i, j = i+1, j+1
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, diffOp{'-', a[i], i + 1, j + 1})
			i++
		default:
			ops = append(ops, diffOp{'+', b[j], i + 1, j + 1})
			j++
		}
	}
	return ops
}
