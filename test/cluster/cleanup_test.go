package cluster_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNoOrphansAfterPanic runs this test binary again with a test that
// panics while the control plane runs, and checks that etcd and
// kube-apiserver died with it.
func TestNoOrphansAfterPanic(t *testing.T) {
	if env == nil {
		t.Skip("needs a control plane: skipped with -short (make test-unit); make test and .ci/run start it from the cached build")
	}
	if os.Getenv("CLUSTER_PANIC_CHILD") != "" {
		pids := ""
		for _, name := range []string{"etcd", "kube-apiserver"} {
			out, _ := exec.Command("pgrep", "-x", "-P", strconv.Itoa(os.Getpid()), name).Output()
			pids += strings.TrimSpace(string(out)) + "\n"
		}
		if err := os.WriteFile(os.Getenv("CLUSTER_PANIC_CHILD"), []byte(pids), 0o644); err != nil {
			t.Fatal(err)
		}
		panic("a test panicking while the control plane runs")
	}
	pidFile := filepath.Join(t.TempDir(), "pids")
	cmd := exec.Command(os.Args[0], "-test.run=^TestNoOrphansAfterPanic$")
	cmd.Env = append(os.Environ(), "CLUSTER_PANIC_CHILD="+pidFile)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "a test panicking") {
		t.Fatalf("child run did not panic as planned: %v\n%s", err, out)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("bad pid %q", f)
		}
		pids = append(pids, pid)
	}
	if len(pids) != 2 {
		t.Fatalf("child saw %d control-plane processes, want 2 (etcd, kube-apiserver): %q", len(pids), data)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for syscall.Kill(pid, 0) == nil {
			if time.Now().After(deadline) {
				t.Fatalf("process %d outlived the panicking test binary", pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
