package main

import (
	"context"
	"fmt"

	"github.com/mlsync/mlsync/reconciler"
	"github.com/mlsync/mlsync/reconciler/promotion"
	"github.com/mlsync/mlsync/spec"
)

var promoteCommand = command{
	summary: "propose (or commit) a model version for a stage: a pull request with --forge, else a branch; --commit pins it directly",
	usage:   "mlsync promote MODEL --to STAGE [--version V] --repo URL [--ref main] [--forge gitea --forge-token-file F] [--commit]",
	run:     runPromote,
}

func runPromote(ctx context.Context, env *cmdEnv, args []string) int {
	fs := newFlags(env, "promote")
	var c runConfig
	c.registerSource(fs)
	to := fs.String("to", "", "stage to promote to")
	version := fs.String("version", "", "version to promote (default: the stage before's pin, or the newest that passed its gate)")
	direct := fs.Bool("commit", false, "commit the pin to the spec branch instead of proposing a pull request")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if fs.NArg() != 1 || *to == "" {
		env.errorf("promote: want MODEL and --to STAGE")
		return exitUsage
	}
	if err := c.complete(); err != nil {
		env.errorf("promote: %v", err)
		return exitUsage
	}
	remote, err := c.remote()
	if err != nil {
		env.errorf("promote: %v", err)
		return exitUsage
	}
	if c.opts.Forge, err = c.forge.build(c.repo); err != nil {
		env.errorf("promote: %v", err)
		return exitUsage
	}
	loader, err := spec.NewLoader(spec.DefaultLoaderOptions())
	if err != nil {
		env.errorf("promote: %v", err)
		return exitUsage
	}
	rec, err := reconciler.New(remote, nil, loader, c.opts, nil)
	if err != nil {
		env.errorf("promote: %v", err)
		return exitUsage
	}
	if err := rec.Prepare(ctx); err != nil {
		env.errorf("promote: %v", err)
		return exitFailed
	}
	model := rec.Model(fs.Arg(0))
	if model == nil {
		env.errorf("promote: no model %s in the specs", fs.Arg(0))
		return exitFailed
	}
	reg := rec.Registry(model.Name)
	if reg == nil {
		env.errorf("promote: model %s has no versions in the registry yet", model.Name)
		return exitFailed
	}
	p, err := promotion.Manual(model, reg, *to, *version)
	if err != nil {
		env.errorf("promote: %v", err)
		return exitFailed
	}
	st, err := rec.Propose(ctx, p, !*direct)
	if err != nil {
		env.errorf("promote: %v", err)
		return exitFailed
	}
	switch {
	case st.URL != "":
		fmt.Fprintf(env.stdout, "%s: pull request #%d %s\n", p.Title(), st.Number, st.URL)
	case st.Commit != "":
		fmt.Fprintf(env.stdout, "%s: committed %s\n", p.Title(), st.Commit)
	default:
		fmt.Fprintf(env.stdout, "%s: %s (%s)\n", p.Title(), st.State, st.Error)
	}
	return exitOK
}
