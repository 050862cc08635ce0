// Package cue holds mlsync's CUE schema, embedded in the binary.
//
// The schema defines every spec kind a user may put in a spec repository
// (#Model today). Package spec unifies user files with these definitions;
// `mlsync schema export` writes them out for editors and `cue vet`.
// This package only carries the files: it does not import the CUE
// evaluator, so the evaluator stays behind package spec.
package cue
