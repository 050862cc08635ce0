package kube

import (
	"context"
	"fmt"
	"path"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
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
	// Concurrency is how many objects of one stage are applied at once.
	Concurrency int
	// Cache watches the objects mlsync owns, so that an unchanged object
	// costs no request at all. Without it every object is read with a GET.
	Cache bool
	// ImpersonateServiceAccount, when set, makes every write to a
	// namespace impersonate the ServiceAccount of that name in that
	// namespace, so a tenant's RBAC bounds what its specs can change.
	ImpersonateServiceAccount string
	// AllowedNamespaces are path.Match patterns of the namespaces specs
	// may target; empty allows any. With a list, cluster-scoped objects
	// other than the allowed Namespaces themselves are refused.
	AllowedNamespaces []string
	// CRDTimeout bounds the wait for CustomResourceDefinitions to become
	// Established before the custom resources that need them are applied.
	CRDTimeout time.Duration
}

// DefaultOptions returns the options mlsync runs with.
func DefaultOptions() Options {
	return Options{
		FieldManager:       FieldManager,
		InventoryNamespace: "mlsync-system",
		QPS:                300,
		Burst:              600,
		Concurrency:        16,
		Cache:              true,
		CRDTimeout:         time.Minute,
	}
}

// ResourceManager applies, prunes and inspects objects in one cluster.
// It is safe for concurrent use.
type ResourceManager struct {
	opts   Options
	cfg    *rest.Config
	client dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
	// mappings memoises mapper by kind: the priority mapper behind it
	// costs tens of microseconds a call, and a pass asks for every object.
	mappings sync.Map // schema.GroupVersionKind -> *meta.RESTMapping
	cache    *objectCache

	mu sync.Mutex
	// records remember, per object, what mlsync last applied and which
	// fields it owned afterwards; see upToDate.
	records map[string]record
	// tenants are the impersonating clients, by namespace.
	tenants map[string]dynamic.Interface
	// inventories are the inventories as last written or read, by name;
	// inventoryNamespace says the inventory namespace was seen to exist.
	inventories        map[string]storedCopy
	inventoryNamespace bool
}

// NewResourceManager returns a manager for the cluster cfg points at.
// Call Close to stop its watches.
func NewResourceManager(cfg *rest.Config, opts Options) (*ResourceManager, error) {
	def := DefaultOptions()
	if opts.FieldManager == "" {
		opts.FieldManager = def.FieldManager
	}
	if opts.InventoryNamespace == "" {
		opts.InventoryNamespace = def.InventoryNamespace
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = def.Concurrency
	}
	if opts.CRDTimeout <= 0 {
		opts.CRDTimeout = def.CRDTimeout
	}
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
	m := &ResourceManager{
		opts:        opts,
		cfg:         cfg,
		client:      client,
		mapper:      restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)),
		records:     map[string]record{},
		tenants:     map[string]dynamic.Interface{},
		inventories: map[string]storedCopy{},
	}
	if opts.Cache {
		m.cache = newObjectCache(client, opts.FieldManager)
		m.cache.expected = func(obj *unstructured.Unstructured) bool {
			r, ok := m.recall(RefOf(obj))
			return ok && r.UID == obj.GetUID() && r.FieldsHash == FieldsHash(obj, opts.FieldManager)
		}
	}
	return m, nil
}

// Close stops the manager's watches.
func (m *ResourceManager) Close() {
	if m.cache != nil {
		m.cache.stop()
	}
}

// Changes signals, coalesced, that an object mlsync owns was changed or
// deleted by someone else (status updates aside), so a caller can run a
// drift pass at once. It never fires without the watch cache.
func (m *ResourceManager) Changes() <-chan struct{} {
	if m.cache == nil {
		return nil
	}
	return m.cache.changes
}

// Options returns the options the manager runs with.
func (m *ResourceManager) Options() Options { return m.opts }

// UnknownKindError says the cluster does not serve an object's kind.
type UnknownKindError struct{ Ref ObjectRef }

func (e *UnknownKindError) Error() string {
	return fmt.Sprintf("the cluster does not serve kind %s (is its CustomResourceDefinition installed?)",
		e.Ref.GroupVersionKind())
}

// NamespaceNotAllowedError says a spec targets a namespace its source
// may not write to.
type NamespaceNotAllowedError struct {
	Namespace string
	Allowed   []string
}

func (e *NamespaceNotAllowedError) Error() string {
	ns := e.Namespace
	if ns == "" {
		ns = "(cluster scope)"
	}
	return fmt.Sprintf("namespace %s is not allowed for this source (allowed: %s)", ns, strings.Join(e.Allowed, ", "))
}

// mapping returns the REST mapping of ref's kind, looking again once when
// the kind is unknown (a CRD may have been applied a moment ago).
func (m *ResourceManager) mapping(ref ObjectRef) (*meta.RESTMapping, error) {
	gvk := ref.GroupVersionKind()
	if mapping, ok := m.mappings.Load(gvk); ok {
		return mapping.(*meta.RESTMapping), nil
	}
	mapping, err := m.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		m.resetMapper()
		mapping, err = m.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if meta.IsNoMatchError(err) {
		return nil, &UnknownKindError{Ref: ref}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: mapping kind: %w", ref, err)
	}
	m.mappings.Store(gvk, mapping)
	return mapping, nil
}

// resetMapper forgets what discovery said, after CRDs changed.
func (m *ResourceManager) resetMapper() {
	m.mapper.Reset()
	m.mappings.Clear()
}

// Namespaced reports whether ref's kind is namespaced.
func (m *ResourceManager) Namespaced(ref ObjectRef) (bool, error) {
	mapping, err := m.mapping(ref)
	if err != nil {
		return false, err
	}
	return mapping.Scope.Name() == meta.RESTScopeNameNamespace, nil
}

// resource returns the client for ref's kind and namespace; writer
// clients impersonate the namespace's ServiceAccount when configured.
func (m *ResourceManager) resource(ref ObjectRef, write bool) (dynamic.ResourceInterface, *meta.RESTMapping, error) {
	mapping, err := m.mapping(ref)
	if err != nil {
		return nil, nil, err
	}
	client := m.client
	if write && m.opts.ImpersonateServiceAccount != "" && ref.Namespace != "" {
		if client, err = m.tenant(ref.Namespace); err != nil {
			return nil, nil, err
		}
	}
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		return client.Resource(mapping.Resource).Namespace(ref.Namespace), mapping, nil
	}
	return client.Resource(mapping.Resource), mapping, nil
}

func (m *ResourceManager) tenant(ns string) (dynamic.Interface, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.tenants[ns]; ok {
		return c, nil
	}
	cfg := rest.CopyConfig(m.cfg)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: fmt.Sprintf("system:serviceaccount:%s:%s", ns, m.opts.ImpersonateServiceAccount),
	}
	c, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	m.tenants[ns] = c
	return c, nil
}

// allowed checks ref's namespace against AllowedNamespaces.
func (m *ResourceManager) allowed(ref ObjectRef, namespaced bool) error {
	if len(m.opts.AllowedNamespaces) == 0 {
		return nil
	}
	ns := ref.Namespace
	switch {
	case !namespaced && ref.Kind == "Namespace" && ref.Group == "":
		ns = ref.Name // creating a namespace is allowed where writing to it is
	case !namespaced:
		return &NamespaceNotAllowedError{Allowed: m.opts.AllowedNamespaces}
	}
	for _, pat := range m.opts.AllowedNamespaces {
		if ok, _ := path.Match(pat, ns); ok {
			return nil
		}
	}
	return &NamespaceNotAllowedError{Namespace: ns, Allowed: m.opts.AllowedNamespaces}
}

// Get returns the live object ref names, or nil when it does not exist.
// It reads the watch cache when it holds ref's kind.
func (m *ResourceManager) Get(ctx context.Context, ref ObjectRef) (*unstructured.Unstructured, error) {
	mapping, err := m.mapping(ref)
	if err != nil {
		return nil, err
	}
	if m.cache != nil {
		if obj, known := m.cache.get(ctx, mapping.Resource, ref); known {
			return obj, nil
		}
	}
	return m.getLive(ctx, ref)
}

// getLive reads ref from the API server.
func (m *ResourceManager) getLive(ctx context.Context, ref ObjectRef) (*unstructured.Unstructured, error) {
	ri, _, err := m.resource(ref, false)
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

// record is what mlsync knows of one object after applying it: its UID,
// the spec hash it applied, and a hash of the fields it owned afterwards.
type record struct {
	UID        types.UID `json:"uid"`
	SpecHash   string    `json:"specHash"`
	FieldsHash string    `json:"fieldsHash"`
}

// remember records the object an apply left, and the spec hash applied.
func (m *ResourceManager) remember(ref ObjectRef, obj *unstructured.Unstructured, spec string) {
	r := record{UID: obj.GetUID(), SpecHash: spec, FieldsHash: FieldsHash(obj, m.opts.FieldManager)}
	m.mu.Lock()
	m.records[ref.Key()] = r
	m.mu.Unlock()
}

func (m *ResourceManager) forget(ref ObjectRef) {
	m.mu.Lock()
	delete(m.records, ref.Key())
	m.mu.Unlock()
}

func (m *ResourceManager) recall(ref ObjectRef) (record, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.records[ref.Key()]
	return r, ok
}

// List reads the objects of ref's kind in ref's namespace (all namespaces
// when empty) that match a label selector, from the API server.
func (m *ResourceManager) List(ctx context.Context, ref ObjectRef, selector string) ([]unstructured.Unstructured, error) {
	ri, _, err := m.resource(ref, false)
	if err != nil {
		return nil, err
	}
	list, err := ri.List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("listing %s in %s (%s): %w", ref.Kind, ref.Namespace, selector, err)
	}
	return list.Items, nil
}
