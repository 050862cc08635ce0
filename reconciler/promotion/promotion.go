package promotion

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/mlsync/mlsync/reconciler/registry"
	"github.com/mlsync/mlsync/spec"
)

// Proposal is one version moving to one stage.
type Proposal struct {
	Model      string
	Stage      string
	StageIndex int
	// From is the stage's current pin ("" when none); To the new one.
	From, To string
	Policy   string
}

// Title is the commit subject and pull-request title.
func (p Proposal) Title() string {
	return fmt.Sprintf("promote %s %s to %s", p.Model, p.To, p.Stage)
}

// Branch is the proposal's branch: one per model, version and stage.
func (p Proposal) Branch() string {
	return BranchPrefix(p.Model) + p.To + "-" + p.Stage
}

// BranchPrefix starts every promotion branch of a model (and of models
// whose names extend it: see ParseBranch).
func BranchPrefix(model string) string { return "mlsync/promote/" + model + "-" }

// ParseBranch returns the version and stage of a promotion branch of
// model: "mlsync/promote/fraud-v8-production" gives v8 and production for
// fraud, and nothing for the model fraud-eu.
func ParseBranch(branch, model string) (version, stage string, ok bool) {
	rest, found := strings.CutPrefix(branch, BranchPrefix(model))
	if !found {
		return "", "", false
	}
	version, stage, found = strings.Cut(rest, "-")
	if !found || stage == "" || len(version) < 2 || version[0] != 'v' {
		return "", "", false
	}
	for _, c := range version[1:] {
		if c < '0' || c > '9' {
			return "", "", false
		}
	}
	return version, stage, true
}

// Next returns the promotions due for m: for each stage with an
// automatic policy (auto or pull-request), the version that should move
// there, if any.
func Next(m *spec.Model, reg *registry.Registry) []Proposal {
	var out []Proposal
	for i, s := range m.Stages {
		var candidate string
		if i == 0 {
			candidate = newestPassed(reg)
		} else {
			candidate = m.Stages[i-1].Version
			if v := reg.Get(candidate); v == nil || !v.Gate.Passed {
				candidate = "" // only versions that passed their gate move on
			}
		}
		if candidate == "" || number(candidate) <= number(s.Version) {
			continue
		}
		if s.Promotion != spec.PromotionAuto && s.Promotion != spec.PromotionPullRequest {
			continue
		}
		out = append(out, Proposal{Model: m.Name, Stage: s.Name, StageIndex: i, From: s.Version, To: candidate, Policy: s.Promotion})
	}
	return out
}

// Manual returns the proposal for `mlsync promote MODEL --to STAGE
// [--version V]`: V, or the stage before's pin, or for the first stage
// the newest version that passed its gate.
func Manual(m *spec.Model, reg *registry.Registry, stage, version string) (Proposal, error) {
	for i, s := range m.Stages {
		if s.Name != stage {
			continue
		}
		if version == "" {
			if i == 0 {
				version = newestPassed(reg)
			} else {
				version = m.Stages[i-1].Version
			}
		}
		if version == "" {
			return Proposal{}, fmt.Errorf("nothing to promote to %s: no version passed its gate yet", stage)
		}
		if reg.Get(version) == nil {
			return Proposal{}, fmt.Errorf("model %s has no version %s in the registry", m.Name, version)
		}
		if version == s.Version {
			return Proposal{}, fmt.Errorf("stage %s already serves %s", stage, version)
		}
		return Proposal{Model: m.Name, Stage: stage, StageIndex: i, From: s.Version, To: version, Policy: s.Promotion}, nil
	}
	return Proposal{}, fmt.Errorf("model %s has no stage %q", m.Name, stage)
}

func newestPassed(reg *registry.Registry) string {
	best := ""
	for _, v := range reg.Versions {
		if v.Gate.Passed && number(v.Version) > number(best) {
			best = v.Version
		}
	}
	return best
}

func number(v string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(v, "v"))
	return n
}

var (
	versionField = regexp.MustCompile(`version:(\s*)("?)v[0-9]+("?)`)
	nameField    = regexp.MustCompile(`name:\s*("[^"]*"|'[^']*'|[^,}\s]+)`)
)

// SetPin returns file's content with stage idx of model m pinned to
// version: the existing version value replaced, or a version field added
// after the stage's name, in the file's own style (CUE, YAML block or
// flow mapping).
func SetPin(data []byte, file string, m *spec.Model, idx int, version string) ([]byte, error) {
	lines := strings.SplitAfter(string(data), "\n")
	at := func(path string) (int, int, error) {
		pos := m.Source.Pos(path)
		if pos.File != file || pos.Line < 1 || pos.Line > len(lines) {
			return 0, 0, fmt.Errorf("cannot find %s of model %s in %s", path, m.Name, file)
		}
		return pos.Line - 1, pos.Column - 1, nil
	}
	if m.Stages[idx].Version != "" {
		line, col, err := at(fmt.Sprintf("stages[%d].version", idx))
		if err != nil {
			return nil, err
		}
		l := lines[line]
		loc := versionField.FindStringSubmatchIndex(l[col:])
		if loc == nil {
			return nil, fmt.Errorf("%s:%d: cannot edit the version of stage %s", file, line+1, m.Stages[idx].Name)
		}
		start, end := col+loc[0], col+loc[1]
		quote := l[col+loc[4] : col+loc[5]]
		lines[line] = l[:start] + "version:" + l[col+loc[2]:col+loc[3]] + quote + version + quote + l[end:]
		return []byte(strings.Join(lines, "")), nil
	}
	line, col, err := at(fmt.Sprintf("stages[%d].name", idx))
	if err != nil {
		return nil, err
	}
	l := lines[line]
	loc := nameField.FindStringIndex(l[col:])
	if loc == nil {
		return nil, fmt.Errorf("%s:%d: cannot find the name of stage %s", file, line+1, m.Stages[idx].Name)
	}
	end := col + loc[1]
	yaml := strings.HasSuffix(file, ".yaml") || strings.HasSuffix(file, ".yml")
	ownLine := strings.TrimSpace(l[:col]) == ""
	switch {
	case !yaml && ownLine:
		// A struct with a field per line: the pin goes on a line of its
		// own after the name, indented alike.
		if !strings.HasSuffix(l, "\n") {
			l += "\n"
		}
		lines[line] = l + l[:col] + fmt.Sprintf("version: %q\n", version)
	case !yaml:
		lines[line] = l[:end] + fmt.Sprintf(", version: %q", version) + l[end:]
	case strings.Contains(l[:col], "{"):
		lines[line] = l[:end] + ", version: " + version + l[end:]
	default:
		// A block mapping: a new line, indented like the name key.
		indent := strings.Repeat(" ", col)
		rest := l[end:]
		newline := "\n"
		if !strings.HasSuffix(rest, "\n") {
			rest += "\n"
			newline = ""
		}
		lines[line] = l[:end] + rest + indent + "version: " + version + newline
		if newline == "" {
			lines[line] += "\n"
		}
	}
	return []byte(strings.Join(lines, "")), nil
}
