package reconciler

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlsync/mlsync/gitsource"
	"github.com/mlsync/mlsync/kube"
	"github.com/mlsync/mlsync/reconciler/render"
	"github.com/mlsync/mlsync/reconciler/report"
	"github.com/mlsync/mlsync/spec"
)

// PassResult says what one pass did.
type PassResult struct {
	// Head is the spec branch's head the pass looked at.
	Head string
	// Skipped is true when nothing was due: same head, nothing pending.
	Skipped bool
	// SpecErrors rejected the head; nothing was applied.
	SpecErrors spec.Errors
	// Changes is what applying and pruning did.
	Changes kube.ChangeSet
	// Drift counts objects found changed outside mlsync.
	Drift int
	// Refused says why the head was not applied when its commit failed
	// verification.
	Refused string
	// StatusCommit is the status commit pushed, if any.
	StatusCommit string
}

// Pass runs one reconcile pass.
func (r *Reconciler) Pass(ctx context.Context) (res PassResult, err error) {
	start := time.Now()
	defer func() { r.record(res, err, time.Since(start)) }()

	// 1. Ask the remote where the ref points; same commit and nothing
	// pending: stop here, without fetching or rendering.
	rev, err := r.resolve(ctx)
	if err != nil {
		r.st.ready = report.ReadyCondition(report.ConditionFalse, meta.ArtifactFailedReason, err.Error())
		return res, err
	}
	res.Head = rev.Hash
	now := r.now()
	driftDue := r.st.objs != nil && (r.driftRequested || now.Sub(r.st.driftChecked) >= r.opts.DriftInterval)
	runsDue := r.st.runsActive || len(r.st.retrain) > 0 || (!r.st.nextTick.IsZero() && !now.Before(r.st.nextTick)) ||
		(!r.st.nextDriftCheck.IsZero() && !now.Before(r.st.nextDriftCheck))
	if !r.st.rolloutDue.IsZero() && !now.Before(r.st.rolloutDue) {
		r.st.seen = "" // a canary window closed: render again to complete the rollout
		r.st.forceRender = true
	}
	if rev.Hash == r.st.seen && !r.st.healthPending && !r.st.publishPending && !driftDue && !runsDue {
		res.Skipped = true
		return res, nil
	}

	switch {
	case rev.Hash == r.st.seen && driftDue:
		// 4'. Git did not move: look for live changes to what mlsync
		// applied, and correct or report them.
		if err := r.checkDrift(ctx, &res); err != nil {
			return res, err
		}
	case rev.Hash != r.st.seen:
		applied, err := r.sync(ctx, rev, &res)
		if err != nil {
			r.st.ready = report.ReadyCondition(report.ConditionFalse, meta.ReconciliationFailedReason, err.Error())
			if pubErr := r.publish(ctx, &res); pubErr != nil {
				err = errors.Join(err, pubErr)
			}
			return res, err
		}
		if !applied {
			return res, r.publish(ctx, &res)
		}
	}

	// 6. Assess health of everything applied.
	if err := r.assessHealth(ctx); err != nil {
		return res, err
	}

	// 7. Advance training runs: start due steps, record finished runs;
	// then act on the promotions that are due.
	active, runErr := r.advanceRuns(ctx, now)
	r.st.runsActive = active
	r.st.nextTick = r.nextScheduleTick()
	promoteErr := r.promote(ctx)
	driftErr := r.checkModelDrift(ctx, now)
	if len(r.st.retrain) > 0 {
		// A model drifted with retrainOnDrift: start its run now.
		active, err := r.advanceRuns(ctx, now)
		r.st.runsActive = r.st.runsActive || active
		runErr = errors.Join(runErr, err)
	}

	// 8. Publish the status when it changed.
	return res, errors.Join(runErr, promoteErr, driftErr, r.publish(ctx, &res))
}

// nextScheduleTick is the earliest schedule tick of any pipeline in use.
func (r *Reconciler) nextScheduleTick() time.Time {
	var next time.Time
	if r.st.set == nil {
		return next
	}
	for i := range r.st.set.Models {
		m := &r.st.set.Models[i]
		if m.Training == nil {
			continue
		}
		p := r.st.set.Pipeline(m.Namespace, m.Training.Pipeline)
		if p == nil || p.Schedule == "" {
			continue
		}
		sched, err := spec.ParseSchedule(p.Schedule)
		reg := r.st.registries[m.Name]
		if err != nil || reg == nil || reg.LastTick.IsZero() {
			continue
		}
		if n := sched.Next(reg.LastTick); !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
	}
	return next
}

func (r *Reconciler) resolve(ctx context.Context) (gitsource.Revision, error) {
	start := time.Now()
	rev, err := r.git.Resolve(ctx, r.opts.Ref)
	r.metrics.git("resolve", time.Since(start), err)
	return rev, err
}

// sync fetches, verifies, validates, renders, applies and prunes rev. It
// reports false when the revision was refused (untrusted or invalid).
func (r *Reconciler) sync(ctx context.Context, target gitsource.Revision, res *PassResult) (bool, error) {
	// 2. Fetch the commit.
	start := time.Now()
	snap, err := r.git.Fetch(ctx, target)
	r.metrics.git("fetch", time.Since(start), err)
	if err != nil {
		return false, err
	}
	res.Head = snap.Commit.Hash
	rev := &report.Revision{Ref: r.opts.Ref.String(), Commit: snap.Commit.Hash, Subject: snap.Commit.Subject, Time: snap.Commit.Time}
	changed, err := snap.ChangedPaths(r.st.snap, r.opts.Path)
	if err != nil {
		return false, err
	}
	keep := r.opts.Filter.And(render.IsSourceFile)

	// 2'. Refuse commits the verification policy does not trust.
	if r.opts.Verify.Active() {
		signer, err := snap.Verify(r.opts.Verify, prefixed(r.opts.Path, changed))
		var ve *gitsource.VerificationError
		if errors.As(err, &ve) {
			r.metrics.verificationFailed()
			res.Refused = ve.Error()
			r.st.seen, r.st.latest, r.st.errors = rev.Commit, rev, nil
			r.st.ready = report.ReadyCondition(report.ConditionFalse, ReasonVerificationFailed,
				fmt.Sprintf("%s; revision %s stays applied", ve.Error(), r.st.applied.Short()))
			return false, nil
		}
		if err != nil {
			return false, err
		}
		rev.Signer = signer
	}

	// A commit that changes no file mlsync reads changes nothing in the
	// cluster: it becomes the applied revision without a render.
	if r.st.snap != nil && r.st.applied != nil && r.st.errors == nil && !r.st.forceRender && !anyMatch(changed, keep) {
		r.st.seen, r.st.latest, r.st.applied, r.st.snap = rev.Commit, rev, rev, snap
		r.st.changes = nil
		r.metrics.appliedRevision(rev.Commit)
		r.ready.Store(true)
		return true, nil
	}

	// 3. Load and validate every spec, then render with overlays and
	// manifests.
	files, err := snap.Files(r.opts.Path, keep)
	if err != nil {
		return false, err
	}
	all := specFiles(files)
	set, err := r.loader.Load(all)
	var objs []*unstructured.Unstructured
	if err == nil {
		r.st.promOperator = r.servesPrometheusOperator(ctx)
		objs, err = render.Objects(set, render.Options{Revision: rev.Commit, Files: all, Rollouts: r.rollouts(ctx, set, r.now()),
			PrometheusOperator: r.st.promOperator})
	}
	var specErrs spec.Errors
	if errors.As(err, &specErrs) {
		res.SpecErrors = specErrs
		r.st.seen, r.st.latest, r.st.errors, r.st.snap = rev.Commit, rev, reportErrors(specErrs), snap
		r.st.ready = report.ReadyCondition(report.ConditionFalse, meta.BuildFailedReason,
			fmt.Sprintf("%d spec error(s) in %s; revision %s stays applied", len(specErrs), rev.Short(), r.st.applied.Short()))
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("loading %s: %w", rev.Short(), err)
	}

	// 4-5. Record the inventory, apply in stages, prune what was removed.
	cs, err := r.apply(ctx, objs, rev)
	res.Changes = cs
	r.events(ctx, cs, rev.Short())
	if err != nil {
		r.st.endedCanaries = nil // the next render decides again
		return false, err
	}
	r.removeCanaries(ctx)
	r.st.seen, r.st.latest, r.st.applied, r.st.errors, r.st.snap = rev.Commit, rev, rev, nil, snap
	r.st.set, r.st.objs, r.st.driftChecked = set, objs, r.now()
	r.st.forceRender = false
	r.st.changes = reportChanges(cs)
	r.st.drift = driftChanges(cs)
	r.st.objects = make([]kube.ObjectRef, 0, len(objs))
	r.st.objModel = map[string]string{}
	for _, o := range objs {
		ref := kube.RefOf(o)
		r.st.objects = append(r.st.objects, ref)
		r.st.objModel[ref.Key()] = o.GetLabels()[kube.ModelLabel]
	}
	r.metrics.appliedRevision(rev.Commit)
	r.ready.Store(true)
	return true, nil
}

// maxEvents bounds the Events one pass records, so a cold start of
// thousands of objects does not flood the cluster's event store.
const maxEvents = 100

// events records a Kubernetes Event for each object a pass changed or
// failed to change; unchanged objects get none.
func (r *Reconciler) events(ctx context.Context, cs kube.ChangeSet, rev string) {
	n := 0
	for _, c := range cs {
		typ, reason, msg := kube.EventNormal, "", ""
		switch {
		case c.Action == kube.ActionFailed:
			typ, reason, msg = kube.EventWarning, "ApplyFailed", "mlsync could not apply revision "+rev+": "+c.Reason
		case c.Action == kube.ActionDrifted:
			typ, reason, msg = kube.EventWarning, "Drifted", "changed outside Git; not corrected (drift policy report): "+c.Reason
		case c.Drift:
			typ, reason, msg = kube.EventWarning, "DriftCorrected", "mlsync put back what Git says at "+rev+": "+c.Reason
		case c.Action == kube.ActionCreated || c.Action == kube.ActionConfigured:
			reason, msg = "Applied", fmt.Sprintf("%s by mlsync from revision %s", c.Action, rev)
		case c.Action == kube.ActionPruned:
			reason, msg = "Pruned", "deleted by mlsync: no longer in revision "+rev
		default:
			continue
		}
		if n == maxEvents {
			r.log.Info("event limit reached for this pass", "limit", maxEvents)
			return
		}
		n++
		if err := r.cluster.Event(ctx, c.Object, typ, reason, msg); err != nil {
			r.log.Debug("recording event", "object", c.Object.String(), "error", err)
		}
	}
}

// ReasonVerificationFailed is the Ready reason when the newest commit's
// signature is missing or untrusted.
const ReasonVerificationFailed = "VerificationFailed"

func anyMatch(paths []string, keep func(string) bool) bool {
	for _, p := range paths {
		if keep(p) {
			return true
		}
	}
	return false
}

// prefixed turns paths relative to dir into repository paths.
func prefixed(dir string, paths []string) []string {
	dir = strings.Trim(path.Clean("/"+dir), "/")
	if dir == "" {
		return paths
	}
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = dir + "/" + p
	}
	return out
}

// apply writes the inventory of everything that may exist (old and new)
// before touching the cluster, applies, prunes, and then records the new
// inventory. An apply with failed objects prunes nothing.
func (r *Reconciler) apply(ctx context.Context, objs []*unstructured.Unstructured, rev *report.Revision) (kube.ChangeSet, error) {
	old, err := r.cluster.ReadInventory(ctx, r.opts.Name)
	if err != nil {
		return nil, err
	}
	refs := make([]kube.ObjectRef, len(objs))
	for i, o := range objs {
		refs[i] = kube.RefOf(o)
	}
	union := append(append([]kube.ObjectRef(nil), refs...), kube.Diff(old.Objects, refs)...)
	if len(kube.Diff(refs, old.Objects)) > 0 {
		// New objects: record them before they exist. (When every object
		// is already in the inventory, the stored one covers the union.)
		if err := r.cluster.WriteInventory(ctx, kube.Inventory{Name: r.opts.Name, Revision: old.Revision, Objects: union}); err != nil {
			return nil, err
		}
	}
	cs, err := r.cluster.Apply(ctx, objs, r.opts.Apply)
	if err != nil {
		return cs, err
	}
	if failed := cs.Failed(); len(failed) > 0 {
		return cs, fmt.Errorf("applying %s: %d object(s) failed, first: %s", rev.Short(), len(failed), failed[0])
	}
	keep := refs
	if r.opts.Prune {
		pruned, err := r.cluster.Prune(ctx, kube.Diff(old.Objects, refs))
		cs = append(cs, pruned...)
		if err != nil {
			return cs, err
		}
		if failed := pruned.Failed(); len(failed) > 0 {
			keep = union
			err = fmt.Errorf("pruning: %d object(s) failed, first: %s", len(failed), failed[0])
			if werr := r.cluster.WriteInventory(ctx, kube.Inventory{Name: r.opts.Name, Revision: rev.Commit, Objects: keep}); werr != nil {
				err = errors.Join(err, werr)
			}
			return cs, err
		}
	} else {
		keep = union
	}
	return cs, r.cluster.WriteInventory(ctx, kube.Inventory{Name: r.opts.Name, Revision: rev.Commit, Objects: keep})
}

// checkDrift re-applies the applied revision's objects: unchanged ones
// cost nothing (the watch cache and the apply records), changed ones are
// corrected or reported per the drift policy.
func (r *Reconciler) checkDrift(ctx context.Context, res *PassResult) error {
	r.driftRequested = false
	r.st.driftChecked = r.now()
	cs, err := r.cluster.Apply(ctx, r.st.objs, r.opts.Apply)
	res.Changes = cs
	if err != nil {
		return err
	}
	r.events(ctx, cs, r.st.applied.Short())
	res.Drift = cs.Drifted()
	if res.Drift > 0 || len(r.st.drift) > 0 {
		r.st.drift = driftChanges(cs)
	}
	if failed := cs.Failed(); len(failed) > 0 {
		return fmt.Errorf("drift check: %d object(s) failed, first: %s", len(failed), failed[0])
	}
	return nil
}

func (r *Reconciler) assessHealth(ctx context.Context) error {
	health, err := r.cluster.Health(ctx, r.st.objects)
	if err != nil {
		return err
	}
	r.st.health = health
	r.st.healthPending = false
	var first *kube.Health
	for i := range health {
		if health[i].Status != kube.StatusCurrent {
			r.st.healthPending = true
			if first == nil {
				first = &health[i]
			}
		}
	}
	switch {
	case len(r.st.errors) > 0:
		// The rejection stays the headline until a good revision lands.
	case first != nil && first.Status == kube.StatusFailed:
		r.st.ready = report.ReadyCondition(report.ConditionFalse, meta.HealthCheckFailedReason,
			fmt.Sprintf("%s failed: %s", first.Object, first.Message))
	case first != nil:
		r.st.ready = report.ReadyCondition(report.ConditionUnknown, meta.ProgressingReason,
			fmt.Sprintf("%s is %s: %s", first.Object, first.Status, first.Message))
	default:
		r.st.ready = report.ReadyCondition(report.ConditionTrue, meta.ReconciliationSucceededReason,
			fmt.Sprintf("applied revision %s; all %d objects healthy", r.st.applied.Short(), len(health)))
	}
	return nil
}

// publish commits the status files when they differ from what was last
// pushed. A failed push is kept pending and retried by the next pass.
func (r *Reconciler) publish(ctx context.Context, res *PassResult) error {
	if !r.st.registriesLoaded {
		// Also the status published before a restart, for the subject.
		if err := r.loadRegistries(ctx); err != nil {
			r.log.Debug("reading the status branch", "error", err)
		}
	}
	st := r.status()
	files, err := st.Files()
	if err != nil {
		return err
	}
	extra, err := r.trainingFiles()
	if err != nil {
		return err
	}
	if len(extra) == 0 && maps.EqualFunc(files, r.st.published, func(a, b []byte) bool { return string(a) == string(b) }) {
		r.st.publishPending = false
		return nil
	}
	statusFiles := files
	files = maps.Clone(files)
	maps.Copy(files, extra)
	start := time.Now()
	out, err := r.git.Commit(ctx, gitsource.CommitRequest{
		Branch:  r.opts.StatusBranch,
		Files:   files,
		Message: report.CommitMessage(r.st.prev, st),
		Author:  r.opts.Author,
	})
	r.metrics.git("push", time.Since(start), err)
	if err != nil {
		r.st.publishPending = true
		return fmt.Errorf("publishing status: %w", err)
	}
	r.st.published, r.st.prev, r.st.publishPending = statusFiles, st, false
	clear(r.st.extra)
	clear(r.st.dirtyRegistries)
	r.st.newVersions = nil
	if out.Changed {
		res.StatusCommit = out.Commit
	}
	return nil
}

// status assembles the report of the current state.
func (r *Reconciler) status() *report.Status {
	st := &report.Status{
		Source:     report.Source{URL: r.git.URL(), Ref: r.opts.Ref.String(), Path: r.opts.Path},
		Applied:    r.st.applied,
		Latest:     r.st.latest,
		Ready:      r.st.ready,
		Errors:     r.st.errors,
		Changes:    r.st.changes,
		Drift:      r.st.drift,
		Runs:       r.runSummaries(),
		Promotions: r.promotionList(),
		Canaries:   r.canaryList(),
		ModelDrift: r.driftSummaries(),
		Monitoring: r.monitoringNote(),
		Models:     []report.Model{},
	}
	if st.Ready.Type == "" {
		st.Ready = report.ReadyCondition(report.ConditionUnknown, meta.ProgressingReason, "reconciling")
	}
	if r.st.set == nil {
		return st
	}
	byModel := map[string][]kube.Health{}
	for _, h := range r.st.health {
		if m := r.st.objModel[h.Object.Key()]; m != "" {
			byModel[m] = append(byModel[m], h)
		}
	}
	for i := range r.st.set.Models {
		st.Models = append(st.Models, modelStatus(&r.st.set.Models[i], byModel[r.st.set.Models[i].Name]))
	}
	return st
}

// monitoringNote says how served models are monitored.
func (r *Reconciler) monitoringNote() string {
	if r.st.set == nil {
		return ""
	}
	if r.st.promOperator {
		return "ServiceMonitor and PrometheusRule objects with serving (Prometheus Operator)"
	}
	return "scrape annotations on the model-server pods (the Prometheus Operator's CRDs are not installed)"
}

// promotionList is the latest promotion per model and stage, marked
// applied once the stage pins the version.
func (r *Reconciler) promotionList() []report.Promotion {
	var out []report.Promotion
	for _, p := range r.st.promotions {
		if m := r.modelOf(p.Model); m != nil {
			for _, s := range m.Stages {
				if s.Name == p.Stage && s.Version == p.Version {
					p.State, p.Error = "applied", ""
				}
			}
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Model != out[j].Model {
			return out[i].Model < out[j].Model
		}
		return out[i].Stage < out[j].Stage
	})
	return out
}

// modelStatus summarises a model's objects, per place it is served.
func modelStatus(m *spec.Model, health []kube.Health) report.Model {
	rm := report.Model{Name: m.Name, Namespace: m.Namespace, Owner: m.Owner, Runtime: m.Serving.Runtime,
		Health: string(kube.StatusCurrent), Objects: []report.Object{}}
	replicas := fmt.Sprint(m.Serving.Replicas.Min)
	if m.Serving.Replicas.Max > m.Serving.Replicas.Min {
		replicas = fmt.Sprintf("%d-%d", m.Serving.Replicas.Min, m.Serving.Replicas.Max)
	}
	places := []report.Serving{{Namespace: m.Namespace}}
	if len(m.Stages) > 0 {
		places = places[:0]
		for _, s := range m.Stages {
			places = append(places, report.Serving{Stage: s.Name, Namespace: s.Namespace, Version: s.Version, Promotion: s.Promotion})
		}
	}
	for i := range places {
		p := &places[i]
		p.Replicas, p.Health = replicas, string(kube.StatusCurrent)
		if p.Stage != "" && p.Version == "" {
			p.Replicas, p.Health = "0", "NotServed"
		}
	}
	for _, h := range health {
		rm.Objects = append(rm.Objects, report.Object{Ref: h.Object.String(), Health: string(h.Status), Message: h.Message})
		if h.Status == kube.StatusCurrent {
			continue
		}
		if rm.Health == string(kube.StatusCurrent) {
			rm.Health, rm.Message = string(h.Status), h.Object.Kind+": "+h.Message
		}
		for i := range places {
			if p := &places[i]; p.Namespace == h.Object.Namespace && p.Health == string(kube.StatusCurrent) {
				p.Health, p.Message = string(h.Status), h.Object.Kind+": "+h.Message
			}
		}
	}
	rm.Serving = places
	return rm
}

func specFiles(files []gitsource.File) []spec.File {
	out := make([]spec.File, len(files))
	for i, f := range files {
		out[i] = spec.File{Path: f.Path, Data: f.Data}
	}
	return out
}

func reportErrors(errs spec.Errors) []report.SpecError {
	out := make([]report.SpecError, len(errs))
	for i, e := range errs {
		out[i] = report.SpecError{File: e.Pos.File, Line: e.Pos.Line, Column: e.Pos.Column, Path: e.Path, Message: e.Msg}
	}
	return out
}

// driftChanges lists the objects found changed outside mlsync.
func driftChanges(cs kube.ChangeSet) []report.Change {
	var out []report.Change
	for _, c := range cs {
		if c.Drift || c.Action == kube.ActionDrifted {
			out = append(out, report.Change{Ref: c.Object.String(), Action: string(c.Action), Reason: c.Reason})
		}
	}
	return out
}

func reportChanges(cs kube.ChangeSet) []report.Change {
	out := make([]report.Change, 0, len(cs))
	for _, c := range cs {
		if c.Action == kube.ActionUnchanged {
			continue
		}
		out = append(out, report.Change{Ref: c.Object.String(), Action: string(c.Action), Reason: c.Reason})
	}
	return out
}
