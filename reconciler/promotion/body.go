package promotion

import (
	"fmt"
	"sort"
	"strings"

	"github.com/mlsync/mlsync/reconciler/registry"
)

// BodyInput is what a pull request body says.
type BodyInput struct {
	Proposal Proposal
	// Candidate is the version to promote; Current the stage's pin now.
	Candidate *registry.Version
	Current   *registry.Version
	// Diff is the rendered serving objects' diff the merge applies.
	Diff string
	// Links name reports on the status branch (title -> URL).
	Links [][2]string
}

// Body renders a pull request body for reviewers: the version and where
// it comes from, its metrics against the stage's current version, the
// gate's verdict, what the merge changes in the cluster, and links.
func Body(in BodyInput) string {
	p, v := in.Proposal, in.Candidate
	var b strings.Builder
	fmt.Fprintf(&b, "## Promote %s %s to %s\n\n", p.Model, p.To, p.Stage)
	fmt.Fprintf(&b, "Proposed by mlsync (promotion policy `%s` of stage `%s`). Merging pins `%s` to `%s`; the next reconcile rolls it out.\n\n",
		p.Policy, p.Stage, p.Stage, p.To)
	b.WriteString("| | |\n|---|---|\n")
	if v != nil {
		fmt.Fprintf(&b, "| Version | %s (run `%s`, trigger %s) |\n", v.Version, v.Run, v.Trigger)
		fmt.Fprintf(&b, "| Data | `%s` version `%s` |\n", v.DataSource, v.DataVersion)
		fmt.Fprintf(&b, "| Spec revision | `%s` |\n", short(v.SpecRevision))
		fmt.Fprintf(&b, "| Images | %s |\n", "`"+strings.Join(v.Images, "`, `")+"`")
		fmt.Fprintf(&b, "| Trained | %s to %s |\n", v.Started.UTC().Format("2006-01-02 15:04"), v.Finished.UTC().Format("2006-01-02 15:04 MST"))
	}
	from := p.From
	if from == "" {
		from = "nothing (first version for this stage)"
	}
	fmt.Fprintf(&b, "| Replaces | %s |\n", from)
	if v != nil {
		verdict := "**passed**"
		if !v.Gate.Passed {
			verdict = "**failed**: " + strings.Join(v.Gate.Reasons, "; ")
		}
		fmt.Fprintf(&b, "| Evaluation gate | %s |\n", verdict)
	}
	if v != nil && len(v.Metrics) > 0 {
		b.WriteString("\n### Metrics\n\n")
		if in.Current != nil {
			fmt.Fprintf(&b, "| Metric | %s | %s (current) | Delta |\n|---|---|---|---|\n", v.Version, in.Current.Version)
		} else {
			fmt.Fprintf(&b, "| Metric | %s |\n|---|---|\n", v.Version)
		}
		names := make([]string, 0, len(v.Metrics))
		for n := range v.Metrics {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if in.Current == nil {
				fmt.Fprintf(&b, "| %s | %.4g |\n", n, v.Metrics[n])
				continue
			}
			cur, ok := in.Current.Metrics[n]
			if !ok {
				fmt.Fprintf(&b, "| %s | %.4g | - | - |\n", n, v.Metrics[n])
				continue
			}
			fmt.Fprintf(&b, "| %s | %.4g | %.4g | %+.4g |\n", n, v.Metrics[n], cur, v.Metrics[n]-cur)
		}
	}
	b.WriteString("\n### What the merge applies\n\n")
	if in.Diff == "" {
		b.WriteString("No change to the rendered objects.\n")
	} else {
		b.WriteString("```diff\n" + strings.TrimRight(in.Diff, "\n") + "\n```\n")
	}
	if len(in.Links) > 0 {
		b.WriteString("\n### Reports\n\n")
		for _, l := range in.Links {
			fmt.Fprintf(&b, "- [%s](%s)\n", l[0], l[1])
		}
	}
	return b.String()
}

func short(h string) string {
	if len(h) > 7 {
		return h[:7]
	}
	return h
}
