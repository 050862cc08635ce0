// Package reconciler runs mlsync's reconcile loop: it polls a Git branch,
// validates the specs at its head, renders and applies them to the
// cluster, prunes what was removed, checks health and commits what
// happened to a status branch.
//
// One pass reads as a list of steps (see Reconciler.Pass): ask the remote
// for the head and stop early when nothing is due; fetch and validate
// (invalid specs apply nothing and keep the last good revision); render;
// record the inventory, then apply in stages; prune; assess health;
// publish one status commit when the status changed.
//
//	r := reconciler.New(remote, manager, loader, opts, logger)
//	err := r.Run(ctx) // until ctx ends
//
// The Git and Cluster interfaces are declared here, where they are used;
// gitsource.Remote and kube.ResourceManager satisfy them.
package reconciler
