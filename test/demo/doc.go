// Command demo shows mlsync's loop end to end on this machine: it starts a
// local Kubernetes cluster (etcd, kube-apiserver, controller-manager,
// scheduler and kwok's simulated node), serves a spec repository seeded
// from examples/ over smart HTTP, runs `mlsync run` against both, pushes a
// spec change like a user would, waits until it is applied, shows the
// objects and the status branch, and stops everything it started.
//
//	go run ./test/demo --mlsync bin/mlsync   (what `make demo` does)
package main
