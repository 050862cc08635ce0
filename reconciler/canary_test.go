package reconciler_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlsync/mlsync/reconciler"
	"github.com/mlsync/mlsync/reconciler/report"
	"github.com/mlsync/mlsync/test/promserver"
)

// requestExporter serves a model server's request metrics for the
// production stage of fraud: on every scrape each version it serves
// answers 100 more requests, errShare of them with a 500, each under
// 50 ms.
type requestExporter struct {
	mu       sync.Mutex
	errShare map[string]float64 // version -> share of 5xx
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
		for _, le := range []string{"0.05", "0.25", "+Inf"} {
			fmt.Fprintf(w, "mlsync_request_duration_seconds_bucket{model=\"fraud\",stage=\"production\",version=%q,le=%q} %g\n", v, le, n)
		}
		fmt.Fprintf(w, "mlsync_request_duration_seconds_count{model=\"fraud\",stage=\"production\",version=%q} %g\n", v, n)
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
		t.Skip("prometheus not installed (Debian package prometheus)")
	}
	exp := &requestExporter{errShare: map[string]float64{}, ok: map[string]float64{}, errs: map[string]float64{}}
	exp.serve("v1", 0)
	client := startPrometheus(t, exp)
	clock := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	opts := func(o *reconciler.Options) {
		o.Canaries = client
		o.Clock = func() time.Time { return clock }
	}
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
	clock = clock.Add(time.Minute)
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

	// Held past the window, and across a restart.
	clock = clock.Add(15 * time.Minute)
	f.pass()
	g := newFixtureFor(t, f, opts)
	g.pass()
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
	clock = clock.Add(time.Minute)
	g.pass()
	if c := canaryOf(g); c.State != report.CanaryAnalysing || c.Verdict != "within the objectives so far" {
		t.Errorf("healthy canary: %+v", c)
	}
	clock = clock.Add(10 * time.Minute)
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
}
