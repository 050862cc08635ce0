// Command mlsync is a GitOps reconciler for machine-learning workloads on
// Kubernetes. See `mlsync help`.
package main
