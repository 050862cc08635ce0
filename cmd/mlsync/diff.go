package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlsync/mlsync/kube"
	"github.com/mlsync/mlsync/reconciler"
	"github.com/mlsync/mlsync/reconciler/render"
	"github.com/mlsync/mlsync/spec"
)

var diffCommand = command{
	summary: "show what applying the specs under DIR would change in the cluster (exit 0 nothing, 1 changes, 2 error)",
	usage:   "mlsync diff [DIR] [--kubeconfig F] [--context C] [--name default] [-o text|json]",
	run:     runDiff,
}

func runDiff(ctx context.Context, env *cmdEnv, args []string) int {
	fs := newFlags(env, "diff")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config or in-cluster)")
	kubeContext := fs.String("context", "", "kubeconfig context (default: the current context)")
	name := fs.String("name", "default", "inventory name of the source (as `mlsync run --name`), to plan prunes")
	output := fs.String("o", "text", "output format: text or json")
	revision := fs.String("revision", "", "revision to record in the mlsync.io/revision annotation")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if *output != "text" && *output != "json" {
		env.errorf("diff: unknown output %q; want text or json", *output)
		return exitUsage
	}
	dir, ok := dirArg(env, fs.Args(), "diff")
	if !ok {
		return exitUsage
	}
	set, files, errs, err := loadSources(dir)
	if env.specFailure(err, errs, "validate") {
		return exitUsage
	}
	cfg, err := kube.LoadConfig(*kubeconfig, *kubeContext)
	if err != nil {
		env.errorf("diff: %v", err)
		return exitUsage
	}
	m, err := kube.NewResourceManager(cfg, kube.DefaultOptions())
	if err != nil {
		env.errorf("diff: %v", err)
		return exitUsage
	}
	defer m.Close()
	// Canaries in their window, and failed canaries' holds, render as
	// the daemon renders them.
	objs, errs, err := renderSet(set, files, render.Options{Revision: *revision, Rollouts: reconciler.LiveRollouts(ctx, m, set, time.Now())})
	if env.specFailure(err, errs, "render") {
		return exitUsage
	}
	plan, err := m.Plan(ctx, objs, *name, kube.DefaultApplyOptions())
	if err != nil {
		env.errorf("diff: %v", err)
		return exitUsage
	}
	if *output == "json" {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"changes": plan.Changes(), "objects": plan}); err != nil {
			env.errorf("diff: %v", err)
			return exitUsage
		}
	} else {
		fmt.Fprint(env.stdout, plan.Text())
	}
	if plan.Count(kube.PlanError) > 0 {
		return exitUsage
	}
	if plan.Changes() {
		return exitFailed
	}
	return exitOK
}

// specFailure reports a diff that cannot go on: err, or the specs' errors
// (one per line) when they do not validate or render.
func (env *cmdEnv) specFailure(err error, errs spec.Errors, step string) bool {
	if err != nil {
		env.errorf("diff: %v", err)
		return true
	}
	if len(errs) == 0 {
		return false
	}
	for _, e := range errs {
		fmt.Fprintln(env.stderr, e.Error())
	}
	env.errorf("diff: the specs do not %s; nothing to compare", step)
	return true
}

// renderDir loads the specs under dir and renders their objects, with
// overlays and manifests.
func renderDir(dir, revision string) ([]*unstructured.Unstructured, spec.Errors, error) {
	set, files, errs, err := loadSources(dir)
	if err != nil || len(errs) > 0 {
		return nil, errs, err
	}
	return renderSet(set, files, render.Options{Revision: revision})
}

// loadSources reads and validates the specs under dir, and returns the
// files (overlays and manifests too) for rendering.
func loadSources(dir string) (*spec.Set, []spec.File, spec.Errors, error) {
	files, err := spec.ReadFiles(dir, render.IsSourceFile)
	var one *spec.Error
	if errors.As(err, &one) {
		return nil, nil, spec.Errors{one}, nil
	}
	if err != nil {
		return nil, nil, nil, err
	}
	set, errs, err := loadFiles(files)
	return set, files, errs, err
}

// renderSet renders a loaded set with overlays and manifests from files.
func renderSet(set *spec.Set, files []spec.File, opts render.Options) ([]*unstructured.Unstructured, spec.Errors, error) {
	opts.Files = files
	objs, err := render.Objects(set, opts)
	var rerrs spec.Errors
	if errors.As(err, &rerrs) {
		return nil, rerrs, nil
	}
	return objs, nil, err
}
