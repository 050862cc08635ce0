package main

import (
	"context"
	"encoding/json"
	"fmt"

	"sigs.k8s.io/yaml"
)

var renderCommand = command{
	summary: "print the Kubernetes objects the specs under DIR render to",
	usage:   "mlsync render [DIR] [-o yaml|json] [--revision REV]",
	run:     runRender,
}

func runRender(_ context.Context, env *cmdEnv, args []string) int {
	fs := newFlags(env, "render")
	output := fs.String("o", "yaml", "output format: yaml or json")
	revision := fs.String("revision", "", "revision to record in the mlsync.io/revision annotation")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if *output != "yaml" && *output != "json" {
		env.errorf("render: unknown output %q; want yaml or json", *output)
		return exitUsage
	}
	dir, ok := dirArg(env, fs.Args(), "render")
	if !ok {
		return exitUsage
	}
	objs, errs, err := renderDir(dir, *revision)
	if err != nil {
		env.errorf("render: %v", err)
		return exitUsage
	}
	if len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintln(env.stderr, e.Error())
		}
		return exitFailed
	}
	if *output == "json" {
		list := map[string]any{"apiVersion": "v1", "kind": "List", "items": objs}
		data, err := json.MarshalIndent(list, "", "  ")
		if err != nil {
			env.errorf("render: %v", err)
			return exitUsage
		}
		fmt.Fprintf(env.stdout, "%s\n", data)
		return exitOK
	}
	for i, o := range objs {
		data, err := yaml.Marshal(o.Object)
		if err != nil {
			env.errorf("render: %s: %v", o.GetName(), err)
			return exitUsage
		}
		if i > 0 {
			fmt.Fprintln(env.stdout, "---")
		}
		fmt.Fprintf(env.stdout, "%s", data)
	}
	return exitOK
}
