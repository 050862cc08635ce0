package cluster

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// Main starts a control plane for a test package, stores it in *env, runs
// the package's tests and stops the control plane, also when a test fails
// or the run is interrupted. Use it as the package's TestMain body.
func Main(m *testing.M, env **Cluster, opts Options) {
	os.Exit(Run(m, env, opts))
}

// Run is Main without the exit: it returns m.Run's exit code, for a
// TestMain that starts more than a control plane.
//
// With -short no control plane is started and *env stays nil: Namespace
// then skips the test, so `go test -short` runs only the unit tests.
func Run(m *testing.M, env **Cluster, opts Options) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	c, err := Start(context.Background(), opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cluster: starting control plane: %v\n", err)
		return 1
	}
	defer c.Stop()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		c.Stop()
		os.Exit(1)
	}()
	*env = c
	return m.Run()
}

var nsUnsafe = regexp.MustCompile(`[^a-z0-9-]+`)

// Namespace creates a namespace for one test, named after it, and deletes
// it when the test ends. Call it first in a test that needs the cluster:
// under -short it skips the test.
func (c *Cluster) Namespace(t testing.TB) string {
	t.Helper()
	if c == nil {
		t.Skip("needs a control plane: skipped with -short (make test-unit); make test and .ci/run start it from the cached build")
	}
	c.nsMu.Lock()
	c.nsSeq++
	seq := c.nsSeq
	c.nsMu.Unlock()
	base := strings.Trim(nsUnsafe.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	suffix := fmt.Sprintf("-%d", seq)
	if len(base) > 63-len(suffix) {
		base = strings.TrimRight(base[:63-len(suffix)], "-")
	}
	name := base + suffix
	client, err := dynamic.NewForConfig(c.config)
	if err != nil {
		t.Fatal(err)
	}
	nsRes := client.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"})
	ns := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name},
	}}
	if _, err := nsRes.Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = nsRes.Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}
