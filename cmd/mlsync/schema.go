package main

import (
	"context"
	"fmt"

	mlcue "github.com/mlsync/mlsync/cue"
)

var schemaCommand = command{
	summary: "write mlsync's CUE schema to DIR as a CUE module, for editors and `cue vet`",
	usage:   "mlsync schema export DIR",
	run:     runSchema,
}

func runSchema(_ context.Context, env *cmdEnv, args []string) int {
	fs := newFlags(env, "schema")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() != 2 || fs.Arg(0) != "export" {
		fs.Usage()
		return exitUsage
	}
	written, err := mlcue.Export(fs.Arg(1))
	if err != nil {
		env.errorf("schema export: %v", err)
		return exitUsage
	}
	for _, p := range written {
		fmt.Fprintln(env.stdout, p)
	}
	return exitOK
}
