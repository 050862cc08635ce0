package kube

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Inventory is the set of objects mlsync applied for one source, stored in
// the cluster so that a restarted daemon knows what it owns.
type Inventory struct {
	// Name identifies the inventory (one per source and environment).
	Name string
	// Revision is the Git revision the objects were rendered from.
	Revision string
	// Objects are the objects applied, sorted.
	Objects []ObjectRef
}

// storedInventory is the inventory's encoding: with each object, the
// record of its last apply, so a restarted daemon can tell unchanged
// objects without a request.
type storedInventory struct {
	Revision string        `json:"revision"`
	Objects  []storedEntry `json:"objects"`
}

type storedEntry struct {
	ObjectRef
	Record *record `json:"record,omitempty"`
}

// inventoryKey holds the gzipped JSON in the ConfigMap's binaryData; a
// ConfigMap holds 1 MiB, and 5,000 entries take about 150 KiB compressed.
const inventoryKey = "inventory.json.gz"

var configMapRef = ObjectRef{Version: "v1", Kind: "ConfigMap"}

func (m *ResourceManager) inventoryRef(name string) ObjectRef {
	r := configMapRef
	r.Namespace, r.Name = m.opts.InventoryNamespace, "mlsync-inventory-"+name
	return r
}

// ReadInventory returns the stored inventory called name; an inventory
// never written is empty. The records it holds prime the manager, so a
// restarted daemon's first pass writes nothing that did not change.
func (m *ResourceManager) ReadInventory(ctx context.Context, name string) (Inventory, error) {
	inv := Inventory{Name: name}
	obj, err := m.getLive(ctx, m.inventoryRef(name))
	if err != nil || obj == nil {
		return inv, err
	}
	m.mu.Lock()
	last, ok := m.inventories[name]
	m.mu.Unlock()
	if ok && last.resourceVersion == obj.GetResourceVersion() {
		// Unchanged since this manager wrote or read it: skip decoding.
		inv.Revision, inv.Objects = last.Revision, append([]ObjectRef(nil), last.Objects...)
		return inv, nil
	}
	raw, _, _ := unstructured.NestedString(obj.Object, "binaryData", inventoryKey)
	data, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return inv, fmt.Errorf("inventory %s: %w", name, err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return inv, fmt.Errorf("inventory %s: %w", name, err)
	}
	js, err := io.ReadAll(io.LimitReader(zr, 64<<20))
	if err != nil {
		return inv, fmt.Errorf("inventory %s: %w", name, err)
	}
	var st storedInventory
	if err := json.Unmarshal(js, &st); err != nil {
		return inv, fmt.Errorf("inventory %s: %w", name, err)
	}
	inv.Revision = st.Revision
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range st.Objects {
		inv.Objects = append(inv.Objects, e.ObjectRef)
		if _, known := m.records[e.Key()]; e.Record != nil && !known {
			m.records[e.Key()] = *e.Record
		}
	}
	m.inventories[name] = storedCopy{resourceVersion: obj.GetResourceVersion(), Inventory: inv}
	return Inventory{Name: name, Revision: inv.Revision, Objects: append([]ObjectRef(nil), inv.Objects...)}, nil
}

// storedCopy is an inventory as last written or read, at the
// ConfigMap's resourceVersion.
type storedCopy struct {
	resourceVersion string
	Inventory
}

// WriteInventory stores inv, creating the inventory namespace if needed.
// Callers write the inventory of what they are about to apply before they
// apply it, so a crash mid-apply still leaves a record of every object
// that may exist.
func (m *ResourceManager) WriteInventory(ctx context.Context, inv Inventory) error {
	m.mu.Lock()
	nsReady := m.inventoryNamespace
	m.mu.Unlock()
	if !nsReady {
		if err := m.ensureNamespace(ctx, m.opts.InventoryNamespace); err != nil {
			return err
		}
	}
	SortRefs(inv.Objects)
	st := storedInventory{Revision: inv.Revision, Objects: make([]storedEntry, len(inv.Objects))}
	m.mu.Lock()
	for i, ref := range inv.Objects {
		st.Objects[i].ObjectRef = ref
		if r, ok := m.records[ref.Key()]; ok {
			st.Objects[i].Record = &r
		}
	}
	m.mu.Unlock()
	js, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("inventory %s: %w", inv.Name, err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(js); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	ref := m.inventoryRef(inv.Name)
	cm := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{
			"name": ref.Name, "namespace": ref.Namespace,
			"labels": map[string]any{ManagedByLabel: ManagedByValue, "mlsync.io/inventory": inv.Name},
		},
		"data":       map[string]any{"revision": inv.Revision, "objects": fmt.Sprint(len(inv.Objects))},
		"binaryData": map[string]any{inventoryKey: base64.StdEncoding.EncodeToString(buf.Bytes())},
	}}
	ri, _, err := m.resource(ref, false)
	if err != nil {
		return err
	}
	written, err := ri.Apply(ctx, ref.Name, cm, metav1.ApplyOptions{FieldManager: m.opts.FieldManager, Force: true})
	if apierrors.IsNotFound(err) && nsReady {
		// The namespace went away since: create it again.
		if err := m.ensureNamespace(ctx, m.opts.InventoryNamespace); err != nil {
			return err
		}
		written, err = ri.Apply(ctx, ref.Name, cm, metav1.ApplyOptions{FieldManager: m.opts.FieldManager, Force: true})
	}
	if err != nil {
		return fmt.Errorf("writing inventory %s: %w", ref, err)
	}
	m.mu.Lock()
	m.inventoryNamespace = true
	m.inventories[inv.Name] = storedCopy{resourceVersion: written.GetResourceVersion(),
		Inventory: Inventory{Name: inv.Name, Revision: inv.Revision, Objects: append([]ObjectRef(nil), inv.Objects...)}}
	m.mu.Unlock()
	return nil
}

func (m *ResourceManager) ensureNamespace(ctx context.Context, name string) error {
	ref := ObjectRef{Version: "v1", Kind: "Namespace", Name: name}
	ri, _, err := m.resource(ref, false)
	if err != nil {
		return err
	}
	if _, err := ri.Get(ctx, name, metav1.GetOptions{}); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("%s: get: %w", ref, err)
	}
	ns := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name},
	}}
	if _, err := ri.Create(ctx, ns, metav1.CreateOptions{FieldManager: m.opts.FieldManager}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("%s: create: %w", ref, err)
	}
	return nil
}

// Diff returns the references in old that are not in current, matched by
// group, kind, namespace and name: the objects to prune.
func Diff(old, current []ObjectRef) []ObjectRef {
	keep := make(map[string]bool, len(current))
	for _, r := range current {
		keep[r.Key()] = true
	}
	var gone []ObjectRef
	for _, r := range old {
		if !keep[r.Key()] {
			gone = append(gone, r)
		}
	}
	return gone
}
