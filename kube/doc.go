// Package kube applies mlsync's rendered objects to a Kubernetes cluster
// and reads back what happened.
//
// A ResourceManager applies unstructured objects with server-side apply
// under the field manager "mlsync", in stages (Namespaces and CRDs first),
// and skips objects that have not drifted, so an unchanged object is never
// written. The result is a ChangeSet: one Change per object with its
// Action. Inventories record, in the cluster, which objects mlsync applied,
// so that objects no longer rendered can be pruned; Prune deletes only
// objects that carry mlsync's ownership label. Compute gives any object a
// health Status in one shared vocabulary.
//
//	m, err := kube.NewResourceManager(restConfig, kube.DefaultOptions())
//	cs, err := m.Apply(ctx, objects, kube.DefaultApplyOptions())
//	for _, c := range cs { fmt.Println(c) } // "Deployment/ml/fraud created"
//
// kube is the only package of mlsync that imports client-go (apimachinery
// types aside). It never logs: callers do.
package kube
