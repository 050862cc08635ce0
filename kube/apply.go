package kube

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// DriftPolicy says what Apply does with an owned object someone changed
// by hand.
type DriftPolicy string

// The drift policies.
const (
	// DriftCorrect re-applies what Git says, taking back fields another
	// manager took over.
	DriftCorrect DriftPolicy = "correct"
	// DriftReport only reports the drift (ActionDrifted).
	DriftReport DriftPolicy = "report"
)

// ApplyOptions tune one Apply call.
type ApplyOptions struct {
	// Force takes ownership of fields another manager owns instead of
	// failing with a conflict.
	Force bool
	// Drift says what to do with drifted objects.
	Drift DriftPolicy
}

// DefaultApplyOptions returns the options mlsync applies with.
func DefaultApplyOptions() ApplyOptions {
	return ApplyOptions{Force: false, Drift: DriftCorrect}
}

// Apply applies objs with server-side apply, in stages (see stageOf),
// waiting for CustomResourceDefinitions to be Established before the
// custom resources that may need them. Within a stage, objects are
// applied concurrently. An object that has not drifted is not written;
// with the watch cache and a record of the last apply it is not even
// read. A failure of one object does not stop the others; Apply returns
// an error only when the context ends. Changes come back in objs' order.
func (m *ResourceManager) Apply(ctx context.Context, objs []*unstructured.Unstructured, opts ApplyOptions) (ChangeSet, error) {
	if opts.Drift == "" {
		opts.Drift = DriftCorrect
	}
	changes := make(ChangeSet, len(objs))
	byStage := make([][]int, numStages)
	for i, o := range objs {
		s := stageOf(o)
		byStage[s] = append(byStage[s], i)
	}
	for s, idx := range byStage {
		if len(idx) == 0 {
			continue
		}
		m.parallel(ctx, idx, func(i int) { changes[i] = m.applyOne(ctx, objs[i], opts) })
		if err := ctx.Err(); err != nil {
			return changes, err
		}
		if stage(s) == stageDefinitions && m.waitEstablished(ctx, objs, idx, changes) {
			m.resetMapper() // kinds defined by this stage's CRDs are now served
		}
	}
	return changes, nil
}

// parallel runs fn for each index with the manager's concurrency.
func (m *ResourceManager) parallel(ctx context.Context, idx []int, fn func(i int)) {
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(m.opts.Concurrency, len(idx)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				fn(i)
			}
		}()
	}
	for _, i := range idx {
		if ctx.Err() != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
}

func (m *ResourceManager) applyOne(ctx context.Context, desired *unstructured.Unstructured, opts ApplyOptions) Change {
	ref := RefOf(desired)
	fail := func(err error) Change { return Change{Object: ref, Action: ActionFailed, Reason: err.Error()} }
	if ctx.Err() != nil {
		return fail(ctx.Err())
	}
	ri, mapping, err := m.resource(ref, true)
	if err != nil {
		return fail(err)
	}
	if err := m.allowed(ref, mapping.Scope.Name() == meta.RESTScopeNameNamespace); err != nil {
		return fail(err)
	}
	// The watch cache holds every object of the kind (unowned ones as
	// stubs), so "absent from the cache" means absent but for the watch's
	// lag, milliseconds; a GET would leave the same gap before the PATCH.
	live, err := m.Get(ctx, ref)
	if err != nil {
		return fail(err)
	}
	if live != nil && !IsOwned(live) {
		return Change{Object: ref, Action: ActionSkipped, Reason: "exists and is not managed by mlsync"}
	}
	if live != nil && m.upToDate(ref, live, desired) {
		return Change{Object: ref, Action: ActionUnchanged}
	}
	desired = desired.DeepCopy()
	if live != nil {
		keepRevision(live, desired)
	}
	force := opts.Force
	drift := false
	if live != nil && slimmed(live) {
		// The cached copy holds no spec: read the whole object to compare.
		if live, err = m.getLive(ctx, ref); err != nil {
			return fail(err)
		}
		if live != nil && !IsOwned(live) {
			return Change{Object: ref, Action: ActionSkipped, Reason: "exists and is not managed by mlsync"}
		}
	}
	if live != nil {
		planned, err := m.patch(ctx, ri, desired, force, true)
		if err != nil && apierrors.IsConflict(err) && m.ownedBefore(ref, live) {
			// Another manager took over fields mlsync set: drift.
			drift, force = true, true
			planned, err = m.patch(ctx, ri, desired, true, true)
		}
		if err != nil {
			return fail(applyError(err))
		}
		if sameObject(live, planned) {
			m.remember(ref, planned, specHash(desired))
			return Change{Object: ref, Action: ActionUnchanged}
		}
		// Same spec as last applied, yet the live object differs: someone
		// changed it by hand.
		drift = drift || annotation(live, SpecHashAnnotation) == annotation(desired, SpecHashAnnotation)
		if drift {
			force = true
			if opts.Drift == DriftReport {
				return Change{Object: ref, Action: ActionDrifted, Reason: driftReason(live, m.opts.FieldManager)}
			}
		}
	}
	applied, err := m.patch(ctx, ri, desired, force, false)
	if err != nil && live == nil && apierrors.IsNotFound(err) && isCustom(ref) {
		// A custom resource endpoint can answer 404 for a moment after its
		// CRD reports Established.
		time.Sleep(500 * time.Millisecond)
		applied, err = m.patch(ctx, ri, desired, force, false)
	}
	if err != nil {
		return fail(applyError(err))
	}
	m.remember(ref, applied, specHash(desired))
	if m.cache != nil {
		m.cache.observe(mapping.Resource, applied)
	}
	switch {
	case live == nil:
		return Change{Object: ref, Action: ActionCreated}
	case drift:
		return Change{Object: ref, Action: ActionConfigured, Drift: true, Reason: "drift corrected: " + driftReason(live, m.opts.FieldManager)}
	}
	return Change{Object: ref, Action: ActionConfigured}
}

// upToDate decides without a request that applying desired would change
// nothing: mlsync applied exactly this spec to this very object, and
// still owns exactly the fields it owned afterwards (any write by
// another manager to one of them would have moved its ownership).
func (m *ResourceManager) upToDate(ref ObjectRef, live, desired *unstructured.Unstructured) bool {
	r, ok := m.recall(ref)
	if !ok || r.UID != live.GetUID() {
		return false
	}
	liveHash := annotation(live, SpecHashAnnotation)
	if r.SpecHash != specHash(desired) || liveHash != annotation(desired, SpecHashAnnotation) ||
		FieldsHash(live, m.opts.FieldManager) != r.FieldsHash {
		return false
	}
	// The revision as keepRevision would leave it: an object whose spec
	// did not change keeps the revision it was applied at.
	liveRev, kept := nestedString(live.Object, "metadata", "annotations", RevisionAnnotation)
	if liveHash != "" && kept {
		return true
	}
	return liveRev == annotation(desired, RevisionAnnotation)
}

// annotation returns one annotation without copying the object's map
// (GetAnnotations copies it).
func annotation(obj *unstructured.Unstructured, key string) string {
	v, _ := nestedString(obj.Object, "metadata", "annotations", key)
	return v
}

func nestedString(obj map[string]any, fields ...string) (string, bool) {
	v, found, err := unstructured.NestedFieldNoCopy(obj, fields...)
	if !found || err != nil {
		return "", false
	}
	s, ok := v.(string)
	return s, ok
}

// specHash identifies what mlsync applies for an object: its spec-hash
// annotation when rendered by mlsync, else a hash of its content.
func specHash(obj *unstructured.Unstructured) string {
	if h := annotation(obj, SpecHashAnnotation); h != "" {
		return h
	}
	data, err := obj.MarshalJSON()
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(data)
	return "content:" + hex.EncodeToString(sum[:16])
}

// ownedBefore reports whether mlsync applied this object before, so that
// a conflict on it means mlsync's own fields were taken over.
func (m *ResourceManager) ownedBefore(ref ObjectRef, live *unstructured.Unstructured) bool {
	r, ok := m.recall(ref)
	return (ok && r.UID == live.GetUID()) || FieldsHash(live, m.opts.FieldManager) != ""
}

func (m *ResourceManager) patch(ctx context.Context, ri interface {
	Apply(context.Context, string, *unstructured.Unstructured, metav1.ApplyOptions, ...string) (*unstructured.Unstructured, error)
}, obj *unstructured.Unstructured, force, dryRun bool) (*unstructured.Unstructured, error) {
	opts := metav1.ApplyOptions{FieldManager: m.opts.FieldManager, Force: force}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	return ri.Apply(ctx, obj.GetName(), obj, opts)
}

// driftReason names the managers that hold fields mlsync set.
func driftReason(live *unstructured.Unstructured, manager string) string {
	var others []string
	seen := map[string]bool{}
	for _, mf := range live.GetManagedFields() {
		if mf.Manager == manager || mf.Subresource != "" || seen[mf.Manager] {
			continue
		}
		seen[mf.Manager] = true
		others = append(others, mf.Manager)
	}
	if len(others) == 0 {
		return "live object differs from what mlsync applied"
	}
	return "live object changed outside mlsync (field managers: " + strings.Join(others, ", ") + ")"
}

func isCustom(ref ObjectRef) bool {
	return strings.Contains(ref.Group, ".") && !strings.HasSuffix(ref.Group, ".k8s.io")
}

// keepRevision keeps the live object's revision annotation when its spec
// did not change, so a commit that leaves a spec alone leaves its objects
// alone.
func keepRevision(live, desired *unstructured.Unstructured) {
	la, da := live.GetAnnotations(), desired.GetAnnotations()
	if la[SpecHashAnnotation] == "" || la[SpecHashAnnotation] != da[SpecHashAnnotation] {
		return
	}
	if rev, ok := la[RevisionAnnotation]; ok {
		da[RevisionAnnotation] = rev
		desired.SetAnnotations(da)
	}
}

// sameObject reports whether applying would leave live as it is.
func sameObject(live, planned *unstructured.Unstructured) bool {
	return equality.Semantic.DeepEqual(comparable(live), comparable(planned))
}

func comparable(obj *unstructured.Unstructured) map[string]any {
	c := obj.DeepCopy().Object
	unstructured.RemoveNestedField(c, "metadata", "managedFields")
	unstructured.RemoveNestedField(c, "metadata", "resourceVersion")
	unstructured.RemoveNestedField(c, "metadata", "generation")
	unstructured.RemoveNestedField(c, "metadata", "annotations", fieldsHashKey)
	if ann, ok, _ := unstructured.NestedMap(c, "metadata", "annotations"); ok && len(ann) == 0 {
		unstructured.RemoveNestedField(c, "metadata", "annotations")
	}
	unstructured.RemoveNestedField(c, "status")
	return c
}

// applyError explains an apply failure, with the field path of an
// immutable-field or validation error and the other managers of a
// conflict.
func applyError(err error) error {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return fmt.Errorf("apply: %w", err)
	}
	st := status.Status()
	switch {
	case apierrors.IsConflict(err):
		return fmt.Errorf("conflict with another field manager (set force-conflicts to take the fields over): %s", st.Message)
	case apierrors.IsInvalid(err) && st.Details != nil && len(st.Details.Causes) > 0:
		var parts []string
		for _, c := range st.Details.Causes {
			parts = append(parts, fmt.Sprintf("%s: %s", c.Field, c.Message))
		}
		return fmt.Errorf("invalid: %s", strings.Join(parts, "; "))
	case apierrors.IsForbidden(err):
		return fmt.Errorf("forbidden: %s", st.Message)
	}
	return fmt.Errorf("apply: %w", err)
}
