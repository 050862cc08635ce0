package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/mlsync/mlsync/test/corpus"
)

// BenchmarkValidateCommand runs the real `mlsync validate DIR` binary on
// a repository of 1,000 models and 100 pipelines, one process per
// iteration, and reports the median wall time and the peak RSS. This is
// the figure BENCHMARKS.md quotes for the spec issue's target.
func BenchmarkValidateCommand(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "mlsync")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("building mlsync: %v\n%s", err, out)
	}
	dir := b.TempDir()
	if err := corpus.WriteDir(dir, corpus.Specs(1000, 100)); err != nil {
		b.Fatal(err)
	}
	var walls []time.Duration
	var peak int64
	b.ResetTimer()
	for range b.N {
		cmd := exec.Command(bin, "validate", dir)
		cmd.Env = os.Environ()
		start := time.Now()
		out, err := cmd.CombinedOutput()
		walls = append(walls, time.Since(start))
		if err != nil {
			b.Fatalf("mlsync validate: %v\n%s", err, out)
		}
		peak = max(peak, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss)
	}
	sort.Slice(walls, func(i, j int) bool { return walls[i] < walls[j] })
	b.ReportMetric(float64(walls[len(walls)/2].Milliseconds()), "median-ms")
	b.ReportMetric(float64(peak)/1024, "peak-MiB")
}
