package kube

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// Options configure a ResourceManager.
type Options struct {
	// FieldManager is the server-side apply field manager.
	FieldManager string
	// InventoryNamespace is the namespace that holds inventories.
	InventoryNamespace string
	// QPS and Burst bound the client's request rate.
	QPS   float32
	Burst int
}

// DefaultOptions returns the options mlsync runs with.
func DefaultOptions() Options {
	return Options{FieldManager: FieldManager, InventoryNamespace: "mlsync-system", QPS: 50, Burst: 100}
}

// ApplyOptions tune one Apply call.
type ApplyOptions struct {
	// Force takes ownership of fields another manager owns instead of
	// failing with a conflict.
	Force bool
}

// DefaultApplyOptions returns the options mlsync applies with.
func DefaultApplyOptions() ApplyOptions { return ApplyOptions{Force: false} }

// ResourceManager applies, prunes and inspects objects in one cluster.
type ResourceManager struct {
	opts   Options
	client dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

// NewResourceManager returns a manager for the cluster cfg points at.
func NewResourceManager(cfg *rest.Config, opts Options) (*ResourceManager, error) {
	cfg = rest.CopyConfig(cfg)
	if opts.QPS > 0 {
		cfg.QPS, cfg.Burst = opts.QPS, opts.Burst
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating dynamic client: %w", err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating discovery client: %w", err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	return &ResourceManager{opts: opts, client: client, mapper: mapper}, nil
}

// UnknownKindError says the cluster does not serve an object's kind.
type UnknownKindError struct{ Ref ObjectRef }

func (e *UnknownKindError) Error() string {
	return fmt.Sprintf("the cluster does not serve kind %s (is its CustomResourceDefinition installed?)",
		e.Ref.GroupVersionKind())
}

// resource returns the client for ref's kind and namespace.
func (m *ResourceManager) resource(ref ObjectRef) (dynamic.ResourceInterface, error) {
	gvk := ref.GroupVersionKind()
	mapping, err := m.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		// The kind may be new (a CRD applied a moment ago): look again once.
		m.mapper.Reset()
		mapping, err = m.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if meta.IsNoMatchError(err) {
		return nil, &UnknownKindError{Ref: ref}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: mapping kind: %w", ref, err)
	}
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		return m.client.Resource(mapping.Resource).Namespace(ref.Namespace), nil
	}
	return m.client.Resource(mapping.Resource), nil
}

// Get returns the live object ref names, or nil when it does not exist.
func (m *ResourceManager) Get(ctx context.Context, ref ObjectRef) (*unstructured.Unstructured, error) {
	ri, err := m.resource(ref)
	if err != nil {
		return nil, err
	}
	obj, err := ri.Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: get: %w", ref, err)
	}
	return obj, nil
}

// Apply applies objs in stages (Namespaces and CustomResourceDefinitions
// first, then everything else) and returns what happened to each. A
// failure of one object does not stop the others; Apply returns an error
// only when the context ends.
func (m *ResourceManager) Apply(ctx context.Context, objs []*unstructured.Unstructured, opts ApplyOptions) (ChangeSet, error) {
	var cs ChangeSet
	for _, stage := range stages(objs) {
		for _, obj := range stage {
			if err := ctx.Err(); err != nil {
				return cs, err
			}
			cs = append(cs, m.applyOne(ctx, obj, opts))
		}
		m.mapper.Reset() // kinds defined by this stage's CRDs are now served
	}
	return cs, nil
}

// stages splits objs into apply stages, keeping their order within each.
func stages(objs []*unstructured.Unstructured) [][]*unstructured.Unstructured {
	var first, rest []*unstructured.Unstructured
	for _, o := range objs {
		switch o.GetKind() {
		case "Namespace", "CustomResourceDefinition":
			first = append(first, o)
		default:
			rest = append(rest, o)
		}
	}
	return [][]*unstructured.Unstructured{first, rest}
}

func (m *ResourceManager) applyOne(ctx context.Context, desired *unstructured.Unstructured, opts ApplyOptions) Change {
	ref := RefOf(desired)
	fail := func(err error) Change { return Change{Object: ref, Action: ActionFailed, Reason: err.Error()} }
	ri, err := m.resource(ref)
	if err != nil {
		return fail(err)
	}
	live, err := ri.Get(ctx, ref.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		live = nil
	case err != nil:
		return fail(fmt.Errorf("get: %w", err))
	case !IsOwned(live):
		return Change{Object: ref, Action: ActionSkipped, Reason: "exists and is not managed by mlsync"}
	}
	desired = desired.DeepCopy()
	patchOpts := metav1.ApplyOptions{FieldManager: m.opts.FieldManager, Force: opts.Force}
	if live != nil {
		keepRevision(live, desired)
		dry := patchOpts
		dry.DryRun = []string{metav1.DryRunAll}
		planned, err := ri.Apply(ctx, ref.Name, desired, dry)
		if err != nil {
			return fail(applyError(err))
		}
		if sameObject(live, planned) {
			return Change{Object: ref, Action: ActionUnchanged}
		}
	}
	if _, err := ri.Apply(ctx, ref.Name, desired, patchOpts); err != nil {
		return fail(applyError(err))
	}
	if live == nil {
		return Change{Object: ref, Action: ActionCreated}
	}
	return Change{Object: ref, Action: ActionConfigured}
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
	unstructured.RemoveNestedField(c, "status")
	return c
}

func applyError(err error) error {
	var status apierrors.APIStatus
	if errors.As(err, &status) && apierrors.IsConflict(err) {
		return fmt.Errorf("conflict with another field manager: %s", status.Status().Message)
	}
	return fmt.Errorf("apply: %w", err)
}
