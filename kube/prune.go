package kube

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Prune deletes the objects refs names, with background propagation. It
// never deletes an object that lacks mlsync's ownership label or that
// opts out with PruneAnnotation; those are reported as skipped.
func (m *ResourceManager) Prune(ctx context.Context, refs []ObjectRef) (ChangeSet, error) {
	var cs ChangeSet
	for _, ref := range refs {
		if err := ctx.Err(); err != nil {
			return cs, err
		}
		cs = append(cs, m.pruneOne(ctx, ref))
	}
	return cs, nil
}

func (m *ResourceManager) pruneOne(ctx context.Context, ref ObjectRef) Change {
	skip := func(reason string) Change { return Change{Object: ref, Action: ActionSkipped, Reason: reason} }
	ri, err := m.resource(ref)
	if err != nil {
		return skip(err.Error())
	}
	live, err := ri.Get(ctx, ref.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
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
		return Change{Object: ref, Action: ActionFailed, Reason: fmt.Sprintf("delete: %v", err)}
	}
	return Change{Object: ref, Action: ActionPruned}
}
