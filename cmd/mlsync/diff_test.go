package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlsync/mlsync/kube"
	"github.com/mlsync/mlsync/reconciler/render"
	"github.com/mlsync/mlsync/test/cluster"
)

// The control plane starts only for the tests that need one (the
// command tests without a cluster, and the benchmark, stay fast).
var (
	cpOnce sync.Once
	cp     *cluster.Cluster
	cpErr  error
)

func controlPlane(t *testing.T) *cluster.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a control plane: skipped with -short (make test-unit); make test and .ci/run start it from the cached build")
	}
	cpOnce.Do(func() { cp, cpErr = cluster.Start(context.Background(), cluster.Options{}) })
	if cpErr != nil {
		t.Fatal(cpErr)
	}
	return cp
}

func TestMain(m *testing.M) {
	code := m.Run()
	if cp != nil {
		cp.Stop()
	}
	os.Exit(code)
}

const diffModel = `kind: "Model"
name: "fraud"
namespace: %q
stages: [{name: "production", namespace: %q, version: %q, canary: {percent: 25, analysis: "10m"}}]
serving: {image: "ghcr.io/example/fraud:{version}", replicas: min: 4}
`

// TestDiffCommand runs `mlsync diff` against a real API server: exit 1
// with the objects to create, 0 once they are applied, a pin change
// planned as the canary the daemon would start, and a failed canary's
// hold planned as no change (not as the pin's rollout).
func TestDiffCommand(t *testing.T) {
	c := controlPlane(t)
	ns := c.Namespace(t)
	dir := t.TempDir()
	write := func(version string) {
		if err := os.MkdirAll(filepath.Join(dir, "models"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "models", "fraud.cue"), fmt.Appendf(nil, diffModel, ns, ns, version), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	diff := func() (int, string) {
		t.Helper()
		code, out, errOut := runCLI(t, "diff", "--kubeconfig", c.Kubeconfig(), "--name", ns, dir)
		if code == exitUsage {
			t.Fatalf("diff failed: %s", errOut)
		}
		return code, out
	}
	m, err := kube.NewResourceManager(c.Config(), kube.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	apply := func(opts render.Options) {
		t.Helper()
		set, files, errs, err := loadSources(dir)
		if err != nil || len(errs) > 0 {
			t.Fatal(err, errs)
		}
		opts.Files = files
		objs, err := render.Objects(set, opts)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := m.Apply(t.Context(), objs, kube.DefaultApplyOptions())
		if err != nil {
			t.Fatal(err, cs)
		}
	}

	write("v1")
	if code, out := diff(); code != exitFailed || !strings.Contains(out, "Deployment/"+ns+"/fraud") {
		t.Errorf("before apply: exit %d, want 1 with the Deployment to create:\n%s", code, out)
	}
	apply(render.Options{})
	if code, out := diff(); code != exitOK {
		t.Errorf("after apply: exit %d, want 0:\n%s", code, out)
	}

	write("v2")
	code, out := diff()
	if code != exitFailed || !strings.Contains(out, "fraud-canary") {
		t.Errorf("pin moved to v2: exit %d, want 1 with the canary Deployment:\n%s", code, out)
	}
	_, main, found := strings.Cut(out, "+++ git/Deployment/"+ns+"/fraud\n")
	if !found {
		t.Fatalf("no diff of the main Deployment (its replicas make room for the canary):\n%s", out)
	}
	main, _, _ = strings.Cut(main, "\n--- ")
	if strings.Contains(main, "v2") {
		t.Errorf("the plan rolls the main Deployment to v2 instead of starting a canary beside it:\n%s", main)
	}

	// The daemon found v2 over its objectives and holds the stage at v1.
	since := time.Now().Add(-time.Minute)
	apply(render.Options{Rollouts: map[string]render.Rollout{"fraud/production": {From: "v1", Since: since, Now: time.Now(), Failed: "error rate 0.200 > 0.05 over 300 requests"}}})
	if code, out := diff(); code != exitOK {
		t.Errorf("held stage: exit %d, want 0 (the daemon applies nothing more):\n%s", code, out)
	}
}
