package kube

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"
)

// fieldsHashKey holds, in cached copies only, the hash of the fields the
// field manager owns (the cache drops managedFields to save memory). It
// is never sent to the API server.
const fieldsHashKey = "internal.mlsync.io/fields-hash"

// syncTimeout bounds the wait for a new watch's first list.
const syncTimeout = 30 * time.Second

// objectCache watches, per resource, every object of the kinds mlsync
// applies, across namespaces. Objects mlsync owns are kept whole (minus
// managedFields, reduced to a hash of mlsync's fields); others only as
// name and labels, which is enough to know they exist and are not ours.
type objectCache struct {
	client  dynamic.Interface
	manager string

	mu        sync.Mutex
	informers map[schema.GroupVersionResource]*watched
	stopCh    chan struct{}
	stopped   bool
	// changes receives a signal when an owned object changes or goes away
	// (coalesced: one pending signal at most).
	changes chan struct{}
	// expected reports whether an updated object is just what mlsync
	// itself applied, which is no news.
	expected func(*unstructured.Unstructured) bool
}

type watched struct {
	informer cache.SharedIndexInformer
	ready    chan struct{} // closed once synced or failed
	err      error
}

func newObjectCache(client dynamic.Interface, manager string) *objectCache {
	return &objectCache{client: client, manager: manager,
		informers: map[schema.GroupVersionResource]*watched{},
		stopCh:    make(chan struct{}), changes: make(chan struct{}, 1)}
}

func (c *objectCache) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stopped {
		c.stopped = true
		close(c.stopCh)
	}
}

// get returns the cached object ref names (nil when it does not exist)
// and whether the cache could answer. The object must not be modified.
func (c *objectCache) get(ctx context.Context, gvr schema.GroupVersionResource, ref ObjectRef) (*unstructured.Unstructured, bool) {
	w := c.watch(gvr)
	select {
	case <-w.ready:
	case <-ctx.Done():
		return nil, false
	}
	if w.err != nil {
		return nil, false
	}
	key := ref.Name
	if ref.Namespace != "" {
		key = ref.Namespace + "/" + ref.Name
	}
	item, exists, err := w.informer.GetStore().GetByKey(key)
	if err != nil || !exists {
		return nil, err == nil
	}
	obj, ok := item.(*unstructured.Unstructured)
	return obj, ok
}

// observe puts an object mlsync just applied into the cache unless the
// cache already holds that version or a newer one, so reads right after
// an apply see it before the watch event arrives.
func (c *objectCache) observe(gvr schema.GroupVersionResource, obj *unstructured.Unstructured) {
	c.mu.Lock()
	w, ok := c.informers[gvr]
	c.mu.Unlock()
	if !ok {
		return
	}
	select {
	case <-w.ready:
	default:
		return
	}
	if w.err != nil {
		return
	}
	store := w.informer.GetStore()
	if item, exists, _ := store.Get(obj); exists {
		if cur, ok := item.(*unstructured.Unstructured); ok && !olderVersion(cur.GetResourceVersion(), obj.GetResourceVersion()) {
			return
		}
	}
	slimmed, _ := c.slim(obj.DeepCopy())
	_ = store.Update(slimmed)
}

// olderVersion reports whether resource version a is older than b. The
// versions are etcd revisions in practice; if they do not parse, the
// newer is unknown and the cache is left alone.
func olderVersion(a, b string) bool {
	x, err1 := strconv.ParseUint(a, 10, 64)
	y, err2 := strconv.ParseUint(b, 10, 64)
	return err1 == nil && err2 == nil && x < y
}

// watch starts the informer for gvr once and returns it.
func (c *objectCache) watch(gvr schema.GroupVersionResource) *watched {
	c.mu.Lock()
	defer c.mu.Unlock()
	if w, ok := c.informers[gvr]; ok {
		return w
	}
	ri := c.client.Resource(gvr)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return ri.List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return ri.Watch(ctx, opts)
		},
	}
	inf := cache.NewSharedIndexInformer(lw, &unstructured.Unstructured{}, 0, cache.Indexers{})
	_ = inf.SetTransform(c.slim)
	w := &watched{informer: inf, ready: make(chan struct{})}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(old, cur any) { c.changed(old, cur) },
		DeleteFunc: func(old any) { c.changed(old, nil) },
	})
	var failOnce sync.Once
	_ = inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		if inf.HasSynced() {
			return // the reflector retries; the cache stays usable
		}
		failOnce.Do(func() {
			w.err = fmt.Errorf("watching %s: %w", gvr, err)
			close(w.ready)
		})
	})
	if c.stopped {
		w.err = fmt.Errorf("watching %s: cache stopped", gvr)
		close(w.ready)
	} else {
		go inf.Run(c.stopCh)
		go func() {
			ok := cache.WaitForCacheSync(timeoutChan(c.stopCh, syncTimeout), inf.HasSynced)
			failOnce.Do(func() {
				if !ok {
					w.err = fmt.Errorf("watching %s: not synced after %s", gvr, syncTimeout)
				}
				close(w.ready)
			})
		}()
	}
	c.informers[gvr] = w
	return w
}

func timeoutChan(stop <-chan struct{}, d time.Duration) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		select {
		case <-stop:
		case <-time.After(d):
		}
	}()
	return ch
}

// slim reduces a watched object to what mlsync needs from the cache:
// identity, ownership, mlsync's annotations, a hash of mlsync's fields,
// and what health needs (status, replicas, a Service's type). Whole
// objects are read from the API server when a change is to be planned.
func (c *objectCache) slim(in any) (any, error) {
	obj, ok := in.(*unstructured.Unstructured)
	if !ok {
		return in, nil
	}
	out := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": obj.GetAPIVersion(), "kind": obj.GetKind(),
	}}
	out.SetName(obj.GetName())
	out.SetNamespace(obj.GetNamespace())
	out.SetUID(obj.GetUID())
	out.SetLabels(obj.GetLabels())
	out.SetResourceVersion(obj.GetResourceVersion())
	if !IsOwned(obj) {
		return out, nil
	}
	out.SetGeneration(obj.GetGeneration())
	out.SetDeletionTimestamp(obj.GetDeletionTimestamp())
	ann := map[string]string{fieldsHashKey: FieldsHash(obj, c.manager)}
	for k, v := range obj.GetAnnotations() {
		if strings.HasPrefix(k, "mlsync.io/") {
			ann[k] = v
		}
	}
	out.SetAnnotations(ann)
	if status, ok := obj.Object["status"]; ok {
		out.Object["status"] = status
	}
	spec := map[string]any{}
	for _, f := range []string{"replicas", "type"} {
		if v, ok, _ := unstructured.NestedFieldNoCopy(obj.Object, "spec", f); ok {
			spec[f] = v
		}
	}
	if len(spec) > 0 {
		out.Object["spec"] = spec
	}
	return out, nil
}

// slimmed reports whether obj is a cached copy, not a whole object.
func slimmed(obj *unstructured.Unstructured) bool {
	_, ok := nestedString(obj.Object, "metadata", "annotations", fieldsHashKey)
	return ok
}

// changed signals a change to an owned object's fields or its deletion.
func (c *objectCache) changed(old, cur any) {
	o, _ := old.(*unstructured.Unstructured)
	n, _ := cur.(*unstructured.Unstructured)
	if o == nil {
		if d, ok := old.(cache.DeletedFinalStateUnknown); ok {
			o, _ = d.Obj.(*unstructured.Unstructured)
		}
	}
	if o == nil || !IsOwned(o) {
		return
	}
	if n != nil && IsOwned(n) {
		if annotation(n, fieldsHashKey) == annotation(o, fieldsHashKey) {
			return // status or other managers' fields only
		}
		if c.expected != nil && c.expected(n) {
			return // mlsync's own apply
		}
	}
	select {
	case c.changes <- struct{}{}:
	default:
	}
}

// FieldsHash hashes the fields manager owns on obj (its Apply entries'
// fieldsV1). Two objects with the same hash have the same fields owned by
// manager: nobody took any of them over or removed them.
func FieldsHash(obj *unstructured.Unstructured, manager string) string {
	if h, ok := nestedString(obj.Object, "metadata", "annotations", fieldsHashKey); ok {
		return h
	}
	sum := sha256.New()
	found := false
	for _, mf := range obj.GetManagedFields() {
		if mf.Manager != manager || mf.Operation != metav1.ManagedFieldsOperationApply || mf.Subresource != "" {
			continue
		}
		found = true
		if mf.FieldsV1 != nil {
			sum.Write(mf.FieldsV1.GetRawBytes())
		}
		sum.Write([]byte{0})
	}
	if !found {
		return ""
	}
	return hex.EncodeToString(sum.Sum(nil)[:16])
}
