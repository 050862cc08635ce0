package spec

// Kind names a spec kind, the value of a spec's `kind` field.
type Kind string

// The spec kinds mlsync knows.
const (
	KindModel Kind = "Model"
)

// Model is one model spec after validation and defaulting.
type Model struct {
	Kind        Kind    `json:"kind"`
	Name        string  `json:"name"`
	Namespace   string  `json:"namespace"`
	Description string  `json:"description,omitempty"`
	Serving     Serving `json:"serving"`

	// Source says where the spec came from. It is not part of the spec.
	Source Source `json:"-"`
}

// Serving says how a model is served.
type Serving struct {
	Image    string `json:"image"`
	Replicas int32  `json:"replicas"`
	Port     int32  `json:"port"`
}

// Source records the file a spec was loaded from and the hash of its
// defaulted value, which changes exactly when the effective spec changes.
type Source struct {
	File string
	Hash string
	// NamePos is where the spec's name is written.
	NamePos Position
}

// Set is every spec of a repository revision, sorted by namespace and name.
type Set struct {
	Models []Model
}
