package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// PlanAction is what applying would do to one object.
type PlanAction string

// The plan actions.
const (
	PlanCreate    PlanAction = "create"
	PlanUpdate    PlanAction = "update"
	PlanUnchanged PlanAction = "unchanged"
	PlanPrune     PlanAction = "prune"
	PlanSkip      PlanAction = "skip"
	PlanError     PlanAction = "error"
)

// PlanEntry is the plan for one object.
type PlanEntry struct {
	Object ObjectRef  `json:"object"`
	Action PlanAction `json:"action"`
	Reason string     `json:"reason,omitempty"`
	// Diff is a unified YAML diff from the live object to what applying
	// would leave, without managedFields, status, server-set metadata
	// and Secret values.
	Diff string `json:"diff,omitempty"`
}

// Plan is what applying a set of objects (and pruning what an inventory
// holds beyond them) would do, in the order of the objects, prunes last.
type Plan []PlanEntry

// Changes reports whether the plan would create, update or prune anything.
func (p Plan) Changes() bool {
	for _, e := range p {
		if e.Action == PlanCreate || e.Action == PlanUpdate || e.Action == PlanPrune {
			return true
		}
	}
	return false
}

// Count returns how many entries have action a.
func (p Plan) Count(a PlanAction) int {
	n := 0
	for _, e := range p {
		if e.Action == a {
			n++
		}
	}
	return n
}

// Text renders the plan for people: one line per object that would
// change (or could not be planned), then the diffs.
func (p Plan) Text() string {
	var b strings.Builder
	for _, e := range p {
		if e.Action == PlanUnchanged {
			continue
		}
		if e.Reason != "" {
			fmt.Fprintf(&b, "%-9s %s: %s\n", e.Action, e.Object, e.Reason)
		} else {
			fmt.Fprintf(&b, "%-9s %s\n", e.Action, e.Object)
		}
	}
	fmt.Fprintf(&b, "\n%d to create, %d to update, %d to prune, %d unchanged", p.Count(PlanCreate), p.Count(PlanUpdate),
		p.Count(PlanPrune), p.Count(PlanUnchanged))
	if n := p.Count(PlanSkip); n > 0 {
		fmt.Fprintf(&b, ", %d skipped", n)
	}
	if n := p.Count(PlanError); n > 0 {
		fmt.Fprintf(&b, ", %d errors", n)
	}
	b.WriteString("\n")
	for _, e := range p {
		if e.Diff != "" {
			b.WriteString("\n")
			b.WriteString(e.Diff)
		}
	}
	return b.String()
}

// Plan computes what Apply(objs) followed by pruning the inventory called
// inventory would do, without changing anything: server-side dry-runs for
// objects that may have changed, and nothing for objects the records and
// the watch cache show unchanged.
func (m *ResourceManager) Plan(ctx context.Context, objs []*unstructured.Unstructured, inventory string, opts ApplyOptions) (Plan, error) {
	// The inventory's records let unchanged objects be planned without a
	// dry-run; read it first.
	var inv Inventory
	if inventory != "" {
		var err error
		if inv, err = m.ReadInventory(ctx, inventory); err != nil {
			return nil, err
		}
	}
	plan := make(Plan, len(objs))
	idx := make([]int, len(objs))
	for i := range objs {
		idx[i] = i
	}
	m.parallel(ctx, idx, func(i int) { plan[i] = m.planOne(ctx, objs[i], opts) })
	if err := ctx.Err(); err != nil {
		return plan, err
	}
	if inventory == "" {
		return plan, nil
	}
	refs := make([]ObjectRef, len(objs))
	for i, o := range objs {
		refs[i] = RefOf(o)
	}
	for _, ref := range Diff(inv.Objects, refs) {
		live, err := m.Get(ctx, ref)
		switch {
		case err != nil:
			plan = append(plan, PlanEntry{Object: ref, Action: PlanError, Reason: err.Error()})
		case live == nil:
		case !IsOwned(live):
			plan = append(plan, PlanEntry{Object: ref, Action: PlanSkip, Reason: "not managed by mlsync; not pruned"})
		case live.GetAnnotations()[PruneAnnotation] == PruneDisabled:
			plan = append(plan, PlanEntry{Object: ref, Action: PlanSkip, Reason: "pruning disabled by annotation"})
		default:
			if slimmed(live) {
				if fresh, err := m.getLive(ctx, ref); err == nil && fresh != nil {
					live = fresh
				}
			}
			plan = append(plan, PlanEntry{Object: ref, Action: PlanPrune,
				Diff: unifiedDiff("live/"+ref.String(), "/dev/null", toYAML(normalize(live, nil, false)), "")})
		}
	}
	return plan, nil
}

func (m *ResourceManager) planOne(ctx context.Context, desired *unstructured.Unstructured, opts ApplyOptions) PlanEntry {
	ref := RefOf(desired)
	fail := func(err error) PlanEntry { return PlanEntry{Object: ref, Action: PlanError, Reason: err.Error()} }
	ri, mapping, err := m.resource(ref, true)
	if err != nil {
		return fail(err)
	}
	if err := m.allowed(ref, mapping.Scope.Name() == meta.RESTScopeNameNamespace); err != nil {
		return fail(err)
	}
	live, err := m.Get(ctx, ref)
	if err == nil && live == nil && m.cache != nil {
		live, err = m.getLive(ctx, ref)
	}
	if err != nil {
		return fail(err)
	}
	desired = desired.DeepCopy()
	if live == nil {
		return PlanEntry{Object: ref, Action: PlanCreate,
			Diff: unifiedDiff("/dev/null", "git/"+ref.String(), "", toYAML(normalize(desired, nil, false)))}
	}
	if !IsOwned(live) {
		return PlanEntry{Object: ref, Action: PlanSkip, Reason: "exists and is not managed by mlsync"}
	}
	keepRevision(live, desired)
	if m.upToDate(ref, live, desired) {
		return PlanEntry{Object: ref, Action: PlanUnchanged}
	}
	if slimmed(live) {
		if live, err = m.getLive(ctx, ref); err != nil {
			return fail(err)
		}
		if live == nil {
			return PlanEntry{Object: ref, Action: PlanCreate}
		}
	}
	planned, err := m.patch(ctx, ri, desired, true, true)
	if err != nil {
		return fail(applyError(err))
	}
	if sameObject(live, planned) {
		return PlanEntry{Object: ref, Action: PlanUnchanged}
	}
	if slimmed(live) {
		if fresh, err := m.getLive(ctx, ref); err == nil && fresh != nil {
			live = fresh // the cached copy lacks what a diff should show
		}
	}
	e := PlanEntry{Object: ref, Action: PlanUpdate,
		Diff: unifiedDiff("live/"+ref.String(), "git/"+ref.String(), toYAML(normalize(live, planned, false)), toYAML(normalize(planned, live, true)))}
	if live.GetAnnotations()[SpecHashAnnotation] == desired.GetAnnotations()[SpecHashAnnotation] {
		e.Reason = "drifted: " + driftReason(live, m.opts.FieldManager)
	}
	return e
}

// normalize returns obj without what a reviewer does not need to see:
// managedFields, status and server-set metadata, with Secret values
// masked; with markChanges, values that differ from other's read
// "*** (changed)", so the diff shows which keys changed but not how.
func normalize(obj, other *unstructured.Unstructured, markChanges bool) map[string]any {
	c := obj.DeepCopy().Object
	for _, f := range []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink"} {
		unstructured.RemoveNestedField(c, "metadata", f)
	}
	for _, a := range []string{fieldsHashKey, "deployment.kubernetes.io/revision", "kubectl.kubernetes.io/last-applied-configuration"} {
		unstructured.RemoveNestedField(c, "metadata", "annotations", a)
	}
	if ann, ok, _ := unstructured.NestedMap(c, "metadata", "annotations"); ok && len(ann) == 0 {
		unstructured.RemoveNestedField(c, "metadata", "annotations")
	}
	unstructured.RemoveNestedField(c, "status")
	if obj.GetKind() == "Secret" && obj.GetAPIVersion() == "v1" {
		maskSecret(c, other, markChanges)
	}
	return c
}

// maskSecret replaces every value of a Secret's data and stringData with
// "***", or with markChanges "*** (changed)" when it differs from the
// other version's (or the other has none).
func maskSecret(c map[string]any, other *unstructured.Unstructured, markChanges bool) {
	for _, field := range []string{"data", "stringData"} {
		data, ok, _ := unstructured.NestedMap(c, field)
		if !ok {
			continue
		}
		var otherData map[string]any
		if other != nil {
			otherData, _, _ = unstructured.NestedMap(other.Object, field)
		}
		for k, v := range data {
			mask := "***"
			if markChanges && fmt.Sprint(otherData[k]) != fmt.Sprint(v) {
				mask = "*** (changed)"
			}
			data[k] = mask
		}
		_ = unstructured.SetNestedMap(c, data, field)
	}
}

func toYAML(obj map[string]any) string {
	js, err := json.Marshal(obj)
	if err != nil {
		return fmt.Sprintf("# cannot render: %v\n", err)
	}
	y, err := yaml.JSONToYAML(js)
	if err != nil {
		return fmt.Sprintf("# cannot render: %v\n", err)
	}
	return string(y)
}
