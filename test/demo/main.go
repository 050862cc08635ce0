package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/mlsync/mlsync/test/cluster"
	"github.com/mlsync/mlsync/test/gitserver"
)

func main() {
	mlsync := flag.String("mlsync", "bin/mlsync", "the mlsync binary to run")
	example := flag.String("example", "examples/fraud-detection", "example spec repository to seed the Git server with")
	keep := flag.Bool("keep", false, "keep everything running after the demo until interrupted")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *mlsync, *example, *keep); err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo failed: %v\n", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) {
	fmt.Printf("\n==> "+format+"\n", args...)
}

func run(ctx context.Context, mlsync, example string, keep bool) error {
	mlsync, err := filepath.Abs(mlsync)
	if err != nil {
		return err
	}
	if _, err := os.Stat(mlsync); err != nil {
		return fmt.Errorf("mlsync binary: %w (run `make build` first)", err)
	}

	step("starting a local cluster: etcd, kube-apiserver, controller-manager, scheduler, kwok (one simulated node)")
	start := time.Now()
	c, err := cluster.Start(ctx, cluster.Options{Full: true})
	if err != nil {
		return err
	}
	defer c.Stop()
	fmt.Printf("    ready in %s; kubeconfig %s\n", time.Since(start).Round(100*time.Millisecond), c.Kubeconfig())

	step("serving a spec repository seeded from %s over smart HTTP (git http-backend)", example)
	git, err := gitserver.Start(gitserver.Options{})
	if err != nil {
		return err
	}
	defer git.Close()
	url, err := git.CreateRepo("specs", example)
	if err != nil {
		return err
	}
	fmt.Printf("    %s\n", url)

	step("running mlsync run --repo %s --interval 2s", url)
	daemon := exec.Command(mlsync, "run", "--repo", url, "--branch", "main", "--path", ".",
		"--interval", "2s", "--status-branch", "mlsync/status", "--kubeconfig", c.Kubeconfig())
	daemon.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logs, err := daemon.StderrPipe()
	if err != nil {
		return err
	}
	if err := daemon.Start(); err != nil {
		return err
	}
	go prefix(logs, "    mlsync | ")
	defer func() {
		_ = daemon.Process.Signal(syscall.SIGTERM)
		_ = daemon.Wait()
	}()

	client, err := dynamic.NewForConfig(c.Config())
	if err != nil {
		return err
	}
	deployments := client.Resource(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"})
	step("waiting until staging serves fraud v3 and production serves v2")
	if err := waitServing(ctx, deployments.Namespace("ml-staging"), "fraud", "v3"); err != nil {
		return err
	}
	if err := waitServing(ctx, deployments.Namespace("ml-production"), "fraud", "v2"); err != nil {
		return err
	}

	step("a reviewer promotes v3 to production: edit the pin, commit, push")
	work, err := os.MkdirTemp("", "mlsync-demo-checkout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	co, err := gitserver.Clone(filepath.Join(work, "specs"), url)
	if err != nil {
		return err
	}
	specPath := filepath.Join(co.Dir, "models", "fraud.cue")
	data, err := os.ReadFile(specPath)
	if err != nil {
		return err
	}
	const before = "name:      \"production\"\n\tversion:   \"v2\""
	changed := strings.Replace(string(data), before, strings.Replace(before, "v2", "v3", 1), 1)
	if changed == string(data) {
		return errors.New("example spec has no production stage pinned to v2 to change")
	}
	if err := co.Write("models/fraud.cue", changed); err != nil {
		return err
	}
	head, err := co.CommitAndPush("Promote fraud v3 to production")
	if err != nil {
		return err
	}
	fmt.Printf("    pushed %s\n", head[:7])

	step("waiting until production serves fraud v3")
	if err := waitServing(ctx, deployments.Namespace("ml-production"), "fraud", "v3"); err != nil {
		return err
	}
	// Let the daemon's next pass see the healthy rollout and commit it.
	if err := waitStatus(ctx, co, "Ready: True", 30*time.Second); err != nil {
		return err
	}

	step("kubectl get deployments,services,hpa,pods -A -l mlsync.io/model=fraud -L mlsync.io/stage,mlsync.io/version")
	kubectl(c.Kubeconfig(), "get", "deployments,services,hpa,pods", "-A", "-l", "mlsync.io/model=fraud",
		"-L", "mlsync.io/stage,mlsync.io/version")

	step("git log mlsync/status (what mlsync wrote back)")
	if out, err := co.Output("log", "--format=%h %s", "FETCH_HEAD"); err == nil {
		fmt.Println(indent(out))
	}
	if out, err := co.Output("show", "FETCH_HEAD:status/summary.md"); err == nil {
		step("status/summary.md on mlsync/status")
		fmt.Println(indent(out))
	}

	if keep {
		step("everything keeps running; KUBECONFIG=%s; interrupt to stop", c.Kubeconfig())
		<-ctx.Done()
	}
	step("stopping mlsync, the Git server and the cluster")
	return nil
}

// waitServing waits until the Deployment serves version and all of its
// replicas are updated and available.
func waitServing(ctx context.Context, ri dynamic.ResourceInterface, name, version string) error {
	deadline := time.Now().Add(2 * time.Minute)
	start := time.Now()
	for {
		obj, err := ri.Get(ctx, name, metav1.GetOptions{})
		if err == nil && obj.GetLabels()["mlsync.io/version"] == version {
			want, _, _ := unstructured.NestedInt64(obj.Object, "status", "replicas")
			updated, _, _ := unstructured.NestedInt64(obj.Object, "status", "updatedReplicas")
			avail, _, _ := unstructured.NestedInt64(obj.Object, "status", "availableReplicas")
			if want > 0 && updated == want && avail == want {
				fmt.Printf("    %s/%s at %s: %d/%d available after %s\n", obj.GetNamespace(), name, version, avail, want,
					time.Since(start).Round(100*time.Millisecond))
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("deployment %s not serving %s after 2m (last error: %v)", name, version, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// waitStatus waits until the status branch's tip message contains want.
func waitStatus(ctx context.Context, co *gitserver.Checkout, want string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if err := co.Git("fetch", "-q", "origin", "mlsync/status"); err == nil {
			if msg, err := co.Output("log", "-1", "--format=%B", "FETCH_HEAD"); err == nil && strings.Contains(msg, want) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("status branch did not report %q within %s", want, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func kubectl(kubeconfig string, args ...string) {
	cmd := exec.Command("kubectl", append([]string{"--kubeconfig", kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	if errors.Is(err, exec.ErrNotFound) {
		fmt.Println("    (kubectl not installed; skipping)")
		return
	}
	fmt.Println(indent(strings.TrimRight(string(out), "\n")))
}

func prefix(r io.Reader, p string) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fmt.Println(p + sc.Text())
	}
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
