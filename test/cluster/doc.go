// Package cluster starts a real, local Kubernetes control plane for
// mlsync's tests and demo: etcd and kube-apiserver on free loopback ports,
// and for the demo also kube-controller-manager, kube-scheduler and kwok
// (simulated nodes), so Deployments get ready pods and Jobs complete.
//
// The binaries come from test/controlplane/build.sh, built once into a
// cache directory keyed by version ($MLSYNC_CACHE_DIR, default
// ~/.cache/mlsync) and reused by every test package, `make demo` and CI.
//
// In a test package:
//
//	var env *cluster.Cluster
//
//	func TestMain(m *testing.M) { cluster.Main(m, &env, cluster.Options{}) }
//
//	func TestApply(t *testing.T) {
//		ns := env.Namespace(t) // a fresh namespace, deleted after the test
//		cfg := env.Config()    // *rest.Config with cluster-admin rights
//	}
//
// Every process is started with a parent-death signal, so a test binary
// that panics or is killed takes its control plane with it.
package cluster
