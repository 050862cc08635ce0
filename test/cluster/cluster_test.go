package cluster_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/mlsync/mlsync/test/cluster"
)

var env *cluster.Cluster

func TestMain(m *testing.M) { cluster.Main(m, &env, cluster.Options{}) }

// TestNamespace checks the harness end to end: a real API server answers,
// and each test gets a namespace of its own.
func TestNamespace(t *testing.T) {
	ns := env.Namespace(t)
	client, err := dynamic.NewForConfig(env.Config())
	if err != nil {
		t.Fatal(err)
	}
	got, err := client.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).
		Get(t.Context(), ns, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("namespace %s not created: %v", ns, err)
	}
	if got.GetName() != ns {
		t.Fatalf("got namespace %q, want %q", got.GetName(), ns)
	}
	if other := env.Namespace(t); other == ns {
		t.Fatalf("second namespace reused name %q", ns)
	}
}
