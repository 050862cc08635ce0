package drift

import (
	"fmt"
	"html"
	"math"
	"strings"

	"github.com/mlsync/mlsync/reconciler/report"
)

// ReportBase is where a check's files go on the status branch, without
// extension: reports/<model>/drift/<time>.
func (r Result) ReportBase() string {
	return fmt.Sprintf("reports/%s/drift/%s", r.Model, r.Time.UTC().Format("2006-01-02T15-04-05Z"))
}

// Files renders the check's report: Markdown with a table per feature,
// JSON, and an SVG chart of baseline against live for each drifting
// feature.
func (r Result) Files() (map[string][]byte, error) {
	base := r.ReportBase()
	js, err := report.JSON(r)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{base + ".json": js}
	var b strings.Builder
	verdict := "no drift"
	if r.Drifted {
		verdict = "**drifted**"
	}
	fmt.Fprintf(&b, "# Drift of %s %s\n\n", r.Model, r.Version)
	fmt.Fprintf(&b, "- Checked: %s, window %s\n", r.Time.UTC().Format("2006-01-02 15:04:05 MST"), r.Window)
	fmt.Fprintf(&b, "- Verdict: %s: %s (the model drifts when %.0f%% of its features do)\n\n", verdict, r.Summary(), r.Share*100)
	b.WriteString("| Feature | Method | Statistic | Threshold | Verdict | Live observations |\n|---|---|---|---|---|---|\n")
	for _, f := range r.Features {
		v := "ok"
		switch {
		case f.Note != "":
			v = "not compared: " + f.Note
		case f.Drifted:
			v = "**drifted**"
		}
		fmt.Fprintf(&b, "| %s | %s | %.4g | %.4g | %s | %.0f |\n", f.Feature, f.Method, f.Statistic, f.Threshold, v, f.LiveCount)
	}
	for _, f := range r.Features {
		if !f.Drifted {
			continue
		}
		name := base + "-" + f.Feature + ".svg"
		files[name] = []byte(chart(f))
		fmt.Fprintf(&b, "\n### %s\n\n![%s: baseline and live](%s)\n", f.Feature, f.Feature, name[strings.LastIndex(name, "/")+1:])
	}
	files[base+".md"] = []byte(b.String())
	return files, nil
}

// chart draws baseline (grey) and live (orange) proportions per bucket.
func chart(f FeatureResult) string {
	const w, h, pad = 480, 200, 30
	n := len(f.Baseline)
	top := 0.0
	for i := range f.Baseline {
		top = math.Max(top, math.Max(f.Baseline[i], f.Live[i]))
	}
	if top == 0 {
		top = 1
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="10">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<text x="%d" y="14">%s (%s %.3g, threshold %.3g): baseline grey, live orange</text>`+"\n", pad, html.EscapeString(f.Feature), f.Method, f.Statistic, f.Threshold)
	slot := float64(w-2*pad) / float64(max(n, 1))
	for i := range n {
		x := float64(pad) + float64(i)*slot
		for j, v := range []float64{f.Baseline[i], f.Live[i]} {
			bh := v / top * float64(h-2*pad-10)
			color := "#9e9e9e"
			if j == 1 {
				color = "#f57c00"
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n",
				x+float64(j)*slot*0.4+slot*0.1, float64(h-pad)-bh, slot*0.4, bh, color)
		}
		label := "+Inf"
		if i < len(f.Edges) && f.Edges[i] != "+Inf" {
			label = "≤" + f.Edges[i]
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x+slot/2, h-pad+12, html.EscapeString(label))
	}
	b.WriteString("</svg>\n")
	return b.String()
}
