// Command apply measures mlsync's apply engine side by side with
// `kubectl apply --server-side` and Flux's engine (test/bench/fluxssa) in
// one run, against one local kube-apiserver, on the same objects: 1,000
// models x (Deployment, Service, ConfigMap, ServiceAccount,
// HorizontalPodAutoscaler) in 10 namespaces, 5,010 objects. It prints a
// Markdown table of medians for BENCHMARKS.md.
//
//	go run ./test/bench/apply --runs 5 [--flux PATH] [--models 1000]
//
// Each run uses fresh namespaces, so every cold apply creates everything.
package main
