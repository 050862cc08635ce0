// Package spec loads and validates the specs in a user's spec repository.
//
// Every .cue, .yaml and .yml file under the spec root (outside the
// environments/ and manifests/ folders, which hold kustomize overlays and
// plain Kubernetes YAML) is unified with the embedded schema for its kind.
// The result is a Set of plain Go structs, fully defaulted, in a
// deterministic order, or an Errors list naming every problem with the
// user's file:line:col, the CUE path and a plain message.
//
//	files, err := spec.ReadDir("path/to/repo")
//	set, err := spec.NewLoader().Load(files)
//	var errs spec.Errors
//	if errors.As(err, &errs) { for _, e := range errs { fmt.Println(e) } }
//
// spec is the only package of mlsync that imports cuelang.org/go. It does
// no I/O beyond ReadDir and it never logs.
package spec
