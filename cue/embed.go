package cue

import "embed"

// Files is the schema as a CUE package (package mlsync), one file per kind.
//
//go:embed schema/*.cue
var Files embed.FS

// Dir is the directory inside Files that holds the schema files.
const Dir = "schema"

// Package is the CUE package name declared by every schema file.
const Package = "mlsync"
