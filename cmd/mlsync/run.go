package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/mlsync/mlsync/gitsource"
	"github.com/mlsync/mlsync/gitsource/forge"
	"github.com/mlsync/mlsync/kube"
	"github.com/mlsync/mlsync/reconciler"
	"github.com/mlsync/mlsync/reconciler/drift"
	"github.com/mlsync/mlsync/spec"
)

var runCommand = command{
	summary: "run the reconciler: poll a spec repository and keep the cluster in step with it",
	usage: "mlsync run --repo URL [--ref main | --branch main] [--path .] [--interval 30s] [--status-branch mlsync/status] " +
		"[--kubeconfig F] [auth, verification, drift and server flags]",
	run: runRun,
}

// stringList is a repeatable or comma-separated flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// runConfig is everything `mlsync run` is configured with.
type runConfig struct {
	opts     reconciler.Options
	kube     kube.Options
	auth     gitsource.AuthOptions
	repo     string
	ref      string
	branch   string
	include  stringList
	ignore   stringList
	allowed  stringList
	verify   stringList
	verifyAt stringList
	drift    string

	gitTimeout  time.Duration
	gitCacheDir string
	signingKey  string
	kubeconfig  string
	kubeContext string
	metricsAddr string
	webhookAddr string
	webhookKey  string
	forge       forgeFlags
	promURL     string
	once        bool
	logLevel    string
	logFormat   string
}

func (c *runConfig) register(fs *flag.FlagSet) {
	def := reconciler.DefaultOptions()
	c.registerSource(fs)
	fs.DurationVar(&c.opts.Interval, "interval", def.Interval, "time between polls")
	fs.StringVar(&c.opts.Name, "name", def.Name, "name of this source's inventory in the cluster")
	fs.BoolVar(&c.opts.Prune, "prune", def.Prune, "delete owned objects that are no longer rendered")
	fs.BoolVar(&c.opts.Apply.Force, "force-conflicts", def.Apply.Force, "take over fields another field manager owns")
	fs.DurationVar(&c.opts.DriftInterval, "drift-interval", def.DriftInterval, "how often to check the cluster for live changes when Git did not move")
	fs.DurationVar(&c.opts.CanaryInterval, "canary-interval", def.CanaryInterval, "how often a canary in its analysis window is judged against the model's SLOs (with --prometheus-url)")
	fs.StringVar(&c.drift, "drift-policy", string(def.Apply.Drift), "what to do with objects changed outside Git: correct or report")
	fs.Var(&c.verify, "verify-keys", "key files (OpenPGP .asc or SSH public keys) one of which must sign each applied commit")
	fs.Var(&c.verifyAt, "verify-path", `stricter keys for paths: "GLOB=keyfile[,keyfile]", e.g. "prod/**=release.asc" (repeatable)`)

	fs.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config or in-cluster)")
	fs.StringVar(&c.kubeContext, "context", "", "kubeconfig context (default: the current context)")
	fs.StringVar(&c.kube.ImpersonateServiceAccount, "impersonate-service-account", "",
		"impersonate this ServiceAccount of each target namespace for every write (tenant RBAC)")
	fs.Var(&c.allowed, "allowed-namespaces", "namespace patterns specs may target (default: any)")
	fs.IntVar(&c.kube.Concurrency, "concurrency", c.kube.Concurrency, "objects applied at once within a stage")

	fs.StringVar(&c.promURL, "prometheus-url", "", "Prometheus to query for model drift checks and canary analyses ('' for none)")
	fs.StringVar(&c.metricsAddr, "metrics-addr", ":8080", "address serving /metrics, /healthz and /readyz ('' to disable)")
	fs.StringVar(&c.webhookAddr, "webhook-addr", "", "address serving the Git push webhook at /hooks/git ('' to disable)")
	fs.StringVar(&c.webhookKey, "webhook-secret-file", "", "file holding the webhook secret (required with --webhook-addr)")
	fs.BoolVar(&c.once, "once", false, "run one pass and exit (non-zero when it failed or specs were rejected)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
}

// registerSource adds the flags that say where specs and status live and
// how to reach them: shared by run and promote.
func (c *runConfig) registerSource(fs *flag.FlagSet) {
	def := reconciler.DefaultOptions()
	c.opts, c.kube = def, kube.DefaultOptions()
	fs.StringVar(&c.repo, "repo", "", "URL of the spec repository (https://, http://, ssh:// or file://)")
	fs.StringVar(&c.ref, "ref", "", `what to follow: a branch ("main"), "tag:v1.2.0", "semver:>=1.0.0 <2.0.0" or "commit:<sha>"`)
	fs.StringVar(&c.branch, "branch", "main", "spec branch to follow (shorthand for --ref)")
	fs.StringVar(&c.opts.Path, "path", def.Path, "folder of the repository holding the specs")
	fs.Var(&c.include, "include", "only read files matching these globs (repeatable; ** matches folders)")
	fs.Var(&c.ignore, "ignore", "never read files matching these globs (repeatable)")
	fs.StringVar(&c.opts.StatusBranch, "status-branch", def.StatusBranch, "branch that receives status commits")
	fs.StringVar(&c.opts.Author.Name, "author-name", def.Author.Name, "author name of mlsync's commits")
	fs.StringVar(&c.opts.Author.Email, "author-email", def.Author.Email, "author email of mlsync's commits")
	fs.StringVar(&c.auth.Username, "git-username", "", "HTTPS username, or SSH user (default git)")
	fs.StringVar(&c.auth.PasswordFile, "git-password-file", "", "file holding the HTTPS password or access token")
	fs.StringVar(&c.auth.BearerTokenFile, "git-token-file", "", "file holding an HTTPS bearer token")
	fs.StringVar(&c.auth.SSHKeyFile, "ssh-key-file", "", "private key for ssh:// remotes")
	fs.StringVar(&c.auth.SSHPassphraseFile, "ssh-passphrase-file", "", "file holding the SSH key's passphrase")
	fs.StringVar(&c.auth.KnownHostsFile, "known-hosts-file", "", "known_hosts for ssh:// remotes (default ~/.ssh/known_hosts; checking is strict)")
	fs.DurationVar(&c.gitTimeout, "git-timeout", gitsource.DefaultTimeout, "timeout of each Git network call")
	fs.StringVar(&c.gitCacheDir, "git-cache-dir", "", "keep a clone with history here and fetch incrementally (default: shallow fetches into memory)")
	fs.StringVar(&c.signingKey, "signing-key-file", "", "armored OpenPGP private key that signs mlsync's commits")
	fs.StringVar(&c.forge.kind, "forge", "", "Git host API for promotion pull requests: gitea, github or gitlab")
	fs.StringVar(&c.forge.url, "forge-url", "", "the Git host's web URL (default: from --repo)")
	fs.StringVar(&c.forge.repo, "forge-repo", "", "owner/name of the repository on the host (default: from --repo)")
	fs.StringVar(&c.forge.tokenFile, "forge-token-file", "", "file holding the host API token")
}

// forgeFlags configure the Git host API.
type forgeFlags struct{ kind, url, repo, tokenFile string }

// build returns the forge client, or nil when none is configured.
func (f forgeFlags) build(repoURL string) (forge.Forge, error) {
	if f.kind == "" {
		return nil, nil
	}
	web, repo := f.url, f.repo
	if web == "" || repo == "" {
		u, err := url.Parse(repoURL)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("--forge-url and --forge-repo are needed when --repo is not an http(s) URL")
		}
		if web == "" {
			web = u.Scheme + "://" + u.Host
		}
		if repo == "" {
			repo = strings.TrimSuffix(strings.Trim(u.Path, "/"), ".git")
		}
	}
	if f.tokenFile == "" {
		return nil, errors.New("--forge needs --forge-token-file")
	}
	return forge.New(forge.Options{Kind: forge.Kind(f.kind), URL: web, Repo: repo, TokenFile: f.tokenFile})
}

// complete checks the flags and fills in what they imply.
func (c *runConfig) complete() error {
	if c.repo == "" {
		return errors.New("--repo is required")
	}
	ref := c.ref
	if ref == "" {
		ref = c.branch
	}
	r, err := gitsource.ParseRef(ref)
	if err != nil {
		return err
	}
	c.opts.Ref = r
	c.opts.Filter = gitsource.Filter{Include: c.include, Ignore: c.ignore}
	switch kube.DriftPolicy(c.drift) {
	case kube.DriftCorrect, kube.DriftReport:
		c.opts.Apply.Drift = kube.DriftPolicy(c.drift)
	default:
		return fmt.Errorf("--drift-policy %q: want correct or report", c.drift)
	}
	c.kube.AllowedNamespaces = c.allowed
	if c.webhookAddr != "" && c.webhookKey == "" {
		return errors.New("--webhook-addr needs --webhook-secret-file")
	}
	if len(c.verify) > 0 {
		if c.opts.Verify.Keys, err = gitsource.LoadKeyRing(c.verify...); err != nil {
			return err
		}
	}
	for _, rule := range c.verifyAt {
		glob, files, ok := strings.Cut(rule, "=")
		if !ok || glob == "" || files == "" {
			return fmt.Errorf("--verify-path %q: want GLOB=keyfile[,keyfile]", rule)
		}
		ring, err := gitsource.LoadKeyRing(strings.Split(files, ",")...)
		if err != nil {
			return err
		}
		c.opts.Verify.Paths = append(c.opts.Verify.Paths, gitsource.PathRule{Glob: glob, Keys: ring})
	}
	return nil
}

// remote builds the Git remote with its authentication.
func (c *runConfig) remote() (*gitsource.Remote, error) {
	auth, err := c.auth.Method(c.repo)
	if err != nil {
		return nil, err
	}
	opts := gitsource.Options{URL: c.repo, Auth: auth, Timeout: c.gitTimeout, CacheDir: c.gitCacheDir}
	if c.signingKey != "" {
		if opts.SigningKey, err = gitsource.LoadSigningKey(c.signingKey); err != nil {
			return nil, err
		}
	}
	return gitsource.NewRemote(opts)
}

func runRun(ctx context.Context, env *cmdEnv, args []string) int {
	fs := newFlags(env, "run")
	var c runConfig
	c.register(fs)
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if err := c.complete(); err != nil {
		env.errorf("run: %v", err)
		return exitUsage
	}
	log, err := newLogger(env.stderr, c.logLevel, c.logFormat)
	if err != nil {
		env.errorf("run: %v", err)
		return exitUsage
	}
	rec, closeAll, err := c.build(log)
	if err != nil {
		env.errorf("run: %v", err)
		return exitUsage
	}
	defer closeAll()
	log.Info("starting", "version", version, "repo", gitsource.Redact(c.repo), "ref", c.opts.Ref.String(),
		"path", c.opts.Path, "status_branch", c.opts.StatusBranch, "interval", c.opts.Interval.String())
	if c.once {
		return runOnce(ctx, rec, log)
	}
	stopServers, err := c.serve(ctx, rec, log)
	if err != nil {
		env.errorf("run: %v", err)
		return exitUsage
	}
	defer stopServers()
	if err := rec.Run(ctx); err != nil {
		log.Error("stopped", "error", err)
		return exitFailed
	}
	log.Info("stopped")
	return exitOK
}

// build wires the remote, the cluster, the loader and the metrics into a
// reconciler.
func (c *runConfig) build(log *slog.Logger) (*reconciler.Reconciler, func(), error) {
	remote, err := c.remote()
	if err != nil {
		return nil, nil, err
	}
	cfg, err := kube.LoadConfig(c.kubeconfig, c.kubeContext)
	if err != nil {
		return nil, nil, err
	}
	manager, err := kube.NewResourceManager(cfg, c.kube)
	if err != nil {
		return nil, nil, err
	}
	loader, err := spec.NewLoader(spec.DefaultLoaderOptions())
	if err != nil {
		manager.Close()
		return nil, nil, err
	}
	metricsRegistry = prometheus.NewRegistry()
	metricsRegistry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	c.opts.Metrics = reconciler.NewMetrics(metricsRegistry)
	if c.opts.Forge, err = c.forge.build(c.repo); err != nil {
		manager.Close()
		return nil, nil, err
	}
	if c.promURL != "" {
		p, err := drift.NewPrometheus(c.promURL, 30*time.Second)
		if err != nil {
			manager.Close()
			return nil, nil, err
		}
		c.opts.Prometheus, c.opts.Canaries = p, p
	}
	rec, err := reconciler.New(remote, manager, loader, c.opts, log)
	if err != nil {
		manager.Close()
		return nil, nil, err
	}
	return rec, manager.Close, nil
}

func runOnce(ctx context.Context, rec *reconciler.Reconciler, log *slog.Logger) int {
	start := time.Now()
	res, err := rec.Pass(ctx)
	switch {
	case err != nil:
		log.Error("pass failed", "error", err, "duration", time.Since(start).Round(time.Millisecond))
		return exitFailed
	case res.Refused != "":
		log.Warn("revision refused", "reason", res.Refused)
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
