package kube

import "fmt"

// Action is what happened to one object in an apply or prune.
type Action string

// The actions of a ChangeSet.
const (
	ActionCreated    Action = "created"
	ActionConfigured Action = "configured"
	ActionUnchanged  Action = "unchanged"
	ActionPruned     Action = "pruned"
	ActionSkipped    Action = "skipped"
	ActionFailed     Action = "failed"
	// ActionDrifted: the live object differs from Git and the drift
	// policy is report, so nothing was written.
	ActionDrifted Action = "drifted"
)

// Change is what happened to one object.
type Change struct {
	Object ObjectRef `json:"object"`
	Action Action    `json:"action"`
	// Reason says why an object was skipped or failed, or what drift
	// was corrected.
	Reason string `json:"reason,omitempty"`
	// Drift is true when the object was configured because it had been
	// changed outside mlsync, not because Git changed.
	Drift bool `json:"drift,omitempty"`
}

// String formats the change as "Kind/namespace/name action".
func (c Change) String() string {
	if c.Reason != "" {
		return fmt.Sprintf("%s %s: %s", c.Object, c.Action, c.Reason)
	}
	return fmt.Sprintf("%s %s", c.Object, c.Action)
}

// ChangeSet is the outcome of applying or pruning a set of objects, in the
// order the objects were handled.
type ChangeSet []Change

// Count returns how many changes have action a.
func (cs ChangeSet) Count(a Action) int {
	n := 0
	for _, c := range cs {
		if c.Action == a {
			n++
		}
	}
	return n
}

// Changed reports whether any object was created, configured or pruned.
func (cs ChangeSet) Changed() bool {
	return cs.Count(ActionCreated)+cs.Count(ActionConfigured)+cs.Count(ActionPruned) > 0
}

// Drifted counts objects found changed outside mlsync, corrected or not.
func (cs ChangeSet) Drifted() int {
	n := 0
	for _, c := range cs {
		if c.Drift || c.Action == ActionDrifted {
			n++
		}
	}
	return n
}

// Failed returns the changes whose action is ActionFailed.
func (cs ChangeSet) Failed() ChangeSet {
	var out ChangeSet
	for _, c := range cs {
		if c.Action == ActionFailed {
			out = append(out, c)
		}
	}
	return out
}
