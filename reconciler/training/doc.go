// Package training plans and schedules a model's training runs: one
// Kubernetes Job (or Kubeflow PyTorchJob) per pipeline step, started in
// dependsOn order, with independent branches in parallel.
//
// Planning is pure. Each step gets a key: a hash of its resolved spec
// (image, command, args and env after substitution, resources, retries,
// timeout), the training params, the data source and version, and its
// upstream steps' keys. A step whose key was already run successfully is
// cached: its outputs are reused and no Job is created. The run's ID is a
// hash of every key, so a commit that changes no training input plans the
// very same run, and a changed step changes its own key and every key
// downstream of it, never the ones above.
//
//	run, err := training.Plan(model, pipeline, training.PlanOptions{Revision: commit})
//	next := training.Schedule(run, observed, cache) // which steps to start now
//	job := training.Job(run, run.Steps[i])          // the object to apply
//
// Schedule is also pure: given what the cluster shows of each step (or
// the cache), it says which steps to start, and whether the run has
// succeeded, failed (and at which step) or is still going.
package training
