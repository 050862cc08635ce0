package reconciler_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlsync/mlsync/gitsource"
	"github.com/mlsync/mlsync/kube"
	"github.com/mlsync/mlsync/reconciler"
	"github.com/mlsync/mlsync/reconciler/registry"
	"github.com/mlsync/mlsync/reconciler/training"
	"github.com/mlsync/mlsync/spec"
	"github.com/mlsync/mlsync/test/corpus"
	"github.com/mlsync/mlsync/test/gitserver"
)

// BenchmarkUnchangedTrainingPass: 1,000 trained models and 100
// pipelines, every run already in the registry. Each iteration pushes a
// commit that changes one model's serving image, none of the training
// inputs, and times the pass: it must create no Job.
func BenchmarkUnchangedTrainingPass(b *testing.B) {
	if env == nil {
		b.Skip("needs a control plane: skipped with -short; make test and .ci/run start it from the cached build")
	}
	ctx := b.Context()
	files := corpus.Specs(1000, 100)
	// Production waits for a person (promotions are BenchmarkPropose's):
	// with the corpus's pull-request policy every model would propose v3
	// to production in the first pass.
	for i := range files {
		files[i].Data = bytes.Replace(files[i].Data, []byte(`promotion: "pull-request"`), []byte(`promotion: "manual"`), 1)
	}
	seed := b.TempDir()
	if err := corpus.WriteDir(seed, files); err != nil {
		b.Fatal(err)
	}
	name := fmt.Sprintf("bench-training-%d", time.Now().UnixNano())
	url, err := git.CreateRepo(name, seed)
	if err != nil {
		b.Fatal(err)
	}
	// The registry knows every model's run: plan them as the reconciler
	// will.
	var specFiles []spec.File
	for _, f := range files {
		specFiles = append(specFiles, spec.File{Path: f.Path, Data: f.Data})
	}
	loader, _ := spec.NewLoader(spec.DefaultLoaderOptions())
	set, err := loader.Load(specFiles)
	if err != nil {
		b.Fatal(err)
	}
	rem, _ := gitsource.NewRemote(gitsource.Options{URL: url})
	head, err := rem.Head(ctx, "main")
	if err != nil {
		b.Fatal(err)
	}
	regFiles := map[string][]byte{}
	for i := range set.Models {
		m := &set.Models[i]
		run, err := training.Plan(m, set.Pipeline(m.Namespace, m.Training.Pipeline), training.PlanOptions{Revision: head})
		if err != nil {
			b.Fatal(err)
		}
		reg := &registry.Registry{Model: m.Name}
		for v := 1; v <= 3; v++ {
			id := run.ID
			if v < 3 {
				id = fmt.Sprintf("%s-old%d", m.Name, v)
			}
			reg.Add(registry.Version{Run: id, Metrics: map[string]float64{"auc": 0.95, "precision": 0.9}, Gate: registry.Verdict{Passed: true}})
		}
		data, _ := reg.Encode()
		regFiles[registry.Path(m.Name)] = data
	}
	if _, err := rem.Commit(ctx, gitsource.CommitRequest{Branch: "mlsync/status", Message: "seed registries", Files: regFiles}); err != nil {
		b.Fatal(err)
	}
	co, err := gitserver.Clone(b.TempDir(), url)
	if err != nil {
		b.Fatal(err)
	}
	manager, err := kube.NewResourceManager(env.Config(), kube.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	defer manager.Close()
	opts := reconciler.DefaultOptions()
	opts.Name = name
	rec, err := reconciler.New(rem, manager, loader, opts, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	for _, ns := range []string{"team-0", "team-1", "team-2", "team-3", "team-4", "team-5", "team-6", "team-7", "team-8", "team-9"} {
		for _, suffix := range []string{"", "-staging", "-production"} {
			createNamespace(b, ns+suffix)
		}
	}
	start := time.Now()
	if _, err := rec.Pass(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("first pass (%d models applied): %s", len(set.Models), time.Since(start).Round(time.Millisecond))
	if n := jobCount(b); n != 0 {
		b.Fatalf("the first pass created %d Jobs; every run is in the registry", n)
	}
	image := regexp.MustCompile(`image: +"ghcr.io/acme/server[^"]*"`)
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		p := filepath.Join(co.Dir, "models", "m0007.cue")
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		changed := image.ReplaceAll(data, fmt.Appendf(nil, `image: "ghcr.io/acme/server:1.%d"`, i))
		if err := os.WriteFile(p, changed, 0o644); err != nil {
			b.Fatal(err)
		}
		if _, err := co.CommitAndPush(fmt.Sprintf("Serve m7 from a new image 1.%d", i)); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		res, err := rec.Pass(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if res.Changes.Count(kube.ActionConfigured) == 0 {
			b.Fatalf("the serving change was not applied: %v", res.Changes.Failed())
		}
		if n := jobCount(b); n != 0 {
			b.Fatalf("%d Jobs created by a commit that changes no training input", n)
		}
		b.StartTimer()
	}
}

func jobCount(b *testing.B) int {
	b.Helper()
	list, err := client(b).Resource(jobs).List(b.Context(), metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return len(list.Items)
}
