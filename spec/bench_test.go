package spec_test

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/mlsync/mlsync/spec"
	testcorpus "github.com/mlsync/mlsync/test/corpus"
)

// corpus returns the benchmark repository as spec files.
func corpus(models, pipelines int) []spec.File {
	var files []spec.File
	for _, f := range testcorpus.Specs(models, pipelines) {
		files = append(files, spec.File{Path: f.Path, Data: f.Data})
	}
	return files
}

// BenchmarkValidate1100 validates 1,000 models and 100 pipelines with a
// fresh loader (schema compilation included), as `mlsync validate` does.
func BenchmarkValidate1100(b *testing.B) {
	files := corpus(1000, 100)
	b.ResetTimer()
	for range b.N {
		l, err := spec.NewLoader(spec.DefaultLoaderOptions())
		if err != nil {
			b.Fatal(err)
		}
		set, err := l.Load(files)
		if err != nil {
			b.Fatal(err)
		}
		if len(set.Models) != 1000 || len(set.Pipelines) != 100 {
			b.Fatalf("loaded %d models, %d pipelines", len(set.Models), len(set.Pipelines))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(len(files)), "µs/file")
}

// BenchmarkRevalidateOneChanged loads the 1,100 files once, then, per
// iteration, changes one model file and loads the whole set again, as
// the daemon does on a commit that touches one spec.
func BenchmarkRevalidateOneChanged(b *testing.B) {
	files := corpus(1000, 100)
	l, err := spec.NewLoader(spec.DefaultLoaderOptions())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := l.Load(files); err != nil {
		b.Fatal(err)
	}
	victim := len(files) - 1
	orig := files[victim].Data
	b.ResetTimer()
	for i := range b.N {
		files[victim].Data = append(append([]byte(nil), orig...), fmt.Sprintf("// edit %d\n", i)...)
		if _, err := l.Load(files); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidatePeakRSS runs one validation of the 1,100 files in a
// child process per iteration and reports the child's peak RSS.
func BenchmarkValidatePeakRSS(b *testing.B) {
	var peak int64
	for range b.N {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperValidateOnce$")
		cmd.Env = append(os.Environ(), "MLSYNC_VALIDATE_ONCE=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("child: %v\n%s", err, out)
		}
		rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB on Linux
		peak = max(peak, rss)
	}
	b.ReportMetric(float64(peak)/1024, "peak-MiB")
}

// TestHelperValidateOnce is BenchmarkValidatePeakRSS's child: it does
// nothing unless the benchmark runs it.
func TestHelperValidateOnce(t *testing.T) {
	if os.Getenv("MLSYNC_VALIDATE_ONCE") == "" {
		t.Skip("helper process for BenchmarkValidatePeakRSS")
	}
	l, err := spec.NewLoader(spec.DefaultLoaderOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Load(corpus(1000, 100)); err != nil {
		t.Fatal(err)
	}
}
