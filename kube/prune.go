package kube

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Prune deletes the objects refs names, with background propagation,
// concurrently. It never deletes an object that lacks mlsync's ownership
// label or that opts out with PruneAnnotation; those are reported as
// skipped. Changes come back in refs' order.
func (m *ResourceManager) Prune(ctx context.Context, refs []ObjectRef) (ChangeSet, error) {
	changes := make(ChangeSet, len(refs))
	idx := make([]int, len(refs))
	for i := range refs {
		idx[i] = i
	}
	m.parallel(ctx, idx, func(i int) { changes[i] = m.pruneOne(ctx, refs[i]) })
	return changes, ctx.Err()
}

func (m *ResourceManager) pruneOne(ctx context.Context, ref ObjectRef) Change {
	skip := func(reason string) Change { return Change{Object: ref, Action: ActionSkipped, Reason: reason} }
	ri, _, err := m.resource(ref, true)
	if err != nil {
		return skip(err.Error())
	}
	// Read live, not from the cache: the ownership check must see the
	// object as it is now.
	live, err := ri.Get(ctx, ref.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		m.forget(ref)
		return skip("already deleted")
	case err != nil:
		return Change{Object: ref, Action: ActionFailed, Reason: fmt.Sprintf("get: %v", err)}
	case !IsOwned(live):
		return skip("not managed by mlsync")
	case live.GetAnnotations()[PruneAnnotation] == PruneDisabled:
		return skip("pruning disabled by " + PruneAnnotation + " annotation")
	case live.GetDeletionTimestamp() != nil:
		return skip("already terminating")
	}
	policy := metav1.DeletePropagationBackground
	uid := live.GetUID()
	err = ri.Delete(ctx, ref.Name, metav1.DeleteOptions{
		PropagationPolicy: &policy,
		Preconditions:     &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return Change{Object: ref, Action: ActionFailed, Reason: fmt.Sprintf("delete: %v", applyError(err))}
	}
	m.forget(ref)
	return Change{Object: ref, Action: ActionPruned}
}
