package reconciler_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/mlsync/mlsync/gitsource"
	"github.com/mlsync/mlsync/gitsource/forge"
	"github.com/mlsync/mlsync/kube"
	"github.com/mlsync/mlsync/reconciler"
	"github.com/mlsync/mlsync/reconciler/promotion"
	"github.com/mlsync/mlsync/reconciler/registry"
	"github.com/mlsync/mlsync/spec"
	"github.com/mlsync/mlsync/test/gitea"
	"github.com/mlsync/mlsync/test/gitserver"
	"github.com/mlsync/mlsync/test/require"
)

// forgeServer is the package's Gitea, started on first use.
var forgeServer *gitea.Server

func giteaServer(t testing.TB) *gitea.Server {
	t.Helper()
	if !gitea.Available() {
		require.Missing(t, "the Gitea binary", "test/gitea/build.sh builds it once into the cache, and .ci/run runs that", nil)
	}
	if forgeServer == nil {
		dir, err := os.MkdirTemp("", "mlsync-gitea-")
		if err != nil {
			t.Fatal(err)
		}
		srv, err := gitea.Start(dir)
		if err != nil {
			t.Fatal(err)
		}
		forgeServer = srv
	}
	return forgeServer
}

const stagedModel = `kind: "Model"
name: "fraud"
namespace: %q
training: {pipeline: "tabular", data: {source: "s3://data/tx", version: "2026-11-30"}}
evaluation: {primaryMetric: "auc", thresholds: auc: min: 0.9}
stages: [{
	name:      "staging"
	namespace: "%s-staging"
	promotion: "auto"
}, {
	name:      "production"
	namespace: "%s-prod"
	promotion: "pull-request"
}]
serving: {image: "ghcr.io/example/fraud:{version}", replicas: min: 1}
`

// promotionFixture is a spec repository on Gitea with a reconciler whose
// forge is that Gitea.
type promotionFixture struct {
	*fixture
	srv   *gitea.Server
	repo  string // owner/name
	token string // token file
}

func newPromotionFixture(t *testing.T, tokenFile string) *promotionFixture {
	t.Helper()
	srv := giteaServer(t)
	ns := env.Namespace(t)
	for _, suffix := range []string{"-staging", "-prod"} {
		createNamespace(t, ns+suffix)
	}
	seed := t.TempDir()
	writeFile(t, filepath.Join(seed, "models/fraud.cue"), fmt.Sprintf(stagedModel, ns, ns, ns))
	writeFile(t, filepath.Join(seed, "pipelines/tabular.cue"), fmt.Sprintf(pipelineSpec, ns, "", "train:1", "job"))
	url, repo, err := srv.CreateRepo(t.Context(), ns, seed)
	if err != nil {
		t.Fatal(err)
	}
	if tokenFile == "" {
		tokenFile = filepath.Join(t.TempDir(), "token")
		os.WriteFile(tokenFile, []byte(srv.Token+"\n"), 0o600)
	}
	co, err := gitserver.Clone(t.TempDir(), url)
	if err != nil {
		t.Fatal(err)
	}
	pf := &promotionFixture{srv: srv, repo: repo, token: tokenFile}
	f := &fixture{t: t, ns: ns, url: url, co: co, client: client(t)}
	pf.fixture = pf.reconcilerFor(f, srv.URL)
	return pf
}

func (pf *promotionFixture) reconcilerFor(f *fixture, forgeURL string) *fixture {
	fg, err := forge.New(forge.Options{Kind: forge.Gitea, URL: forgeURL, Repo: pf.repo, TokenFile: pf.token, Timeout: 5 * time.Second})
	if err != nil {
		f.t.Fatal(err)
	}
	// Training is off here: the test writes the registry itself.
	return newFixtureFor(f.t, f, func(o *reconciler.Options) { o.Forge = fg; o.DriftInterval = time.Hour })
}

// seedVersions writes registry/fraud.json on the status branch, as
// finished training runs would have.
func (pf *promotionFixture) seedVersions(versions ...registry.Version) {
	pf.t.Helper()
	reg := &registry.Registry{Model: "fraud"}
	for _, v := range versions {
		reg.Add(v)
	}
	data, err := reg.Encode()
	if err != nil {
		pf.t.Fatal(err)
	}
	rem, err := gitsource.NewRemote(gitsource.Options{URL: pf.url})
	if err != nil {
		pf.t.Fatal(err)
	}
	if _, err := rem.Commit(pf.t.Context(), gitsource.CommitRequest{Branch: "mlsync/status", Message: "seed registry",
		Files: map[string][]byte{registry.Path("fraud"): data}}); err != nil {
		pf.t.Fatal(err)
	}
	// A restarted reconciler reads the registry again.
	pf.fixture = pf.reconcilerFor(pf.fixture, pf.srv.URL)
}

// passAllowingErrors runs a pass whose promotion step may fail.
func (f *fixture) passAllowingErrors() {
	f.t.Helper()
	if _, err := f.rec.Pass(f.t.Context()); err != nil {
		f.t.Logf("pass: %v", err)
	}
}

func passed(auc float64) registry.Version {
	return registry.Version{Run: fmt.Sprintf("fraud-run-%v", auc), Metrics: map[string]float64{"auc": auc},
		Gate: registry.Verdict{Passed: auc >= 0.9}, DataVersion: "2026-11-30", Images: []string{"train:1"}}
}

type giteaPR struct {
	Number int    `json:"number"`
	State  string `json:"state"`
	Merged bool   `json:"merged"`
	Body   string `json:"body"`
	Head   struct {
		Ref string `json:"ref"`
	} `json:"head"`
}

func (pf *promotionFixture) pulls() []giteaPR {
	pf.t.Helper()
	var prs []giteaPR
	if err := pf.srv.API(pf.t.Context(), http.MethodGet, "/repos/"+pf.repo+"/pulls?state=all", nil, &prs); err != nil {
		pf.t.Fatal(err)
	}
	return prs
}

func (pf *promotionFixture) pull() {
	pf.t.Helper()
	if err := pf.co.Git("pull", "-q", "--rebase", "origin", "main"); err != nil {
		pf.t.Fatal(err)
	}
}

func servedVersion(t *testing.T, f *fixture, ns string) string {
	t.Helper()
	obj, err := f.client.Resource(deployments).Namespace(ns).Get(t.Context(), "fraud", metav1.GetOptions{})
	if err != nil {
		return ""
	}
	return obj.GetLabels()["mlsync.io/version"]
}

// TestPromotionFlow: auto promotion commits the staging pin; production
// gets one pull request per version that passed, with a reviewer's body;
// a newer version replaces the open proposal; merging rolls production
// out, reverting rolls it back, a declined version is not proposed again
// and a failed gate promotes nothing.
func TestPromotionFlow(t *testing.T) {
	pf := newPromotionFixture(t, "")
	pf.seedVersions(passed(0.93))
	pf.pass() // applies; auto-promotes v1 to staging
	pf.pull()
	if log, _ := pf.co.Output("log", "-1", "--format=%s"); log != "promote fraud v1 to staging" {
		t.Fatalf("no auto promotion commit on main: %q", log)
	}
	data, _ := os.ReadFile(filepath.Join(pf.co.Dir, "models/fraud.cue"))
	if !strings.Contains(string(data), "\tname:      \"staging\"\n\tversion: \"v1\"\n\tnamespace:") {
		t.Errorf("staging pin not written in place:\n%s", data)
	}
	pf.pass() // applies staging v1; proposes v1 for production
	if got := servedVersion(t, pf.fixture, pf.ns+"-staging"); got != "v1" {
		t.Errorf("staging serves %q, want v1", got)
	}
	prs := pf.pulls()
	if len(prs) != 1 || prs[0].Head.Ref != "mlsync/promote/fraud-v1-production" || prs[0].State != "open" {
		t.Fatalf("want one open PR for v1: %+v", prs)
	}
	for _, want := range []string{"## Promote fraud v1 to production", "| Evaluation gate | **passed** |", "| auc | 0.93 |",
		"```diff", "+    mlsync.io/version: v1", "[Model registry]("} {
		if !strings.Contains(prs[0].Body, want) {
			t.Errorf("PR body lacks %q:\n%s", want, prs[0].Body)
		}
	}

	// v2 passes: staging moves (auto), and the production PR is replaced.
	pf.seedVersions(passed(0.93), passed(0.95))
	pf.pass() // auto: staging v2
	pf.pass() // applies staging v2; proposes v2, closing the v1 PR
	prs = pf.pulls()
	open := 0
	for _, pr := range prs {
		if pr.State == "open" {
			open++
			if pr.Head.Ref != "mlsync/promote/fraud-v2-production" {
				t.Errorf("open PR for the wrong version: %s", pr.Head.Ref)
			}
		}
	}
	if open != 1 || len(prs) != 2 {
		t.Fatalf("want the v1 PR closed and one open for v2: %+v", prs)
	}
	var v2, v1 int
	for _, pr := range prs {
		if pr.State == "open" {
			v2 = pr.Number
		} else {
			v1 = pr.Number
		}
	}
	var comments []struct {
		Body string `json:"body"`
	}
	if err := pf.srv.API(t.Context(), http.MethodGet, fmt.Sprintf("/repos/%s/issues/%d/comments", pf.repo, v1), nil, &comments); err != nil {
		t.Fatal(err)
	}
	if len(comments) != 1 || !strings.Contains(comments[0].Body, fmt.Sprintf("Superseded by #%d", v2)) {
		t.Errorf("the closed v1 proposal should point to #%d: %+v", v2, comments)
	}

	// Merge: production rolls out v2.
	if err := pf.srv.Merge(t.Context(), pf.repo, v2); err != nil {
		t.Fatal(err)
	}
	pf.pass()
	if got := servedVersion(t, pf.fixture, pf.ns+"-prod"); got != "v2" {
		t.Fatalf("production serves %q after the merge, want v2", got)
	}

	// Revert the pin by hand: production rolls back, and the merged v2
	// proposal is not opened again.
	pf.pull()
	data, _ = os.ReadFile(filepath.Join(pf.co.Dir, "models/fraud.cue"))
	reverted := strings.Replace(string(data), "\"production\"\n\tversion: \"v2\"", "\"production\"\n\tversion: \"v1\"", 1)
	if reverted == string(data) {
		t.Fatalf("cannot find the production pin to revert:\n%s", data)
	}
	pf.push("models/fraud.cue", reverted, "Roll production back to v1")
	pf.pass()
	if got := servedVersion(t, pf.fixture, pf.ns+"-prod"); got != "v1" {
		t.Errorf("production serves %q after the revert, want v1", got)
	}
	if n := len(pf.pulls()); n != 2 {
		t.Errorf("the revert led to a new PR: %d PRs", n)
	}

	// A failed gate promotes nothing.
	pf.seedVersions(passed(0.93), passed(0.95), passed(0.5))
	head, _ := pf.co.Output("rev-parse", "HEAD")
	pf.pass()
	pf.pull()
	if now, _ := pf.co.Output("rev-parse", "HEAD"); now != head {
		t.Errorf("a version that failed its gate was promoted")
	}
}

// TestDeclinedPRNotReopened: a pull request closed without merge stays
// closed for that version.
func TestDeclinedPRNotReopened(t *testing.T) {
	pf := newPromotionFixture(t, "")
	pf.seedVersions(passed(0.93))
	pf.pass()
	pf.pass()
	prs := pf.pulls()
	if len(prs) != 1 {
		t.Fatalf("want one PR, got %+v", prs)
	}
	if err := pf.srv.API(t.Context(), http.MethodPatch, fmt.Sprintf("/repos/%s/pulls/%d", pf.repo, prs[0].Number),
		map[string]any{"state": "closed"}, nil); err != nil {
		t.Fatal(err)
	}
	pf.fixture = pf.reconcilerFor(pf.fixture, pf.srv.URL) // even after a restart
	pf.pass()
	pf.pass()
	if prs := pf.pulls(); len(prs) != 1 || prs[0].State != "closed" {
		t.Errorf("a declined proposal was reopened: %+v", prs)
	}
	if _, summary := pf.statusCommit("status/summary.md"); !strings.Contains(summary, "| fraud | production | - -> v1 | pull-request | declined") {
		t.Errorf("status does not show the declined proposal:\n%s", summary)
	}
}

// TestForgeDownAndBadToken: failures show in the status and are retried.
func TestForgeDownAndBadToken(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "token")
	os.WriteFile(bad, []byte("not-a-token\n"), 0o600)
	pf := newPromotionFixture(t, bad)
	pf.seedVersions(passed(0.93))
	pf.passAllowingErrors()
	pf.passAllowingErrors()
	if _, summary := pf.statusCommit("status/summary.md"); !strings.Contains(summary, "failed") || !strings.Contains(summary, "401 (the token is wrong or expired)") {
		t.Errorf("a bad token is not reported clearly:\n%s", summary)
	}
	// The forge is down: a closed port.
	good := filepath.Join(t.TempDir(), "token")
	os.WriteFile(good, []byte(pf.srv.Token+"\n"), 0o600)
	pf.token = good
	pf.fixture = pf.reconcilerFor(pf.fixture, "http://127.0.0.1:1")
	pf.passAllowingErrors()
	if n := len(pf.pulls()); n != 0 {
		t.Fatalf("%d PRs while the forge was down", n)
	}
	// Back up: the proposal is made.
	pf.fixture = pf.reconcilerFor(pf.fixture, pf.srv.URL)
	pf.pass()
	pf.pass()
	if prs := pf.pulls(); len(prs) != 1 || prs[0].State != "open" {
		t.Errorf("the proposal was not retried: %+v", prs)
	}
}

// TestCanaryRollout: a pin change on a canary stage runs the candidate
// beside the current version until the analysis window ends.
func TestCanaryRollout(t *testing.T) {
	clock := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	f := newFixture(t, func(o *reconciler.Options) { o.Clock = func() time.Time { return clock } })
	model := func(version string) string {
		return fmt.Sprintf(`kind: "Model"
name: "fraud"
namespace: %q
stages: [{name: "production", namespace: %q, version: %q, canary: {percent: 25, analysis: "10m"}}]
serving: {image: "ghcr.io/example/fraud:{version}", replicas: min: 4}
`, f.ns, f.ns, version)
	}
	f.push("models/fraud.cue", model("v1"), "Serve v1")
	f.pass()
	if got := servedVersion(t, f, f.ns); got != "v1" {
		t.Fatalf("serves %q, want v1", got)
	}
	f.push("models/fraud.cue", model("v2"), "Promote v2")
	f.pass()
	if got := servedVersion(t, f, f.ns); got != "v1" {
		t.Errorf("main Deployment moved to %q during the canary, want v1", got)
	}
	canary := f.get(deployments, "fraud-canary")
	if canary.GetLabels()["mlsync.io/version"] != "v2" {
		t.Errorf("canary serves %q, want v2", canary.GetLabels()["mlsync.io/version"])
	}
	if r, _, _ := unstructured.NestedInt64(canary.Object, "spec", "replicas"); r != 1 {
		t.Errorf("canary replicas = %d, want 1 (25%% of 4)", r)
	}
	if r, _, _ := unstructured.NestedInt64(f.get(deployments, "fraud").Object, "spec", "replicas"); r != 3 {
		t.Errorf("main replicas = %d during the canary, want 3", r)
	}
	clock = clock.Add(11 * time.Minute)
	f.pass()
	if got := servedVersion(t, f, f.ns); got != "v2" {
		t.Errorf("after the window the main Deployment serves %q, want v2", got)
	}
	if f.exists(deployments, "fraud-canary") {
		t.Errorf("the canary Deployment was not removed")
	}
}

// TestKServe: an InferenceService needs KServe's CRD: without it the
// object fails clearly; with it, it is applied.
func TestKServe(t *testing.T) {
	f := newFixture(t, nil)
	f.push("models/fraud.cue", fmt.Sprintf(`kind: "Model"
name: "fraud"
namespace: %q
stages: [{name: "production", namespace: %q, version: "v3"}]
serving: {runtime: "kserve", modelFormat: "sklearn", storageUri: "s3://models/fraud/{version}"}
`, f.ns, f.ns), "KServe")
	if _, err := f.rec.Pass(t.Context()); err == nil || !strings.Contains(err.Error(), "does not serve kind serving.kserve.io/v1beta1, Kind=InferenceService") {
		t.Fatalf("without the CRD: want a clear error, got %v", err)
	}
	installKServeCRD(t)
	f = newFixtureFor(t, f, nil)
	f.pass()
	isvc, err := f.client.Resource(isvcs).Namespace(f.ns).Get(t.Context(), "fraud", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("InferenceService not applied: %v", err)
	}
	if uri, _, _ := unstructured.NestedString(isvc.Object, "spec", "predictor", "model", "storageUri"); uri != "s3://models/fraud/v3" {
		t.Errorf("storageUri = %q", uri)
	}
}

// BenchmarkPropose measures a promotion proposal for one model against
// the local Gitea: list the model's proposals, push the branch with the
// pin commit, open the pull request. Each iteration proposes a newer
// version for production; "replace" leaves the one before open, so the
// proposal also closes it (one open proposal per model and stage), "new"
// closes it by hand, untimed.
func BenchmarkPropose(b *testing.B) {
	b.Run("new", func(b *testing.B) { benchPropose(b, false) })
	b.Run("replace", func(b *testing.B) { benchPropose(b, true) })
	b.Run("gitea-floor", benchGiteaFloor)
}

// benchGiteaFloor is Gitea's own share of a proposal, for comparison:
// `git push` of a branch with one commit, then the pull request opened
// with one API call.
func benchGiteaFloor(b *testing.B) {
	srv := giteaServer(b)
	ctx := context.Background()
	seed := b.TempDir()
	os.WriteFile(filepath.Join(seed, "README.md"), []byte("specs\n"), 0o644)
	url, repo, err := srv.CreateRepo(ctx, fmt.Sprintf("floor-%d", time.Now().UnixNano()), seed)
	if err != nil {
		b.Fatal(err)
	}
	co, err := gitserver.Clone(b.TempDir(), url)
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		branch := fmt.Sprintf("mlsync/promote/floor-v%d-production", i)
		if err := co.Git("checkout", "-q", "-B", branch, "origin/main"); err != nil {
			b.Fatal(err)
		}
		os.WriteFile(filepath.Join(co.Dir, "README.md"), fmt.Appendf(nil, "specs %d\n", i), 0o644)
		if err := co.Git("commit", "-q", "-am", "pin"); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := co.Git("push", "-q", "origin", branch); err != nil {
			b.Fatal(err)
		}
		if err := srv.API(ctx, http.MethodPost, "/repos/"+repo+"/pulls",
			map[string]any{"head": branch, "base": "main", "title": "pin", "body": "floor"}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func benchPropose(b *testing.B, replace bool) {
	srv := giteaServer(b)
	ns := "bench-propose"
	seed := b.TempDir()
	os.MkdirAll(filepath.Join(seed, "models"), 0o755)
	os.MkdirAll(filepath.Join(seed, "pipelines"), 0o755)
	os.WriteFile(filepath.Join(seed, "models/fraud.cue"), []byte(strings.Replace(fmt.Sprintf(stagedModel, ns, ns, ns), `promotion: "pull-request"`, `promotion: "manual"`, 1)), 0o644)
	os.WriteFile(filepath.Join(seed, "pipelines/tabular.cue"), []byte(fmt.Sprintf(pipelineSpec, ns, "", "train:1", "job")), 0o644)
	ctx := context.Background()
	url, repo, err := srv.CreateRepo(ctx, fmt.Sprintf("bench-%d", time.Now().UnixNano()), seed)
	if err != nil {
		b.Fatal(err)
	}
	token := filepath.Join(b.TempDir(), "token")
	os.WriteFile(token, []byte(srv.Token), 0o600)
	fg, err := forge.New(forge.Options{Kind: forge.Gitea, URL: srv.URL, Repo: repo, TokenFile: token})
	if err != nil {
		b.Fatal(err)
	}
	rem, _ := gitsource.NewRemote(gitsource.Options{URL: url})
	const versions = 200
	reg := &registry.Registry{Model: "fraud"}
	for i := range versions {
		reg.Add(passed(0.91 + float64(i)/10000))
	}
	data, _ := reg.Encode()
	if _, err := rem.Commit(ctx, gitsource.CommitRequest{Branch: "mlsync/status", Message: "seed", Files: map[string][]byte{registry.Path("fraud"): data}}); err != nil {
		b.Fatal(err)
	}
	loader, _ := spec.NewLoader(spec.DefaultLoaderOptions())
	opts := reconciler.DefaultOptions()
	opts.Forge = fg
	rec, err := reconciler.New(rem, nil, loader, opts, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := rec.Prepare(ctx); err != nil {
		b.Fatal(err)
	}
	n := 0
	for b.Loop() {
		if n++; n > versions {
			b.Fatalf("more than %d iterations: seed more versions", versions)
		}
		p, err := promotion.Manual(rec.Model("fraud"), rec.Registry("fraud"), "production", fmt.Sprintf("v%d", n))
		if err != nil {
			b.Fatal(err)
		}
		st, err := rec.Propose(ctx, p, true)
		if err != nil || st.Number == 0 || st.State != reconciler.PromotionProposed {
			b.Fatalf("propose: %+v %v", st, err)
		}
		if !replace {
			b.StopTimer()
			if err := srv.API(ctx, http.MethodPatch, fmt.Sprintf("/repos/%s/pulls/%d", repo, st.Number), map[string]any{"state": "closed"}, nil); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
	b.StopTimer()
	var open []giteaPR
	if err := srv.API(ctx, http.MethodGet, "/repos/"+repo+"/pulls?state=open", nil, &open); err != nil {
		b.Fatal(err)
	}
	if want := map[bool]int{true: 1}[replace]; len(open) != want {
		b.Fatalf("%d open promotion pull requests after %d proposals, want %d", len(open), n, want)
	}
}

var isvcs = schema.GroupVersionResource{Group: "serving.kserve.io", Version: "v1beta1", Resource: "inferenceservices"}

func client(t testing.TB) dynamic.Interface {
	t.Helper()
	c, err := dynamic.NewForConfig(env.Config())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var namespaces = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}

// createNamespace creates a namespace stages serve in (if missing).
func createNamespace(t testing.TB, name string) {
	t.Helper()
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]any{"name": name}}}
	if _, err := client(t).Resource(namespaces).Create(t.Context(), ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// installKServeCRD installs a schemaless InferenceService CRD, as KServe's
// installation would (the controller itself is not needed here).
func installKServeCRD(t *testing.T) {
	t.Helper()
	m, err := kube.NewResourceManager(env.Config(), kube.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "inferenceservices.serving.kserve.io"},
		"spec": map[string]any{
			"group": "serving.kserve.io", "scope": "Namespaced",
			"names": map[string]any{"plural": "inferenceservices", "singular": "inferenceservice", "kind": "InferenceService", "shortNames": []any{"isvc"}},
			"versions": []any{map[string]any{"name": "v1beta1", "served": true, "storage": true,
				"schema":       map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
				"subresources": map[string]any{"status": map[string]any{}}}},
		},
	}}
	c := client(t).Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	if _, err := c.Create(t.Context(), crd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Other tests need the cluster without KServe: remove it again.
	t.Cleanup(func() {
		ctx := context.Background()
		if err := c.Delete(ctx, crd.GetName(), metav1.DeleteOptions{}); err != nil {
			t.Errorf("deleting the InferenceService CRD: %v", err)
			return
		}
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if _, err := c.Get(ctx, crd.GetName(), metav1.GetOptions{}); apierrors.IsNotFound(err) {
				return
			}
		}
		t.Errorf("the InferenceService CRD is still there 30s after its deletion")
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := client(t).Resource(isvcs).Namespace("default").List(t.Context(), metav1.ListOptions{}); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("InferenceService CRD not served after 20s")
}
