package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/mlsync/mlsync/kube"
	"github.com/mlsync/mlsync/test/bench/stats"
	"github.com/mlsync/mlsync/test/cluster"
)

func main() {
	runs := flag.Int("runs", 5, "runs of each measurement (the table shows medians)")
	models := flag.Int("models", 1000, "models; each is 5 objects, in 10 namespaces")
	flux := flag.String("flux", filepath.Join(cluster.CacheDir(), "bench", "fluxssa-v0.78.0"), "fluxssa binary ('' to skip)")
	child := flag.String("child", "", "internal: run mlsync's engine on this kubeconfig,file in this process")
	flag.Parse()
	if *child != "" {
		if err := childRun(*child); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if err := run(*runs, *models, *flux); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// fresh starts a new control plane, so every tool's every run starts
// from an empty cluster of the same size.
func fresh(ctx context.Context) (*cluster.Cluster, error) {
	return cluster.Start(ctx, cluster.Options{})
}

func run(runs, models int, flux string) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "mlsync-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if flux != "" {
		if _, err := os.Stat(flux); err != nil {
			return fmt.Errorf("fluxssa binary %s: %w (build it: cd test/bench/fluxssa && go build -o %s .)", flux, err, flux)
		}
	}
	s := stats.Samples{}
	for i := 1; i <= runs; i++ {
		fmt.Fprintf(os.Stderr, "run %d/%d\n", i, runs)
		// kubectl
		c, err := fresh(ctx)
		if err != nil {
			return err
		}
		file := filepath.Join(dir, fmt.Sprintf("kubectl-%d.yaml", i))
		if err := writeObjects(file, objects(fmt.Sprintf("k%d", i), models)); err != nil {
			return err
		}
		for _, phase := range []string{"cold", "noop"} {
			start := time.Now()
			out, err := exec.Command("kubectl", "--kubeconfig", c.Kubeconfig(), "apply", "--server-side",
				"--validate=false", "-f", file).CombinedOutput()
			if err != nil {
				return fmt.Errorf("kubectl: %v\n%s", err, tail(out))
			}
			s.Add("kubectl "+phase, time.Since(start).Seconds())
		}
		c.Stop()
		// Flux
		if flux != "" {
			c, err := fresh(ctx)
			if err != nil {
				return err
			}
			file := filepath.Join(dir, fmt.Sprintf("flux-%d.yaml", i))
			if err := writeObjects(file, objects(fmt.Sprintf("f%d", i), models)); err != nil {
				return err
			}
			for _, phase := range []string{"cold", "noop"} {
				cmd := exec.Command(flux, "--kubeconfig", c.Kubeconfig(), "--file", file)
				start := time.Now()
				out, err := cmd.CombinedOutput()
				if err != nil {
					return fmt.Errorf("fluxssa: %v\n%s", err, tail(out))
				}
				s.Add("flux "+phase, time.Since(start).Seconds())
				s.Add("flux rss "+phase, float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss)/1024)
			}
			c.Stop()
		}
		// mlsync, in a child process so its peak RSS is its own.
		c, err = fresh(ctx)
		if err != nil {
			return err
		}
		file = filepath.Join(dir, fmt.Sprintf("mlsync-%d.yaml", i))
		if err := writeObjects(file, objects(fmt.Sprintf("m%d", i), models)); err != nil {
			return err
		}
		self, err := os.Executable()
		if err != nil {
			return err
		}
		cmd := exec.Command(self, "--child", c.Kubeconfig()+","+file)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			c.Stop()
			return fmt.Errorf("mlsync child: %v", err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			k, v, ok := strings.Cut(line, "=")
			if f, err := strconv.ParseFloat(v, 64); ok && err == nil {
				s.Add(k, f)
			}
		}
		s.Add("mlsync rss", float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss)/1024)
		c.Stop()
	}
	printTable(s, runs, models, flux != "")
	return nil
}

func printTable(s stats.Samples, runs, models int, flux bool) {
	n := models*5 + 10
	fmt.Printf("Objects: %d (%d models x 5 kinds + 10 namespaces). Each tool's each run on a fresh kube-apiserver + etcd. Medians of %d runs, range in brackets.\n\n", n, models, runs)
	fmt.Println("| measurement | kubectl --server-side | Flux ssa ApplyAllStaged | mlsync | mlsync / kubectl |")
	fmt.Println("|---|---|---|---|---|")
	row := func(name, k, f, m string) {
		fv, ratio := "-", "-"
		if flux && f != "" {
			fv = fmt.Sprintf("%.2f s [%s]", s.Median(f), s.Range(f, 2))
		}
		kv := "-"
		if k != "" {
			kv = fmt.Sprintf("%.2f s [%s]", s.Median(k), s.Range(k, 2))
			ratio = fmt.Sprintf("%.2fx", s.Median(m)/s.Median(k))
		}
		fmt.Printf("| %s | %s | %s | %.3f s [%s] | %s |\n", name, kv, fv, s.Median(m), s.Range(m, 2), ratio)
	}
	row("cold apply", "kubectl cold", "flux cold", "mlsync cold")
	row("no-op re-apply", "kubectl noop", "flux noop", "mlsync noop")
	row("drift pass (one object edited)", "", "", "mlsync drift")
	row("diff of all objects (fresh process state)", "", "", "mlsync diff")
	fmt.Printf("\nmlsync no-op requests to the API server (watches aside): %.0f; drift pass: %.0f requests, %.0f object(s) corrected.\n",
		s.Median("mlsync noop requests"), s.Median("mlsync drift requests"), s.Median("mlsync drift corrected"))
	fmt.Printf("Peak RSS: mlsync engine %.0f MiB [%s]", s.Median("mlsync rss"), s.Range("mlsync rss", 2))
	if flux {
		fmt.Printf(", Flux ssa %.0f MiB (cold), %.0f MiB (no-op)", s.Median("flux rss cold"), s.Median("flux rss noop"))
	}
	fmt.Println(".")
}

func tail(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return strings.Join(lines, "\n")
}

// objects returns the benchmark's objects, in namespaces prefixed tag.
func objects(tag string, models int) []*unstructured.Unstructured {
	var objs []*unstructured.Unstructured
	for n := range 10 {
		objs = append(objs, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Namespace",
			"metadata": map[string]any{"name": fmt.Sprintf("bench-%s-%d", tag, n), "labels": owned("")},
		}})
	}
	for i := range models {
		ns := fmt.Sprintf("bench-%s-%d", tag, i%10)
		name := fmt.Sprintf("model-%04d", i)
		meta := func() map[string]any {
			return map[string]any{"name": name, "namespace": ns, "labels": owned(name),
				"annotations": map[string]any{kube.SpecHashAnnotation: fmt.Sprintf("%s-%d", name, 1), kube.RevisionAnnotation: "0123456"}}
		}
		objs = append(objs,
			&unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(),
				"spec": map[string]any{
					"selector": map[string]any{"matchLabels": map[string]any{"mlsync.io/model": name}},
					"template": map[string]any{
						"metadata": map[string]any{"labels": owned(name)},
						"spec": map[string]any{
							"serviceAccountName": name,
							"containers": []any{map[string]any{
								"name": "server", "image": "ghcr.io/example/model-server:1.4.2",
								"ports": []any{map[string]any{"name": "http", "containerPort": int64(8080)}},
								"env": []any{
									map[string]any{"name": "MODEL", "value": name},
									map[string]any{"name": "MODEL_URI", "value": "s3://models/" + name + "/v3"},
								},
								"envFrom":        []any{map[string]any{"configMapRef": map[string]any{"name": name}}},
								"resources":      map[string]any{"requests": map[string]any{"cpu": "500m", "memory": "1Gi"}},
								"readinessProbe": map[string]any{"tcpSocket": map[string]any{"port": "http"}},
							}},
						},
					},
				},
			}},
			&unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "v1", "kind": "Service", "metadata": meta(),
				"spec": map[string]any{
					"selector": map[string]any{"mlsync.io/model": name},
					"ports":    []any{map[string]any{"name": "http", "port": int64(80), "targetPort": "http"}},
				},
			}},
			&unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(),
				"data": map[string]any{"THRESHOLD": "0.83", "FEATURES": "amount,merchant,hour", "LOG_LEVEL": "info"},
			}},
			&unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(),
			}},
			&unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta(),
				"spec": map[string]any{
					"scaleTargetRef": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
					"minReplicas":    int64(2), "maxReplicas": int64(6),
					"metrics": []any{map[string]any{"type": "Resource", "resource": map[string]any{
						"name": "cpu", "target": map[string]any{"type": "Utilization", "averageUtilization": int64(70)}}}},
				},
			}},
		)
	}
	return objs
}

func owned(model string) map[string]any {
	l := map[string]any{kube.ManagedByLabel: kube.ManagedByValue}
	if model != "" {
		l["mlsync.io/model"] = model
	}
	return l
}

func writeObjects(path string, objs []*unstructured.Unstructured) error {
	var b strings.Builder
	for _, o := range objs {
		data, err := yaml.Marshal(o.Object)
		if err != nil {
			return err
		}
		b.WriteString("---\n")
		b.Write(data)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func readObjects(path string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var objs []*unstructured.Unstructured
	for _, doc := range strings.Split(string(data), "---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		js, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			return nil, err
		}
		o := &unstructured.Unstructured{}
		if err := o.UnmarshalJSON(js); err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
	return objs, nil
}

// childRun measures mlsync's engine: cold apply, no-op re-apply (counting
// requests), a drift pass after one hand edit, and a diff from a fresh
// manager that reads the inventory, printing key=value lines.
func childRun(arg string) error {
	kubeconfig, file, _ := strings.Cut(arg, ",")
	ctx := context.Background()
	objs, err := readObjects(file)
	if err != nil {
		return err
	}
	cfg, err := kube.LoadConfig(kubeconfig, "")
	if err != nil {
		return err
	}
	var requests atomic.Int64
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			if r.URL.Query().Get("watch") != "true" {
				if requests.Add(1) < 20 && os.Getenv("BENCH_DEBUG") != "" {
					fmt.Fprintln(os.Stderr, "request:", r.Method, r.URL.Path, r.URL.RawQuery)
				}
			}
			return rt.RoundTrip(r)
		})
	}
	m, err := kube.NewResourceManager(cfg, kube.DefaultOptions())
	if err != nil {
		return err
	}
	defer m.Close()
	opts := kube.DefaultApplyOptions()

	start := time.Now()
	cs, err := m.Apply(ctx, objs, opts)
	if err != nil {
		return err
	}
	if n := cs.Count(kube.ActionCreated); n != len(objs) {
		failed := cs.Failed()
		return fmt.Errorf("cold apply created %d of %d objects; %d failed, first: %v", n, len(objs), len(failed), failed[:min(3, len(failed))])
	}
	fmt.Printf("mlsync cold=%.3f\n", time.Since(start).Seconds())
	refs := make([]kube.ObjectRef, len(objs))
	for i, o := range objs {
		refs[i] = kube.RefOf(o)
	}
	if err := m.WriteInventory(ctx, kube.Inventory{Name: "bench", Objects: refs}); err != nil {
		return err
	}

	time.Sleep(2 * time.Second) // let the watches deliver what was created
	requests.Store(0)
	start = time.Now()
	cs, err = m.Apply(ctx, objs, opts)
	if err != nil {
		return err
	}
	if n := cs.Count(kube.ActionUnchanged); n != len(objs) {
		return fmt.Errorf("no-op apply left %d of %d unchanged", n, len(objs))
	}
	fmt.Printf("mlsync noop=%.3f\nmlsync noop requests=%d\n", time.Since(start).Seconds(), requests.Load())

	// Edit one Deployment by hand, as kubectl edit would.
	victim := objs[len(objs)-5] // the last model's Deployment
	dyn, err := dynamic.NewForConfig(rest.CopyConfig(cfg))
	if err != nil {
		return err
	}
	patch := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"server","image":"ghcr.io/example/model-server:hotfix"}]}}}}`)
	gvr := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	if _, err := dyn.Resource(gvr).Namespace(victim.GetNamespace()).Patch(ctx, victim.GetName(), types.StrategicMergePatchType, patch,
		metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		return err
	}
	<-m.Changes() // the watch sees the edit
	requests.Store(0)
	start = time.Now()
	cs, err = m.Apply(ctx, objs, opts)
	if err != nil {
		return err
	}
	fmt.Printf("mlsync drift=%.3f\nmlsync drift requests=%d\nmlsync drift corrected=%d\n", time.Since(start).Seconds(),
		requests.Load(), cs.Drifted())
	if cs.Drifted() != 1 || cs.Count(kube.ActionConfigured) != 1 {
		return fmt.Errorf("drift pass corrected %d objects (configured %d), want exactly 1", cs.Drifted(), cs.Count(kube.ActionConfigured))
	}

	// diff: a new manager, as `mlsync diff` starts, reading the inventory.
	start = time.Now()
	fresh, err := kube.NewResourceManager(cfg, kube.DefaultOptions())
	if err != nil {
		return err
	}
	defer fresh.Close()
	plan, err := fresh.Plan(ctx, objs, "bench", opts)
	if err != nil {
		return err
	}
	fmt.Printf("mlsync diff=%.3f\n", time.Since(start).Seconds())
	if plan.Changes() {
		return fmt.Errorf("diff after convergence reports changes:\n%s", plan.Text()[:min(2000, len(plan.Text()))])
	}
	return nil
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
