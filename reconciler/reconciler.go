package reconciler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlsync/mlsync/gitsource"
	"github.com/mlsync/mlsync/gitsource/forge"
	"github.com/mlsync/mlsync/kube"
	"github.com/mlsync/mlsync/reconciler/registry"
	"github.com/mlsync/mlsync/reconciler/report"
	"github.com/mlsync/mlsync/spec"
)

// Git is the spec repository as the reconciler uses it.
type Git interface {
	Resolve(ctx context.Context, ref gitsource.Ref) (gitsource.Revision, error)
	Fetch(ctx context.Context, rev gitsource.Revision) (*gitsource.Snapshot, error)
	Commit(ctx context.Context, req gitsource.CommitRequest) (gitsource.CommitResult, error)
	URL() string
}

// Cluster is the Kubernetes cluster as the reconciler uses it.
type Cluster interface {
	Apply(ctx context.Context, objs []*unstructured.Unstructured, opts kube.ApplyOptions) (kube.ChangeSet, error)
	Prune(ctx context.Context, refs []kube.ObjectRef) (kube.ChangeSet, error)
	ReadInventory(ctx context.Context, name string) (kube.Inventory, error)
	WriteInventory(ctx context.Context, inv kube.Inventory) error
	Health(ctx context.Context, refs []kube.ObjectRef) ([]kube.Health, error)
	// Get reads one object (nil when it does not exist).
	Get(ctx context.Context, ref kube.ObjectRef) (*unstructured.Unstructured, error)
	// List reads the objects of ref's kind in ref's namespace that match
	// a label selector.
	List(ctx context.Context, ref kube.ObjectRef, selector string) ([]unstructured.Unstructured, error)
	// Changes signals that an owned object was changed by someone else.
	Changes() <-chan struct{}
	// Event records a Kubernetes Event on an object.
	Event(ctx context.Context, ref kube.ObjectRef, eventType, reason, message string) error
}

var (
	_ Git     = (*gitsource.Remote)(nil)
	_ Cluster = (*kube.ResourceManager)(nil)
)

// Options configure a Reconciler.
type Options struct {
	// Name identifies this source's inventory in the cluster.
	Name string
	// Ref is what to follow: a branch (usually), a tag, a semver range
	// over tags, or a pinned commit.
	Ref gitsource.Ref
	// Filter limits the files read to include/ignore globs.
	Filter gitsource.Filter
	// Verify, when active, refuses commits without a trusted signature.
	Verify gitsource.VerifyPolicy
	// Metrics records Prometheus metrics; nil for none.
	Metrics *Metrics
	// Clock tells the time for schedules; time.Now when nil (tests set it).
	Clock func() time.Time
	// Forge opens promotion pull requests; without it a pull-request
	// promotion pushes its branch only.
	Forge forge.Forge
	// Prometheus gives live feature distributions for drift checks; nil
	// for no drift checks.
	Prometheus LiveDistributions
	// Canaries gives a canary's request metrics for its analysis against
	// the model's SLOs; nil for canaries that run out their window
	// unjudged.
	Canaries CanaryMetrics
	// CanaryInterval is how often a canary in its window is analysed.
	CanaryInterval time.Duration
	// Path is the folder of the repository that holds the specs.
	Path string
	// StatusBranch receives status commits; it must differ from Branch.
	StatusBranch string
	// Interval between polls.
	Interval time.Duration
	// DriftInterval is how often the cluster is checked for live changes
	// when Git did not move; a change the watch sees starts a check at
	// once (after DriftDebounce).
	DriftInterval time.Duration
	// DriftDebounce waits for a burst of live changes to settle.
	DriftDebounce time.Duration
	// Prune deletes owned objects that are no longer rendered.
	Prune bool
	// Apply tunes server-side apply.
	Apply kube.ApplyOptions
	// Author of status commits.
	Author gitsource.Signature
}

// DefaultOptions returns the options `mlsync run` starts from.
func DefaultOptions() Options {
	return Options{
		Name:           "default",
		Ref:            gitsource.Ref{Branch: "main"},
		Path:           ".",
		StatusBranch:   "mlsync/status",
		Interval:       30 * time.Second,
		DriftInterval:  5 * time.Minute,
		DriftDebounce:  time.Second,
		CanaryInterval: time.Minute,
		Prune:          true,
		Apply:          kube.DefaultApplyOptions(),
		Author:         gitsource.DefaultAuthor,
	}
}

// Validate reports options that cannot work.
func (o Options) Validate() error {
	switch {
	case o.Ref == (gitsource.Ref{}):
		return errors.New("ref is empty")
	case o.StatusBranch == "":
		return errors.New("status branch is empty")
	case o.StatusBranch == o.Ref.Branch:
		return fmt.Errorf("status branch %q must differ from the spec branch, or status commits would trigger reconciles", o.Ref.Branch)
	case o.Interval <= 0:
		return fmt.Errorf("interval %s must be positive", o.Interval)
	case o.DriftInterval <= 0:
		return fmt.Errorf("drift interval %s must be positive", o.DriftInterval)
	case o.Canaries != nil && o.CanaryInterval <= 0:
		return fmt.Errorf("canary interval %s must be positive", o.CanaryInterval)
	case o.Name == "":
		return errors.New("name is empty")
	}
	return nil
}

// Reconciler keeps a cluster in step with a spec branch. Its methods must
// not be called concurrently; Run calls Pass in a loop.
type Reconciler struct {
	opts    Options
	git     Git
	cluster Cluster
	loader  *spec.Loader
	log     *slog.Logger
	metrics *Metrics
	trigger chan struct{}
	// ready is set once a revision is applied.
	ready atomic.Bool

	// driftRequested is set by Run when the watch saw a live change.
	driftRequested bool

	st state
}

// state is what the reconciler remembers between passes.
type state struct {
	// seen is the head whose specs were validated and either applied or
	// rejected; a pass with the same head and nothing pending stops early.
	seen string
	// applied is the revision whose objects are in the cluster.
	applied *report.Revision
	set     *spec.Set
	// objs are the applied revision's rendered objects, re-applied by
	// drift checks.
	objs         []*unstructured.Unstructured
	driftChecked time.Time
	// drift lists the objects the last apply or check found changed
	// outside mlsync.
	drift []report.Change
	// objects are the references of the applied objects and the model
	// each belongs to ("" for shared objects such as namespaces).
	objects  []kube.ObjectRef
	objModel map[string]string
	changes  []report.Change
	// snap is the snapshot of the newest revision fetched, for listing
	// the paths the next one changes.
	snap *gitsource.Snapshot
	// latest is the newest revision validated; errors its spec errors.
	latest *report.Revision
	errors []report.SpecError
	ready  report.Condition
	health []kube.Health

	healthPending  bool
	publishPending bool
	published      map[string][]byte
	prev           *report.Status

	// Training: each model's current run, its registry, schedule ticks,
	// retraining requests (model -> trigger), and files to commit.
	runs             map[string]*runState
	registries       map[string]*registry.Registry
	dirtyRegistries  map[string]bool
	registriesLoaded bool
	ticks            map[string]time.Time
	retrain          map[string]string
	extra            map[string][]byte
	newVersions      []newVersion
	runsActive       bool
	nextTick         time.Time
	// promotions: the latest promotion per "model/stage".
	promotions map[string]report.Promotion
	// rollouts: canary rollouts in progress per "model/stage", and when
	// the earliest analysis window closes.
	rollouts   map[string]rollout
	rolloutDue time.Time
	canaries   map[string]report.Canary
	// endedCanaries are canary Deployments to delete after the apply
	// (with pruning off).
	endedCanaries []kube.ObjectRef
	forceRender   bool
	// modelDrift: each model's last drift check.
	modelDrift     map[string]*modelDrift
	nextDriftCheck time.Time
	promOperator   bool
}

// New returns a Reconciler. opts must pass Validate.
func New(git Git, cluster Cluster, loader *spec.Loader, opts Options, log *slog.Logger) (*Reconciler, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("reconciler options: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Reconciler{opts: opts, git: git, cluster: cluster, loader: loader, log: log,
		metrics: opts.Metrics, trigger: make(chan struct{}, 1)}
	r.st.runs = map[string]*runState{}
	r.st.registries = map[string]*registry.Registry{}
	r.st.dirtyRegistries = map[string]bool{}
	r.st.ticks = map[string]time.Time{}
	r.st.retrain = map[string]string{}
	r.st.extra = map[string][]byte{}
	r.st.promotions = map[string]report.Promotion{}
	r.st.rollouts = map[string]rollout{}
	r.st.canaries = map[string]report.Canary{}
	r.st.modelDrift = map[string]*modelDrift{}
	return r, nil
}

func (r *Reconciler) now() time.Time {
	if r.opts.Clock != nil {
		return r.opts.Clock()
	}
	return time.Now()
}

// Trigger asks Run for a pass now instead of at the next tick. Triggers
// that arrive while a pass is due coalesce into one.
func (r *Reconciler) Trigger() {
	select {
	case r.trigger <- struct{}{}:
	default:
	}
}

// Run calls Pass at once and then every interval (or on Trigger) until
// ctx ends. A failed pass is logged and retried at the next tick.
func (r *Reconciler) Run(ctx context.Context) error {
	ticker := time.NewTicker(r.opts.Interval)
	defer ticker.Stop()
	changes := r.cluster.Changes()
	for {
		start := time.Now()
		res, err := r.Pass(ctx)
		r.logPass(res, err, time.Since(start))
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		case <-r.trigger:
		case <-changes:
			// Let a burst of edits settle, then check them all at once.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(r.opts.DriftDebounce):
			}
			r.driftRequested = true
		}
	}
}

// record updates the metrics after a pass.
func (r *Reconciler) record(res PassResult, err error, took time.Duration) {
	result := "applied"
	switch {
	case err != nil:
		result = "failed"
	case res.Skipped:
		result = "skipped"
	case res.Refused != "" || len(res.SpecErrors) > 0:
		result = "rejected"
	case !res.Changes.Changed():
		result = "unchanged"
	}
	r.metrics.pass(result, took)
	counts := map[string]int{}
	for _, c := range res.Changes {
		counts[string(c.Action)]++
	}
	r.metrics.changes(counts, len(r.st.drift))
	r.metrics.state(len(r.st.errors), r.st.publishPending, r.st.ready.Status == report.ConditionTrue)
}

// Ready reports whether a pass has applied a revision: the daemon's
// readiness.
func (r *Reconciler) Ready() bool { return r.ready.Load() }

func (r *Reconciler) logPass(res PassResult, err error, took time.Duration) {
	attrs := []any{"revision", gitsource.ShortHash(res.Head), "duration", took.Round(time.Millisecond)}
	switch {
	case err != nil && errors.Is(err, context.Canceled):
		return
	case err != nil:
		r.log.Error("reconcile failed", append(attrs, "error", err)...)
	case res.Skipped:
		r.log.Debug("nothing to do", attrs...)
	case res.Drift > 0:
		r.log.Warn("live changes found", append(attrs, "drifted", res.Drift, "policy", string(r.opts.Apply.Drift))...)
	case res.Refused != "":
		r.log.Warn("revision refused, nothing applied", append(attrs, "reason", res.Refused)...)
	case len(res.SpecErrors) > 0:
		r.log.Warn("specs rejected, nothing applied", append(attrs, "errors", len(res.SpecErrors), "first", res.SpecErrors[0].Error())...)
	default:
		r.log.Info("reconciled", append(attrs,
			"created", res.Changes.Count(kube.ActionCreated),
			"configured", res.Changes.Count(kube.ActionConfigured),
			"unchanged", res.Changes.Count(kube.ActionUnchanged),
			"pruned", res.Changes.Count(kube.ActionPruned),
			"failed", res.Changes.Count(kube.ActionFailed),
			"ready", r.st.ready.Status,
			"status_commit", gitsource.ShortHash(res.StatusCommit))...)
	}
}
