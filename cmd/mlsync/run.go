package main

import (
	"context"
	"strings"
	"time"

	"github.com/mlsync/mlsync/gitsource"
	"github.com/mlsync/mlsync/kube"
	"github.com/mlsync/mlsync/reconciler"
	"github.com/mlsync/mlsync/spec"
)

var runCommand = command{
	summary: "run the reconciler: poll a spec repository and keep the cluster in step with it",
	usage:   "mlsync run --repo URL [--branch main] [--path .] [--interval 30s] [--status-branch mlsync/status] [--kubeconfig F]",
	run:     runRun,
}

func runRun(ctx context.Context, env *cmdEnv, args []string) int {
	fs := newFlags(env, "run")
	def := reconciler.DefaultOptions()
	opts := def
	repo := fs.String("repo", "", "URL of the spec repository (https://, http://, ssh:// or file://)")
	fs.StringVar(&opts.Branch, "branch", def.Branch, "spec branch to follow")
	fs.StringVar(&opts.Path, "path", def.Path, "folder of the repository holding the specs")
	fs.DurationVar(&opts.Interval, "interval", def.Interval, "time between polls")
	fs.StringVar(&opts.StatusBranch, "status-branch", def.StatusBranch, "branch that receives status commits")
	fs.StringVar(&opts.Name, "name", def.Name, "name of this source's inventory in the cluster")
	fs.BoolVar(&opts.Prune, "prune", def.Prune, "delete owned objects that are no longer rendered")
	fs.BoolVar(&opts.Apply.Force, "force-conflicts", def.Apply.Force, "take over fields another field manager owns")
	fs.DurationVar(&opts.DriftInterval, "drift-interval", def.DriftInterval, "how often to check the cluster for live changes when Git did not move")
	driftPolicy := fs.String("drift-policy", string(def.Apply.Drift), "what to do with objects changed outside Git: correct or report")
	kubeOpts := kube.DefaultOptions()
	fs.StringVar(&kubeOpts.ImpersonateServiceAccount, "impersonate-service-account", "",
		"impersonate this ServiceAccount of each target namespace for every write (tenant RBAC)")
	allowed := fs.String("allowed-namespaces", "", "comma-separated namespace patterns specs may target (default: any)")
	fs.IntVar(&kubeOpts.Concurrency, "concurrency", kubeOpts.Concurrency, "objects applied at once within a stage")
	fs.StringVar(&opts.Author.Name, "author-name", def.Author.Name, "author name of status commits")
	fs.StringVar(&opts.Author.Email, "author-email", def.Author.Email, "author email of status commits")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config or in-cluster)")
	kubeContext := fs.String("context", "", "kubeconfig context (default: the current context)")
	gitTimeout := fs.Duration("git-timeout", gitsource.DefaultTimeout, "timeout of each Git network call")
	once := fs.Bool("once", false, "run one pass and exit (non-zero when it failed or specs were rejected)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if *repo == "" {
		env.errorf("run: --repo is required")
		return exitUsage
	}
	switch kube.DriftPolicy(*driftPolicy) {
	case kube.DriftCorrect, kube.DriftReport:
		opts.Apply.Drift = kube.DriftPolicy(*driftPolicy)
	default:
		env.errorf("run: --drift-policy %q: want correct or report", *driftPolicy)
		return exitUsage
	}
	if *allowed != "" {
		for _, p := range strings.Split(*allowed, ",") {
			kubeOpts.AllowedNamespaces = append(kubeOpts.AllowedNamespaces, strings.TrimSpace(p))
		}
	}
	log, err := newLogger(env.stderr, *logLevel, *logFormat)
	if err != nil {
		env.errorf("run: %v", err)
		return exitUsage
	}
	remote, err := gitsource.NewRemote(gitsource.Options{URL: *repo, Timeout: *gitTimeout})
	if err != nil {
		env.errorf("run: %v", err)
		return exitUsage
	}
	cfg, err := kube.LoadConfig(*kubeconfig, *kubeContext)
	if err != nil {
		env.errorf("run: %v", err)
		return exitUsage
	}
	manager, err := kube.NewResourceManager(cfg, kubeOpts)
	if err != nil {
		env.errorf("run: %v", err)
		return exitUsage
	}
	defer manager.Close()
	loader, err := spec.NewLoader(spec.DefaultLoaderOptions())
	if err != nil {
		env.errorf("run: %v", err)
		return exitUsage
	}
	rec, err := reconciler.New(remote, manager, loader, opts, log)
	if err != nil {
		env.errorf("run: %v", err)
		return exitUsage
	}
	log.Info("starting", "version", version, "repo", remote.URL(), "branch", opts.Branch,
		"path", opts.Path, "status_branch", opts.StatusBranch, "interval", opts.Interval.String())
	if *once {
		start := time.Now()
		res, err := rec.Pass(ctx)
		switch {
		case err != nil:
			log.Error("pass failed", "error", err, "duration", time.Since(start).Round(time.Millisecond))
			return exitFailed
		case len(res.SpecErrors) > 0:
			for _, e := range res.SpecErrors {
				log.Warn("spec error", "error", e.Error())
			}
			return exitFailed
		}
		log.Info("pass done", "revision", gitsource.ShortHash(res.Head), "changed", res.Changes.Changed(),
			"status_commit", gitsource.ShortHash(res.StatusCommit), "duration", time.Since(start).Round(time.Millisecond))
		return exitOK
	}
	if err := rec.Run(ctx); err != nil {
		log.Error("stopped", "error", err)
		return exitFailed
	}
	log.Info("stopped")
	return exitOK
}
