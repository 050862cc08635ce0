// Package render turns validated specs into the Kubernetes objects that
// serve, train and monitor them.
//
// Rendering is a pure function: the same specs and revision give
// byte-identical objects in the same order. Every object carries mlsync's
// ownership label, the model label, and annotations with the source
// revision and the hash of the spec it came from, so the apply engine can
// tell what it owns and what changed.
//
//	objs, err := render.Objects(set, render.Options{Revision: commit})
package render
