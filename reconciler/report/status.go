package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
)

// Paths of the status files on the status branch.
const (
	SummaryPath = "status/summary.md"
	JSONPath    = "status/status.json"
)

// Status is what mlsync last did with one source.
type Status struct {
	Source Source `json:"source"`
	// Applied is the revision whose objects are in the cluster.
	Applied *Revision `json:"applied,omitempty"`
	// Latest is the newest revision mlsync has seen, applied or not.
	Latest *Revision `json:"latest,omitempty"`
	// Ready says whether the cluster matches Latest and is healthy, with
	// a fluxcd/pkg/apis/meta reason.
	Ready Condition `json:"ready"`
	// Errors are the spec errors that stopped Latest from being applied.
	Errors []SpecError `json:"errors,omitempty"`
	// Models are the models of the applied revision.
	Models []Model `json:"models"`
	// Changes are what applying Applied did to the cluster.
	Changes []Change `json:"changes,omitempty"`
	// Drift lists the objects last found changed outside mlsync, and
	// whether that was corrected.
	Drift []Change `json:"drift,omitempty"`
	// Runs are each model's current training run.
	Runs []RunSummary `json:"runs,omitempty"`
	// Promotions are the latest promotion of each model and stage.
	Promotions []Promotion `json:"promotions,omitempty"`
	// Canaries are the canary rollouts of stages, in their window or
	// ended.
	Canaries []Canary `json:"canaries,omitempty"`
	// ModelDrift is each model's last drift check.
	ModelDrift []ModelDrift `json:"modelDrift,omitempty"`
	// Monitoring says how served models are monitored.
	Monitoring string `json:"monitoring,omitempty"`
}

// Canary states.
const (
	// CanaryAnalysing: the candidate serves beside the previous version
	// until its analysis window ends.
	CanaryAnalysing = "analysing"
	// CanaryCompleted: the window ended without a failed analysis; the
	// stage serves the candidate alone.
	CanaryCompleted = "completed"
	// CanaryFailed: an analysis found the candidate outside the model's
	// objectives; the stage serves the previous version again until its
	// pin moves (a revert, or a newer version).
	CanaryFailed = "failed"
)

// Canary is the canary rollout of a stage's new pin.
type Canary struct {
	Model   string `json:"model"`
	Stage   string `json:"stage"`
	From    string `json:"from"`
	Version string `json:"version"`
	Since   string `json:"since"`
	State   string `json:"state"`
	// Verdict is what the analyses found: within the objectives, the
	// objective the candidate broke, or why it was not judged.
	Verdict string `json:"verdict,omitempty"`
	// Error is why the last analysis could not run (it is retried).
	Error string `json:"error,omitempty"`
}

// ModelDrift is a model's last drift check.
type ModelDrift struct {
	Model   string `json:"model"`
	Version string `json:"version,omitempty"`
	Drifted bool   `json:"drifted"`
	Summary string `json:"summary,omitempty"`
	Error   string `json:"error,omitempty"`
	// Report is the newest report's path on the status branch.
	Report string `json:"report,omitempty"`
}

// Promotion is a version moving to a stage.
type Promotion struct {
	Model   string `json:"model"`
	Stage   string `json:"stage"`
	Version string `json:"version"`
	From    string `json:"from,omitempty"`
	Policy  string `json:"policy"`
	// State: committed, proposed (a pull request is open), branch pushed,
	// declined (closed without merge), merged, applied (the pin is in
	// force), failed.
	State  string `json:"state"`
	Commit string `json:"commit,omitempty"`
	Number int    `json:"number,omitempty"`
	URL    string `json:"url,omitempty"`
	Error  string `json:"error,omitempty"`
}

// RunSummary is a model's current training run.
type RunSummary struct {
	Model   string `json:"model"`
	Run     string `json:"run"`
	Phase   string `json:"phase"`
	Trigger string `json:"trigger"`
	// Steps are "name=phase" in dependency order.
	Steps []string `json:"steps"`
	// Version is the version the run produced, if any.
	Version string `json:"version,omitempty"`
	Message string `json:"message,omitempty"`
	// Latest is the model's newest version and whether it passed its gate.
	Latest       string `json:"latest,omitempty"`
	LatestPassed bool   `json:"latestPassed,omitempty"`
}

// Source names the repository, ref and folder specs are read from.
type Source struct {
	URL  string `json:"url"`
	Ref  string `json:"ref"`
	Path string `json:"path"`
}

// Revision is one commit of the spec branch.
type Revision struct {
	Ref     string    `json:"ref,omitempty"`
	Commit  string    `json:"commit"`
	Subject string    `json:"subject,omitempty"`
	Time    time.Time `json:"time"`
	// Signer is the trusted key that signed the commit, when verified.
	Signer string `json:"signer,omitempty"`
}

// Short is the abbreviated commit hash.
func (r *Revision) Short() string {
	if r == nil {
		return "none"
	}
	if len(r.Commit) > 7 {
		return r.Commit[:7]
	}
	return r.Commit
}

// Condition is a Kubernetes-style condition.
type Condition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// The condition statuses.
const (
	ConditionTrue    = "True"
	ConditionFalse   = "False"
	ConditionUnknown = "Unknown"
)

// ReadyCondition returns a Ready condition.
func ReadyCondition(status, reason, message string) Condition {
	return Condition{Type: meta.ReadyCondition, Status: status, Reason: reason, Message: message}
}

// SpecError is one validation error, positioned in the user's file.
type SpecError struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

// String formats the error as file:line:col: path: message.
func (e SpecError) String() string {
	pos := e.File
	if e.Line > 0 {
		pos = fmt.Sprintf("%s:%d", pos, e.Line)
		if e.Column > 0 {
			pos = fmt.Sprintf("%s:%d", pos, e.Column)
		}
	}
	if e.Path != "" {
		return fmt.Sprintf("%s: %s: %s", pos, e.Path, e.Message)
	}
	return fmt.Sprintf("%s: %s", pos, e.Message)
}

// Model is the state of one model's objects.
type Model struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Owner     string `json:"owner,omitempty"`
	Runtime   string `json:"runtime"`
	// Serving lists where the model is served: each stage, or the model's
	// namespace when it has no stages.
	Serving []Serving `json:"serving"`
	// Health is the worst health of the model's objects.
	Health  string   `json:"health"`
	Message string   `json:"message,omitempty"`
	Objects []Object `json:"objects"`
}

// Serving is one place a model is served.
type Serving struct {
	Stage     string `json:"stage,omitempty"`
	Namespace string `json:"namespace"`
	// Version pinned to the stage; empty when nothing is pinned yet.
	Version   string `json:"version,omitempty"`
	Promotion string `json:"promotion,omitempty"`
	Replicas  string `json:"replicas"`
	Health    string `json:"health"`
	Message   string `json:"message,omitempty"`
}

// Object is the health of one object.
type Object struct {
	Ref     string `json:"ref"`
	Health  string `json:"health"`
	Message string `json:"message,omitempty"`
}

// Change is what happened to one object.
type Change struct {
	Ref    string `json:"ref"`
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
}

// Files renders the status files, keyed by their path on the status
// branch.
func (s *Status) Files() (map[string][]byte, error) {
	js, err := JSON(s)
	if err != nil {
		return nil, fmt.Errorf("encoding status: %w", err)
	}
	return map[string][]byte{
		SummaryPath: []byte(s.Markdown()),
		JSONPath:    js,
	}, nil
}

// Markdown renders the human summary.
func (s *Status) Markdown() string {
	var b strings.Builder
	b.WriteString("# mlsync status\n\n")
	fmt.Fprintf(&b, "- Source: `%s` ref `%s` path `%s`\n", s.Source.URL, s.Source.Ref, s.Source.Path)
	fmt.Fprintf(&b, "- Applied revision: %s\n", revisionLine(s.Applied))
	if s.Latest != nil && (s.Applied == nil || s.Latest.Commit != s.Applied.Commit) {
		fmt.Fprintf(&b, "- Latest revision: %s (not applied)\n", revisionLine(s.Latest))
	}
	fmt.Fprintf(&b, "- Ready: **%s** (%s) %s\n", s.Ready.Status, s.Ready.Reason, s.Ready.Message)

	if len(s.Errors) > 0 {
		fmt.Fprintf(&b, "\n## Spec errors at %s\n\nNothing from this revision was applied; the cluster keeps revision %s.\n\n",
			s.Latest.Short(), s.Applied.Short())
		for _, e := range s.Errors {
			fmt.Fprintf(&b, "- `%s`\n", e.String())
		}
	}

	b.WriteString("\n## Models\n\n")
	if len(s.Models) == 0 {
		b.WriteString("No models.\n")
	} else {
		b.WriteString("| Model | Stage | Namespace | Version | Replicas | Health |\n|---|---|---|---|---|---|\n")
		for _, m := range s.Models {
			for _, sv := range m.Serving {
				health := sv.Health
				if sv.Message != "" {
					health += ": " + sv.Message
				}
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", m.Name, dash(sv.Stage), sv.Namespace,
					dash(sv.Version), sv.Replicas, cell(health))
			}
		}
	}

	if len(s.Runs) > 0 {
		b.WriteString("\n## Training\n\n| Model | Run | Phase | Steps | Latest version |\n|---|---|---|---|---|\n")
		for _, r := range s.Runs {
			phase := r.Phase
			if r.Message != "" {
				phase += ": " + r.Message
			}
			latest := dash(r.Latest)
			if r.Latest != "" {
				if r.LatestPassed {
					latest += " (gate passed)"
				} else {
					latest += " (gate failed)"
				}
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.Model, r.Run, cell(phase), strings.Join(r.Steps, ", "), latest)
		}
	}

	if len(s.Promotions) > 0 {
		b.WriteString("\n## Promotions\n\n| Model | Stage | Version | Policy | State |\n|---|---|---|---|---|\n")
		for _, p := range s.Promotions {
			state := p.State
			if p.URL != "" {
				state += fmt.Sprintf(" ([#%d](%s))", p.Number, p.URL)
			}
			if p.Error != "" {
				state += ": " + p.Error
			}
			fmt.Fprintf(&b, "| %s | %s | %s -> %s | %s | %s |\n", p.Model, p.Stage, dash(p.From), p.Version, p.Policy, cell(state))
		}
	}

	if len(s.Canaries) > 0 {
		b.WriteString("\n## Canaries\n\n| Model | Stage | Version | Since | State |\n|---|---|---|---|---|\n")
		for _, c := range s.Canaries {
			state := c.State
			if c.Verdict != "" {
				state += ": " + c.Verdict
			}
			if c.Error != "" {
				state += " (analysis failed: " + c.Error + ")"
			}
			fmt.Fprintf(&b, "| %s | %s | %s -> %s | %s | %s |\n", c.Model, c.Stage, dash(c.From), c.Version, c.Since, cell(state))
		}
	}

	if len(s.ModelDrift) > 0 {
		b.WriteString("\n## Model drift\n\n| Model | Version | Verdict | Report |\n|---|---|---|---|\n")
		for _, d := range s.ModelDrift {
			verdict := "no drift: " + d.Summary
			if d.Drifted {
				verdict = "**drifted**: " + d.Summary
			}
			if d.Error != "" {
				verdict = "check failed: " + d.Error
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", d.Model, dash(d.Version), cell(verdict), dash(d.Report))
		}
	}
	if s.Monitoring != "" {
		fmt.Fprintf(&b, "\nMonitoring: %s.\n", s.Monitoring)
	}

	if len(s.Drift) > 0 {
		b.WriteString("\n## Config drift\n\nObjects changed in the cluster outside Git:\n\n")
		for _, c := range s.Drift {
			verdict := "corrected"
			if c.Action == "drifted" {
				verdict = "reported, not corrected (drift policy: report)"
			}
			fmt.Fprintf(&b, "- %s: %s; %s\n", c.Ref, verdict, c.Reason)
		}
	}

	if len(s.Changes) > 0 {
		fmt.Fprintf(&b, "\n## Changes applied at %s\n\n", s.Applied.Short())
		for _, c := range s.Changes {
			if c.Reason != "" {
				fmt.Fprintf(&b, "- %s %s: %s\n", c.Ref, c.Action, c.Reason)
			} else {
				fmt.Fprintf(&b, "- %s %s\n", c.Ref, c.Action)
			}
		}
	}
	return b.String()
}

func revisionLine(r *Revision) string {
	if r == nil {
		return "none"
	}
	if r.Subject == "" {
		return "`" + r.Short() + "`"
	}
	return fmt.Sprintf("`%s` %s", r.Short(), r.Subject)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// CommitMessage says in one subject line what changed from prev (nil for
// the first status) to cur, followed by details.
func CommitMessage(prev, cur *Status) string {
	var subject string
	switch {
	case canarySubject(prev, cur) != "":
		subject = canarySubject(prev, cur)
	case driftSubject(prev, cur) != "":
		subject = driftSubject(prev, cur)
	case promotionSubject(prev, cur) != "":
		subject = promotionSubject(prev, cur)
	case runsSubject(prev, cur) != "":
		subject = runsSubject(prev, cur)
	case len(cur.Errors) > 0:
		subject = fmt.Sprintf("status: rejected %s: %d spec error%s (%s)",
			cur.Latest.Short(), len(cur.Errors), plural(len(cur.Errors)), cur.Errors[0].String())
	case len(cur.Drift) > 0 && (prev == nil || !sameChanges(prev.Drift, cur.Drift)):
		subject = fmt.Sprintf("status: drift at %s: %d object%s changed outside Git (%s)", cur.Applied.Short(),
			len(cur.Drift), plural(len(cur.Drift)), cur.Drift[0].Ref)
	case prev == nil || prev.Applied == nil || cur.Applied == nil || prev.Applied.Commit != cur.Applied.Commit:
		subject = fmt.Sprintf("status: applied %s (%s)", cur.Applied.Short(), countActions(cur.Changes))
	default:
		subject = fmt.Sprintf("status: %s at %s: %s", readyWord(cur.Ready), cur.Applied.Short(), cur.Ready.Message)
	}
	var body strings.Builder
	body.WriteString(subject)
	body.WriteString("\n\n")
	if cur.Applied != nil {
		fmt.Fprintf(&body, "Applied-Revision: %s\n", cur.Applied.Commit)
	}
	if cur.Latest != nil {
		fmt.Fprintf(&body, "Latest-Revision: %s\n", cur.Latest.Commit)
	}
	fmt.Fprintf(&body, "Ready: %s (%s)\n", cur.Ready.Status, cur.Ready.Reason)
	for _, e := range cur.Errors {
		fmt.Fprintf(&body, "Error: %s\n", e.String())
	}
	return body.String()
}

// driftSubject describes a model whose drift verdict changed since prev:
// "drift(fraud): 2/5 features drifted (amount psi=0.31 > 0.2)".
func driftSubject(prev, cur *Status) string {
	before := map[string]ModelDrift{}
	if prev != nil {
		for _, d := range prev.ModelDrift {
			before[d.Model] = d
		}
	}
	for _, d := range cur.ModelDrift {
		if old, ok := before[d.Model]; ok && old.Summary == d.Summary && old.Drifted == d.Drifted && old.Error == d.Error {
			continue
		}
		switch {
		case d.Error != "":
			return fmt.Sprintf("drift(%s): check failed: %s", d.Model, d.Error)
		case d.Summary != "":
			return fmt.Sprintf("drift(%s): %s", d.Model, d.Summary)
		}
	}
	return ""
}

// canarySubject describes a canary that ended since prev:
// "canary(fraud/production): v8 failed: error rate 0.200 > 0.05 over 120
// requests; serving v7".
func canarySubject(prev, cur *Status) string {
	before := map[string]Canary{}
	if prev != nil {
		for _, c := range prev.Canaries {
			before[c.Model+"/"+c.Stage] = c
		}
	}
	for _, c := range cur.Canaries {
		if old, ok := before[c.Model+"/"+c.Stage]; ok && old.Version == c.Version && old.State == c.State {
			continue
		}
		switch c.State {
		case CanaryFailed:
			return fmt.Sprintf("canary(%s/%s): %s failed: %s; serving %s", c.Model, c.Stage, c.Version, c.Verdict, c.From)
		case CanaryCompleted:
			return fmt.Sprintf("canary(%s/%s): %s completed (%s); serving %s alone", c.Model, c.Stage, c.Version, c.Verdict, c.Version)
		}
	}
	return ""
}

// promotionSubject describes a promotion that changed state since prev.
func promotionSubject(prev, cur *Status) string {
	before := map[string]Promotion{}
	if prev != nil {
		for _, p := range prev.Promotions {
			before[p.Model+"/"+p.Stage] = p
		}
	}
	for _, p := range cur.Promotions {
		if old, ok := before[p.Model+"/"+p.Stage]; ok && old.Version == p.Version && old.State == p.State {
			continue
		}
		switch p.State {
		case "committed":
			return fmt.Sprintf("promote(%s): %s to %s committed (%s)", p.Model, p.Version, p.Stage, shortHash(p.Commit))
		case "proposed":
			return fmt.Sprintf("promote(%s): pull request #%d proposes %s for %s", p.Model, p.Number, p.Version, p.Stage)
		case "failed":
			return fmt.Sprintf("promote(%s): %s to %s failed: %s", p.Model, p.Version, p.Stage, p.Error)
		}
	}
	return ""
}

// runsSubject describes the most telling training transition since prev:
// a new version, a failed run, a started run.
func runsSubject(prev, cur *Status) string {
	before := map[string]RunSummary{}
	if prev != nil {
		for _, r := range prev.Runs {
			before[r.Model] = r
		}
	}
	var started, failed, produced []string
	for _, r := range cur.Runs {
		old, seen := before[r.Model]
		if seen && old.Run == r.Run && old.Phase == r.Phase {
			continue
		}
		switch r.Phase {
		case "Succeeded":
			if r.Version != "" && (!seen || old.Run != r.Run || old.Version != r.Version) {
				verdict := "passed its gate"
				if !r.LatestPassed {
					verdict = "failed its gate"
				}
				produced = append(produced, fmt.Sprintf("train(%s): %s from run %s %s", r.Model, r.Version, r.Run, verdict))
			}
		case "Failed":
			failed = append(failed, fmt.Sprintf("train(%s): run %s failed: %s", r.Model, r.Run, r.Message))
		case "Running", "Pending":
			if !seen || old.Run != r.Run {
				started = append(started, fmt.Sprintf("train(%s): run %s started (%s)", r.Model, r.Run, r.Trigger))
			}
		}
	}
	for _, list := range [][]string{produced, failed, started} {
		if len(list) > 0 {
			if len(list) > 1 {
				return fmt.Sprintf("%s (and %d more)", list[0], len(list)-1)
			}
			return list[0]
		}
	}
	return ""
}

func sameChanges(a, b []Change) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// readyWord says in a word what a Ready condition means.
func readyWord(c Condition) string {
	switch c.Status {
	case ConditionTrue:
		return "healthy"
	case ConditionFalse:
		return "failing"
	}
	return "progressing"
}

func countActions(changes []Change) string {
	counts := map[string]int{}
	for _, c := range changes {
		counts[c.Action]++
	}
	if len(counts) == 0 {
		return "no changes"
	}
	actions := make([]string, 0, len(counts))
	for a := range counts {
		actions = append(actions, a)
	}
	sort.Strings(actions)
	parts := make([]string, len(actions))
	for i, a := range actions {
		parts[i] = fmt.Sprintf("%d %s", counts[a], a)
	}
	return strings.Join(parts, ", ")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// JSON encodes v as the files on the status branch are written: indented
// by two spaces, "<", ">" and "&" as they are (they are read in Git, not
// embedded in HTML), and a final newline.
func JSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
