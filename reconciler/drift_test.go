package reconciler_test

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlsync/mlsync/gitsource"
	"github.com/mlsync/mlsync/reconciler"
	"github.com/mlsync/mlsync/reconciler/drift"
	"github.com/mlsync/mlsync/reconciler/registry"
	"github.com/mlsync/mlsync/test/promserver"
	"github.com/mlsync/mlsync/test/require"
)

// exporter serves the model server's feature histograms: on every scrape
// each bucket grows by 1000 x its share of the current distribution.
type exporter struct {
	mu     sync.Mutex
	edges  []float64
	dist   map[string][]float64 // feature -> bucket shares
	counts map[string][]float64
}

func (e *exporter) set(dist map[string][]float64) {
	e.mu.Lock()
	e.dist = dist
	e.mu.Unlock()
}

func (e *exporter) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fmt.Fprintf(w, "# TYPE %s histogram\n", drift.FeatureMetric)
	for f, shares := range e.dist {
		if e.counts[f] == nil {
			e.counts[f] = make([]float64, len(shares))
		}
		cum := 0.0
		for i, p := range shares {
			e.counts[f][i] += 1000 * p
			cum += e.counts[f][i]
			le := "+Inf"
			if !math.IsInf(e.edges[i], 1) {
				le = fmt.Sprint(e.edges[i])
			}
			fmt.Fprintf(w, "%s_bucket{model=\"fraud\",version=\"v1\",feature=%q,le=%q} %g\n", drift.FeatureMetric, f, le, cum)
		}
		fmt.Fprintf(w, "%s_count{model=\"fraud\",version=\"v1\",feature=%q} %g\n", drift.FeatureMetric, f, cum)
	}
}

// startPrometheus starts a real Prometheus scraping exporter every
// second, stopped when the test ends, and returns mlsync's client for it.
func startPrometheus(t *testing.T, exporter http.Handler) *drift.Prometheus {
	t.Helper()
	target := httptest.NewServer(exporter)
	t.Cleanup(target.Close)
	prom, err := promserver.Start(t.TempDir(), strings.TrimPrefix(target.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prom.Close)
	client, err := drift.NewPrometheus(prom.URL, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// Independent formulas for the expected statistics (not drift's code).
func wantPSI(e, a []float64) float64 {
	s := 0.0
	for i := range e {
		s += (a[i] - e[i]) * math.Log(a[i]/e[i])
	}
	return s
}

func wantKS(e, a []float64) float64 {
	var ce, ca, d float64
	for i := range e {
		ce, ca = ce+e[i], ca+a[i]
		d = math.Max(d, math.Abs(ce-ca))
	}
	return d
}

func wantJS(e, a []float64) float64 {
	d := 0.0
	for i := range e {
		m := (e[i] + a[i]) / 2
		d += 0.5*e[i]*math.Log2(e[i]/m) + 0.5*a[i]*math.Log2(a[i]/m)
	}
	return math.Sqrt(d)
}

const driftModel = `kind: "Model"
name: "fraud"
namespace: %q
training: {pipeline: "tabular", data: {source: "s3://data/tx", version: "2026-11-30"}}
stages: [{name: "production", namespace: %q, version: "v1"}]
serving: {image: "ghcr.io/example/fraud:{version}", replicas: min: 1}
monitoring: drift: {
	features: [{name: "amount", method: "psi"}, {name: "hour", method: "ks"}, {name: "merchant", method: "js"}]
	window:         "8s"
	schedule:       "@every 1m"
	share:          0.5
	retrainOnDrift: %v
}
`

// TestModelDrift checks drift against a real Prometheus scraping an
// exporter with known distributions: no drift; two of three features
// drifting with retrainOnDrift off (no run); one feature drifting (the
// model does not); two again with retrainOnDrift on (statistics checked
// against values computed here, a retraining run started); no new report
// when nothing changed; and a clear, retried failure when Prometheus is
// unreachable.
func TestModelDrift(t *testing.T) {
	if !promserver.Available() {
		require.Missing(t, "prometheus", ".ci/run installs Debian's prometheus", nil)
	}
	edges := []float64{10, 100, 1000, math.Inf(1)}
	baseline := map[string][]float64{
		"amount": {0.25, 0.25, 0.25, 0.25}, "hour": {0.1, 0.4, 0.4, 0.1}, "merchant": {0.4, 0.3, 0.2, 0.1},
	}
	exp := &exporter{edges: edges, counts: map[string][]float64{}}
	exp.set(baseline)
	client := startPrometheus(t, exp)

	clock := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	f := newFixture(t, func(o *reconciler.Options) {
		o.Prometheus = client
		o.Clock = func() time.Time { return clock }
	})
	// The version's baseline, as its evaluation step would have reported.
	metrics := map[string]float64{"auc": 0.93}
	for feature, shares := range baseline {
		cum := 0.0
		for i, p := range shares {
			cum += p
			metrics[drift.EdgeKey(feature, edges[i])] = cum
		}
	}
	reg := &registry.Registry{Model: "fraud"}
	reg.Add(registry.Version{Run: "fraud-seed", Metrics: metrics, Gate: registry.Verdict{Passed: true}})
	data, _ := reg.Encode()
	rem, _ := gitsource.NewRemote(gitsource.Options{URL: f.url})
	if _, err := rem.Commit(t.Context(), gitsource.CommitRequest{Branch: "mlsync/status", Message: "seed", Files: map[string][]byte{registry.Path("fraud"): data}}); err != nil {
		t.Fatal(err)
	}
	f.push("pipelines/tabular.cue", fmt.Sprintf(pipelineSpec, f.ns, "", "train:1", "job"), "Pipeline")
	f.push("models/fraud.cue", fmt.Sprintf(driftModel, f.ns, f.ns, false), "Watch fraud for drift")
	// The commit starts a training run: let it finish first (a drift
	// retrain waits for a run in progress).
	f.pass()
	for _, step := range []string{"prep", "train", "evaluate"} {
		msg := ""
		if step == "evaluate" {
			msg = `{"auc": 0.94}`
		}
		f.finish(f.job(step), true, msg)
		f.pass()
	}
	time.Sleep(10 * time.Second) // a full window of scrapes

	clock = clock.Add(time.Minute)
	f.pass()
	msg, _ := f.statusCommit("status/status.json")
	if !strings.Contains(msg, "drift(fraud): 0/3 features drifted") {
		t.Fatalf("first check: want no drift, got:\n%s", msg)
	}

	// Shift amount and hour (merchant stays) with retrainOnDrift off:
	// the model drifts, nothing retrains.
	live := map[string][]float64{"amount": {0.1, 0.2, 0.3, 0.4}, "hour": {0.4, 0.4, 0.1, 0.1}, "merchant": baseline["merchant"]}
	exp.set(live)
	time.Sleep(10 * time.Second) // let the window hold only the new distribution
	jobsBefore := f.jobCount()
	clock = clock.Add(time.Minute)
	f.pass()
	msg, _ = f.statusCommit("status/status.json")
	if !strings.Contains(msg, "drift(fraud): 2/3 features drifted") {
		t.Fatalf("retraining off: want 2/3 drifted, got:\n%s", msg)
	}
	if f.jobCount() != jobsBefore {
		t.Errorf("retrainOnDrift: false, and a drifted model started a training run")
	}

	// Retraining on; shift amount alone: one feature of three drifts,
	// under the share of 0.5, so the model does not, and no retraining
	// starts.
	f.push("models/fraud.cue", fmt.Sprintf(driftModel, f.ns, f.ns, true), "Retrain fraud on drift")
	one := map[string][]float64{"amount": {0.1, 0.2, 0.3, 0.4}, "hour": baseline["hour"], "merchant": baseline["merchant"]}
	exp.set(one)
	time.Sleep(10 * time.Second)
	clock = clock.Add(time.Minute)
	f.pass()
	msg, _ = f.statusCommit("status/status.json")
	if !strings.Contains(msg, "drift(fraud): 1/3 features drifted") {
		t.Fatalf("one feature shifted: want 1/3 drifted, got:\n%s", msg)
	}
	if f.jobCount() != jobsBefore {
		t.Errorf("one drifting feature of three (share 0.5) started a training run")
	}
	if _, st := f.statusCommit("status/status.json"); strings.Contains(st, `"drifted": true`) {
		t.Errorf("the model is reported drifted with one feature of three:\n%s", st)
	}

	// Amount and hour again: the model drifts and retrains.
	exp.set(live)
	time.Sleep(10 * time.Second)
	jobsBefore = f.jobCount()
	clock = clock.Add(time.Minute)
	f.pass()
	msg, _ = f.statusCommit("status/status.json")
	if !strings.Contains(msg, "drift(fraud): 2/3 features drifted") {
		t.Fatalf("second check: want 2/3 drifted, got:\n%s", msg)
	}
	var report drift.Result
	files, err := snapFiles(t, f, "reports/fraud/drift/")
	if err != nil {
		t.Fatal(err)
	}
	found, oneOfThree := 0, 0
	for p, content := range files {
		if !strings.HasSuffix(p, ".json") {
			continue
		}
		var r drift.Result
		if err := jsonUnmarshal(content, &r); err != nil {
			t.Fatal(err)
		}
		if r.Drifted {
			report = r
			found++
		}
		if r.DriftedCount == 1 && !r.Drifted {
			oneOfThree++
		}
	}
	if found != 2 || oneOfThree != 1 {
		t.Fatalf("want two reports of a drifted model and one of a single drifting feature on the status branch; found %d and %d in %v", found, oneOfThree, keys(files))
	}
	want := map[string]float64{
		"amount":   wantPSI(baseline["amount"], live["amount"]),
		"hour":     wantKS(baseline["hour"], live["hour"]),
		"merchant": wantJS(baseline["merchant"], live["merchant"]),
	}
	for _, fr := range report.Features {
		if math.Abs(fr.Statistic-want[fr.Feature]) > 1e-3 {
			t.Errorf("%s %s = %.5f, computed here %.5f", fr.Feature, fr.Method, fr.Statistic, want[fr.Feature])
		}
	}
	if svg, ok := files[report.ReportBase()+"-amount.svg"]; !ok || !strings.Contains(svg, "<svg") {
		t.Errorf("no chart for the drifting feature amount")
	}
	if f.jobCount() <= jobsBefore {
		t.Errorf("retrainOnDrift started no training run")
	}
	if _, st := f.statusCommit("status/status.json"); !strings.Contains(st, `"trigger": "drift"`) {
		t.Errorf("the run is not recorded as triggered by drift")
	}

	// The same verdict again: no new report.
	before := len(files)
	clock = clock.Add(time.Minute)
	f.pass()
	files, _ = snapFiles(t, f, "reports/fraud/drift/")
	if len(files) != before {
		t.Errorf("a check with the same verdict wrote a report (%d -> %d files)", before, len(files))
	}

	// A restart takes up the last check from the status branch: the same
	// verdicts again write no report, and the drifting model is not
	// retrained again.
	h := newFixtureFor(t, f, func(o *reconciler.Options) { o.Prometheus = client; o.Clock = func() time.Time { return clock } })
	clock = clock.Add(time.Minute)
	h.pass()
	files, _ = snapFiles(t, h, "reports/fraud/drift/")
	if len(files) != before {
		t.Errorf("after a restart the same verdicts wrote a report (%d -> %d files)", before, len(files))
	}

	// Prometheus unreachable: reported, no crash, retried.
	down, _ := drift.NewPrometheus("http://127.0.0.1:1", time.Second)
	g := newFixtureFor(t, f, func(o *reconciler.Options) { o.Prometheus = down; o.Clock = func() time.Time { return clock } })
	if _, err := g.rec.Pass(t.Context()); err == nil || !strings.Contains(err.Error(), "drift check of fraud") {
		t.Errorf("unreachable Prometheus: want a drift check error, got %v", err)
	}
	if _, summary := g.statusCommit("status/summary.md"); !strings.Contains(summary, "check failed") {
		t.Errorf("status does not show the failed check:\n%s", summary)
	}
}

// snapFiles reads the status branch's files under prefix.
func snapFiles(t *testing.T, f *fixture, prefix string) (map[string]string, error) {
	t.Helper()
	rem, err := gitsource.NewRemote(gitsource.Options{URL: f.url})
	if err != nil {
		return nil, err
	}
	snap, err := rem.Checkout(t.Context(), "mlsync/status")
	if err != nil {
		return nil, err
	}
	list, err := snap.Files("", func(p string) bool { return strings.HasPrefix(p, prefix) })
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, file := range list {
		out[file.Path] = string(file.Data)
	}
	return out, nil
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
