package reconciler_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlsync/mlsync/reconciler"
	"github.com/mlsync/mlsync/reconciler/report"
	"github.com/mlsync/mlsync/test/promserver"
	"github.com/mlsync/mlsync/test/require"
)

// requestExporter serves a model server's request metrics for the
// production stage of fraud: on every scrape each version it serves
// answers 100 more requests, errShare of them with a 500, each under
// 50 ms (a slow version: between 250 ms and 1 s).
type requestExporter struct {
	mu       sync.Mutex
	errShare map[string]float64 // version -> share of 5xx
	slow     map[string]bool
	ok, errs map[string]float64
	scrapes  int
}

// waitScrapes waits until Prometheus scraped the exporter n more times.
func (e *requestExporter) waitScrapes(t *testing.T, n int) {
	t.Helper()
	e.mu.Lock()
	want := e.scrapes + n
	e.mu.Unlock()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		e.mu.Lock()
		got := e.scrapes
		e.mu.Unlock()
		if got >= want {
			time.Sleep(500 * time.Millisecond) // the last scrape's samples land
			return
		}
	}
	t.Fatalf("Prometheus did not scrape the exporter %d times in 30s", n)
}

func (e *requestExporter) serve(version string, errShare float64) {
	e.mu.Lock()
	e.errShare[version] = errShare
	e.mu.Unlock()
}

func (e *requestExporter) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.scrapes++
	fmt.Fprintln(w, "# TYPE mlsync_requests_total counter")
	for v, share := range e.errShare {
		e.ok[v] += 100 * (1 - share)
		e.errs[v] += 100 * share
		fmt.Fprintf(w, "mlsync_requests_total{model=\"fraud\",stage=\"production\",version=%q,code=\"200\"} %g\n", v, e.ok[v])
		fmt.Fprintf(w, "mlsync_requests_total{model=\"fraud\",stage=\"production\",version=%q,code=\"500\"} %g\n", v, e.errs[v])
	}
	fmt.Fprintln(w, "# TYPE mlsync_request_duration_seconds histogram")
	for v := range e.errShare {
		n := e.ok[v] + e.errs[v]
		for _, le := range []string{"0.05", "0.25", "1", "+Inf"} {
			c := n
			if e.slow[v] && (le == "0.05" || le == "0.25") {
				c = 0
			}
			fmt.Fprintf(w, "mlsync_request_duration_seconds_bucket{model=\"fraud\",stage=\"production\",version=%q,le=%q} %g\n", v, le, c)
		}
		fmt.Fprintf(w, "mlsync_request_duration_seconds_count{model=\"fraud\",stage=\"production\",version=%q} %g\n", v, n)
	}
}

// canaryBed starts a real Prometheus scraping a request exporter and
// returns the exporter, the test's clock and the reconciler options that
// use both.
func canaryBed(t *testing.T) (*requestExporter, *time.Time, func(*reconciler.Options)) {
	exp := &requestExporter{errShare: map[string]float64{}, slow: map[string]bool{}, ok: map[string]float64{}, errs: map[string]float64{}}
	client := startPrometheus(t, exp)
	clock := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	return exp, &clock, func(o *reconciler.Options) {
		o.Canaries = client
		o.Clock = func() time.Time { return clock }
	}
}

const canaryModel = `kind: "Model"
name: "fraud"
namespace: %q
stages: [{name: "production", namespace: %q, version: %q, canary: {percent: 25, analysis: "10m"}}]
serving: {image: "ghcr.io/example/fraud:{version}", replicas: min: 4}
monitoring: slo: {errorRate: 0.05, latencyP99: "250ms"}
`

// TestCanaryAnalysis judges canaries against the model's SLOs with a real
// Prometheus scraping the model server's request metrics: a candidate
// with 20% errors fails, the stage goes back to the previous version and
// stays there (also after a restart) until the pin moves; a healthy
// candidate completes at the end of its window.
func TestCanaryAnalysis(t *testing.T) {
	if !promserver.Available() {
		require.Missing(t, "prometheus", ".ci/run installs Debian's prometheus", nil)
	}
	exp, clock, opts := canaryBed(t)
	exp.serve("v1", 0)
	f := newFixture(t, opts)
	canaryOf := func(f *fixture) report.Canary {
		t.Helper()
		_, content := f.statusCommit("status/status.json")
		var st report.Status
		if err := json.Unmarshal([]byte(content), &st); err != nil {
			t.Fatal(err)
		}
		for _, c := range st.Canaries {
			if c.Model == "fraud" && c.Stage == "production" {
				return c
			}
		}
		t.Fatalf("no canary of fraud/production in the status: %s", content)
		return report.Canary{}
	}

	f.push("models/fraud.cue", fmt.Sprintf(canaryModel, f.ns, f.ns, "v1"), "Serve v1")
	f.pass()
	f.push("models/fraud.cue", fmt.Sprintf(canaryModel, f.ns, f.ns, "v2"), "Promote v2")
	exp.serve("v2", 0.2)
	f.pass()
	if !f.exists(deployments, "fraud-canary") {
		t.Fatal("no canary Deployment for v2")
	}
	if c := canaryOf(f); c.State != report.CanaryAnalysing || c.Version != "v2" || c.From != "v1" {
		t.Errorf("canary in its window: %+v", c)
	}

	exp.waitScrapes(t, 3) // v2's errors in Prometheus
	*clock = clock.Add(time.Minute)
	f.pass()
	if f.exists(deployments, "fraud-canary") {
		t.Error("the failed canary's Deployment is still there")
	}
	main := f.get(deployments, "fraud")
	if v := main.GetLabels()["mlsync.io/version"]; v != "v1" {
		t.Errorf("after the failed canary the stage serves %q, want v1", v)
	}
	if a := main.GetAnnotations()["mlsync.io/canary-failed"]; a != "v2" {
		t.Errorf("canary-failed annotation = %q, want v2", a)
	}
	c := canaryOf(f)
	if c.State != report.CanaryFailed || !strings.HasPrefix(c.Verdict, "error rate 0.200 > 0.05") {
		t.Errorf("failed canary in the status: %+v", c)
	}
	if msg, _ := f.statusCommit("status/status.json"); !strings.HasPrefix(msg, "canary(fraud/production): v2 failed: error rate 0.200 > 0.05") {
		t.Errorf("status commit subject: %q", strings.SplitN(msg, "\n", 2)[0])
	}

	// Held past the window, through a commit that renders again, and
	// across a restart.
	*clock = clock.Add(15 * time.Minute)
	f.push("models/fraud.cue", "// v2 failed its canary\n"+fmt.Sprintf(canaryModel, f.ns, f.ns, "v2"), "Note the failed canary")
	if res := f.pass(); res.Skipped {
		t.Fatal("a new commit was skipped")
	}
	if v := servedVersion(t, f, f.ns); v != "v1" || f.exists(deployments, "fraud-canary") {
		t.Errorf("held stage after a new commit: serves %q (canary present: %v), want v1 alone", v, f.exists(deployments, "fraud-canary"))
	}
	// A restart with a new commit waiting: the restarted daemon reads
	// what it published before, so its status commit does not announce
	// the old failure again; the stage stays held.
	f.push("models/fraud.cue", "// v2 failed its canary; v1 serves\n"+fmt.Sprintf(canaryModel, f.ns, f.ns, "v2"), "Reword the note")
	g := newFixtureFor(t, f, opts)
	if res := g.pass(); res.StatusCommit == "" {
		t.Error("the pass after the restart applied a new commit and wrote no status")
	}
	if msg, _ := g.statusCommit("status/status.json"); strings.HasPrefix(msg, "canary(") {
		t.Errorf("after a restart the status commit announces the canary again: %q", strings.SplitN(msg, "\n", 2)[0])
	}
	if v := servedVersion(t, g, g.ns); v != "v1" || g.exists(deployments, "fraud-canary") {
		t.Errorf("after the window and a restart: serves %q (canary present: %v), want v1 alone", v, g.exists(deployments, "fraud-canary"))
	}

	// The pin moves on to a healthy v3: analysed, then complete.
	exp.serve("v3", 0)
	g.push("models/fraud.cue", fmt.Sprintf(canaryModel, g.ns, g.ns, "v3"), "Promote v3")
	g.pass()
	if !g.exists(deployments, "fraud-canary") {
		t.Fatal("no canary Deployment for v3")
	}
	exp.waitScrapes(t, 3)
	*clock = clock.Add(time.Minute)
	g.pass()
	if c := canaryOf(g); c.State != report.CanaryAnalysing || c.Verdict != "within the objectives so far" {
		t.Errorf("healthy canary: %+v", c)
	}
	*clock = clock.Add(10 * time.Minute)
	g.pass()
	if v := servedVersion(t, g, g.ns); v != "v3" || g.exists(deployments, "fraud-canary") {
		t.Errorf("after the window: serves %q (canary present: %v), want v3 alone", v, g.exists(deployments, "fraud-canary"))
	}
	if a := g.get(deployments, "fraud").GetAnnotations()["mlsync.io/canary-failed"]; a != "" {
		t.Errorf("the completed rollout kept canary-failed=%q", a)
	}
	if msg, _ := g.statusCommit("status/status.json"); !strings.HasPrefix(msg, "canary(fraud/production): v3 completed") {
		t.Errorf("status commit subject: %q", strings.SplitN(msg, "\n", 2)[0])
	}

	// A slow v4 fails on latency; reverting the pin to v3 ends the hold.
	exp.mu.Lock()
	exp.slow["v4"] = true
	exp.mu.Unlock()
	exp.serve("v4", 0)
	g.push("models/fraud.cue", fmt.Sprintf(canaryModel, g.ns, g.ns, "v4"), "Promote v4")
	g.pass()
	exp.waitScrapes(t, 3)
	*clock = clock.Add(time.Minute)
	g.pass()
	if c := canaryOf(g); c.State != report.CanaryFailed || !strings.HasPrefix(c.Verdict, "p99 latency") || !strings.HasSuffix(c.Verdict, "> 250ms") {
		t.Errorf("slow canary: %+v", c)
	}
	if v := servedVersion(t, g, g.ns); v != "v3" || g.exists(deployments, "fraud-canary") {
		t.Errorf("after the slow canary: serves %q (canary present: %v), want v3 alone", v, g.exists(deployments, "fraud-canary"))
	}
	g.push("models/fraud.cue", fmt.Sprintf(canaryModel, g.ns, g.ns, "v3"), "Revert to v3")
	g.pass()
	main = g.get(deployments, "fraud")
	if v := main.GetLabels()["mlsync.io/version"]; v != "v3" || main.GetAnnotations()["mlsync.io/canary-failed"] != "" || g.exists(deployments, "fraud-canary") {
		t.Errorf("after the revert: serves %q, annotations %v, canary present %v", v, main.GetAnnotations(), g.exists(deployments, "fraud-canary"))
	}
	if _, content := g.statusCommit("status/status.json"); strings.Contains(content, `"state": "failed"`) {
		t.Errorf("after the revert the status still lists the failed canary:\n%s", content)
	}
}

const kserveCanaryModel = `kind: "Model"
name: "fraud"
namespace: %q
stages: [{name: "production", namespace: %q, version: %q, canary: {percent: 25, analysis: "10m"}}]
serving: {runtime: "kserve", modelFormat: "sklearn", storageUri: "s3://models/fraud/{version}"}
monitoring: slo: errorRate: 0.05
`

// TestKServeCanaryHold: a failed KServe canary sends all traffic back to
// the previous revision (canaryTrafficPercent 0), keeps that across a
// restart, and a newer pin starts a canary of its own (not the failed
// one's window).
func TestKServeCanaryHold(t *testing.T) {
	if !promserver.Available() {
		require.Missing(t, "prometheus", ".ci/run installs Debian's prometheus", nil)
	}
	installKServeCRD(t)
	exp, clock, opts := canaryBed(t)
	f := newFixture(t, opts)
	isvc := func(f *fixture) (uri string, percent int64, ann map[string]string) {
		t.Helper()
		obj := f.get(isvcs, "fraud")
		uri, _, _ = unstructured.NestedString(obj.Object, "spec", "predictor", "model", "storageUri")
		percent, ok, _ := unstructured.NestedInt64(obj.Object, "spec", "predictor", "canaryTrafficPercent")
		if !ok {
			percent = -1
		}
		return uri, percent, obj.GetAnnotations()
	}
	f.push("models/fraud.cue", fmt.Sprintf(kserveCanaryModel, f.ns, f.ns, "v1"), "Serve v1")
	f.pass()
	exp.serve("v2", 0.5)
	f.push("models/fraud.cue", fmt.Sprintf(kserveCanaryModel, f.ns, f.ns, "v2"), "Promote v2")
	f.pass()
	if uri, pct, _ := isvc(f); uri != "s3://models/fraud/v2" || pct != 25 {
		t.Fatalf("canary: storageUri %q, canaryTrafficPercent %d; want v2 at 25", uri, pct)
	}
	exp.waitScrapes(t, 3)
	*clock = clock.Add(time.Minute)
	f.pass()
	if _, pct, ann := isvc(f); pct != 0 || ann["mlsync.io/canary-failed"] != "v2" || ann["mlsync.io/canary-from"] != "v1" {
		t.Errorf("failed canary: canaryTrafficPercent %d, annotations %v; want 0, failed v2 from v1", pct, ann)
	}
	*clock = clock.Add(20 * time.Minute)
	g := newFixtureFor(t, f, opts)
	g.pass()
	if _, pct, _ := isvc(g); pct != 0 {
		t.Errorf("after a restart: canaryTrafficPercent %d, want 0 (held)", pct)
	}
	g.push("models/fraud.cue", fmt.Sprintf(kserveCanaryModel, g.ns, g.ns, "v3"), "Promote v3")
	g.pass()
	uri, pct, ann := isvc(g)
	if uri != "s3://models/fraud/v3" || pct != 25 || ann["mlsync.io/canary-failed"] != "" || ann["mlsync.io/canary-since"] != clock.Format(time.RFC3339) {
		t.Errorf("v3 after the hold: storageUri %q, canaryTrafficPercent %d, annotations %v; want its own canary since %s", uri, pct, ann, clock.Format(time.RFC3339))
	}

	// v4 replaces v3 in the middle of v3's window: a window of its own.
	*clock = clock.Add(3 * time.Minute)
	g.push("models/fraud.cue", fmt.Sprintf(kserveCanaryModel, g.ns, g.ns, "v4"), "Promote v4")
	g.pass()
	uri, pct, ann = isvc(g)
	if uri != "s3://models/fraud/v4" || pct != 25 || ann["mlsync.io/canary-since"] != clock.Format(time.RFC3339) {
		t.Errorf("v4 replacing v3's canary: storageUri %q, canaryTrafficPercent %d, since %q; want v4 at 25 since %s", uri, pct, ann["mlsync.io/canary-since"], clock.Format(time.RFC3339))
	}
}
