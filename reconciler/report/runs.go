package report

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// RunReport is one training run: what ran, what it measured, and the
// gate's verdict on the version it produced.
type RunReport struct {
	Model       string             `json:"model"`
	Run         string             `json:"run"`
	Phase       string             `json:"phase"`
	Trigger     string             `json:"trigger"`
	Revision    string             `json:"revision"`
	DataSource  string             `json:"dataSource"`
	DataVersion string             `json:"dataVersion"`
	Version     string             `json:"version,omitempty"`
	Started     time.Time          `json:"started,omitzero"`
	Finished    time.Time          `json:"finished,omitzero"`
	Steps       []RunStep          `json:"steps"`
	Metrics     map[string]float64 `json:"metrics,omitempty"`
	Gate        *Gate              `json:"gate,omitempty"`
	Message     string             `json:"message,omitempty"`
}

// RunStep is one step of a run.
type RunStep struct {
	Name     string             `json:"name"`
	Key      string             `json:"key"`
	Phase    string             `json:"phase"`
	Cached   bool               `json:"cached,omitempty"`
	Job      string             `json:"job,omitempty"`
	Started  time.Time          `json:"started,omitzero"`
	Finished time.Time          `json:"finished,omitzero"`
	Metrics  map[string]float64 `json:"metrics,omitempty"`
	Message  string             `json:"message,omitempty"`
}

// Gate is an evaluation verdict as reported.
type Gate struct {
	Passed   bool               `json:"passed"`
	Reasons  []string           `json:"reasons,omitempty"`
	Champion string             `json:"champion,omitempty"`
	Deltas   map[string]float64 `json:"deltas,omitempty"`
}

// RunPaths returns a run report's files on the status branch.
func RunPaths(model, run string) (md, js string) {
	base := fmt.Sprintf("reports/%s/runs/%s", model, run)
	return base + ".md", base + ".json"
}

// Files renders the report's Markdown and JSON files.
func (r *RunReport) Files() (map[string][]byte, error) {
	js, err := JSON(r)
	if err != nil {
		return nil, err
	}
	md, jp := RunPaths(r.Model, r.Run)
	return map[string][]byte{md: []byte(r.Markdown()), jp: js}, nil
}

// Markdown renders the report for people.
func (r *RunReport) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Run %s of %s\n\n", r.Run, r.Model)
	fmt.Fprintf(&b, "- Phase: **%s**", r.Phase)
	if r.Version != "" {
		fmt.Fprintf(&b, ", produced version **%s**", r.Version)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "- Trigger: %s at spec revision `%s`\n", r.Trigger, shortHash(r.Revision))
	fmt.Fprintf(&b, "- Data: `%s` version `%s`\n", r.DataSource, r.DataVersion)
	if !r.Started.IsZero() && !r.Finished.IsZero() {
		fmt.Fprintf(&b, "- Duration: %s (%s to %s)\n", r.Finished.Sub(r.Started).Round(time.Second),
			r.Started.UTC().Format(time.RFC3339), r.Finished.UTC().Format(time.RFC3339))
	}
	if r.Message != "" {
		fmt.Fprintf(&b, "- %s\n", r.Message)
	}
	if r.Gate != nil {
		verdict := "passed"
		if !r.Gate.Passed {
			verdict = "failed"
		}
		fmt.Fprintf(&b, "\n## Evaluation gate: %s\n\n", verdict)
		for _, reason := range r.Gate.Reasons {
			fmt.Fprintf(&b, "- %s\n", reason)
		}
	}
	if len(r.Metrics) > 0 {
		b.WriteString("\n## Metrics\n\n")
		champ := ""
		if r.Gate != nil && r.Gate.Champion != "" {
			champ = r.Gate.Champion
			fmt.Fprintf(&b, "| Metric | Value | vs %s |\n|---|---|---|\n", champ)
		} else {
			b.WriteString("| Metric | Value |\n|---|---|\n")
		}
		for _, n := range sortedMetricNames(r.Metrics) {
			if champ != "" {
				delta := "-"
				if d, ok := r.Gate.Deltas[n]; ok {
					delta = fmt.Sprintf("%+.4g", d)
				}
				fmt.Fprintf(&b, "| %s | %.4g | %s |\n", n, r.Metrics[n], delta)
			} else {
				fmt.Fprintf(&b, "| %s | %.4g |\n", n, r.Metrics[n])
			}
		}
	}
	b.WriteString("\n## Steps\n\n| Step | Phase | Duration | Job |\n|---|---|---|---|\n")
	for _, s := range r.Steps {
		phase := s.Phase
		if s.Cached {
			phase += " (cached)"
		}
		if s.Message != "" {
			phase += ": " + cell(s.Message)
		}
		dur := "-"
		if !s.Started.IsZero() && !s.Finished.IsZero() {
			dur = s.Finished.Sub(s.Started).Round(time.Second).String()
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", s.Name, phase, dur, dash(s.Job))
	}
	return b.String()
}

func sortedMetricNames(m map[string]float64) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func shortHash(h string) string {
	if len(h) > 7 {
		return h[:7]
	}
	return h
}
