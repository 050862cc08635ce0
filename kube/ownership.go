package kube

import "k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

// Labels and annotations that mark what mlsync owns and where it came from.
const (
	// ManagedByLabel is the standard label naming the tool that manages an
	// object; mlsync sets it to ManagedByValue on everything it applies.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// ManagedByValue is mlsync's value of ManagedByLabel.
	ManagedByValue = "mlsync"

	// ModelLabel names the model an object belongs to.
	ModelLabel = "mlsync.io/model"

	// RevisionAnnotation holds the Git revision the object was applied from.
	RevisionAnnotation = "mlsync.io/revision"
	// SourceAnnotation names the spec file the object was rendered from.
	SourceAnnotation = "mlsync.io/source"
	// SpecHashAnnotation holds a hash of the object as rendered, revision
	// aside: equal hashes mean applying would change nothing mlsync set.
	SpecHashAnnotation = "mlsync.io/spec-hash"
	// PruneAnnotation set to PruneDisabled keeps an object in the cluster
	// when mlsync no longer renders it.
	PruneAnnotation = "mlsync.io/prune"
	// PruneDisabled is the PruneAnnotation value that opts out of pruning.
	PruneDisabled = "disabled"

	// FieldManager is the server-side apply field manager mlsync uses.
	FieldManager = "mlsync"
)

// IsOwned reports whether mlsync owns obj: only such objects are ever
// modified or deleted by mlsync.
func IsOwned(obj *unstructured.Unstructured) bool {
	v, _ := nestedString(obj.Object, "metadata", "labels", ManagedByLabel)
	return v == ManagedByValue
}
