package reconciler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlsync/mlsync/kube"
	"github.com/mlsync/mlsync/reconciler/registry"
	"github.com/mlsync/mlsync/reconciler/report"
	"github.com/mlsync/mlsync/reconciler/training"
	"github.com/mlsync/mlsync/spec"
)

// runState is one model's current training run.
type runState struct {
	run      *training.Run
	phase    training.Phase
	steps    []training.StepStatus
	started  time.Time
	finished time.Time
	message  string
	version  string
	gate     *registry.Verdict
	metrics  map[string]float64
	// done: the outcome is recorded (registry, report); nothing more to do.
	done bool
}

// advanceRuns plans each model's training run for the applied revision,
// supersedes runs whose inputs changed, starts the steps that are due,
// reads the ones that finished, and records finished runs in the
// registry. It reports whether any run is still active.
func (r *Reconciler) advanceRuns(ctx context.Context, now time.Time) (bool, error) {
	if r.st.set == nil {
		return false, nil
	}
	if err := r.loadRegistries(ctx); err != nil {
		return false, err
	}
	active := false
	var errs []error
	for i := range r.st.set.Models {
		m := &r.st.set.Models[i]
		if m.Training == nil {
			continue
		}
		p := r.st.set.Pipeline(m.Namespace, m.Training.Pipeline)
		if p == nil {
			continue // the loader reports dangling references
		}
		busy, err := r.advanceModel(ctx, m, p, now)
		active = active || busy
		if err != nil {
			errs = append(errs, fmt.Errorf("training %s: %w", m.Name, err))
		}
	}
	return active, errors.Join(errs...)
}

func (r *Reconciler) advanceModel(ctx context.Context, m *spec.Model, p *spec.Pipeline, now time.Time) (bool, error) {
	reg := r.registry(m.Name)
	cur := r.st.runs[m.Name]
	opts := training.PlanOptions{Revision: r.st.applied.Commit}
	if cur != nil && cur.run.Trigger != training.TriggerCommit && sameInputs(cur.run, m, p) {
		// A scheduled or drift-triggered run keeps its identity until the
		// spec changes.
		opts.Trigger, opts.Tick = cur.run.Trigger, r.st.ticks[m.Name]
	}
	if tick, due := r.tickDue(m, p, reg, now); due && (cur == nil || cur.done) {
		opts.Trigger, opts.Tick = training.TriggerSchedule, tick
		reg.LastTick = tick
		r.st.ticks[m.Name] = tick
		r.markRegistry(m.Name)
	}
	if r.st.retrain[m.Name] != "" && (cur == nil || cur.done) {
		opts.Trigger, opts.Tick = r.st.retrain[m.Name], now
		r.st.ticks[m.Name] = now
		delete(r.st.retrain, m.Name)
	}
	run, err := training.Plan(m, p, opts)
	if err != nil {
		return false, err
	}
	if cur != nil && cur.run.ID != run.ID && !cur.done {
		if err := r.supersede(ctx, cur, run.ID); err != nil {
			return true, err
		}
		cur = nil
	}
	if cur == nil || cur.run.ID != run.ID {
		if v := reg.ByRun(run.ID); v != nil {
			// Already trained: this run produced a version.
			r.st.runs[m.Name] = &runState{run: run, phase: training.PhaseSucceeded, done: true, version: v.Version}
			return false, nil
		}
		cur = &runState{run: run, phase: training.PhasePending}
		r.st.runs[m.Name] = cur
	}
	if cur.done {
		return false, nil
	}
	return r.step(ctx, m, cur, reg, now)
}

// step observes, schedules and starts one run's steps.
func (r *Reconciler) step(ctx context.Context, m *spec.Model, cur *runState, reg *registry.Registry, now time.Time) (bool, error) {
	observed, err := r.observe(ctx, cur)
	if err != nil {
		return true, err
	}
	cache := map[string]training.StepStatus{}
	for key, s := range reg.Steps {
		cache[key] = training.StepStatus{Phase: training.PhaseSucceeded, Key: key, Metrics: s.Metrics, Finished: s.Finished}
	}
	d := training.Schedule(cur.run, observed, cache)
	cur.steps, cur.phase = d.Steps, d.Phase
	if cur.started.IsZero() {
		cur.started = now
	}
	for i, s := range d.Steps {
		st := cur.run.Steps[i]
		if s.Phase == training.PhaseSucceeded && !s.Cached {
			if _, known := reg.Steps[st.Key]; !known {
				reg.RememberStep(st.Key, registry.Step{Run: cur.run.ID, Name: st.Name, Metrics: s.Metrics,
					Outputs: st.Outputs, Finished: s.Finished})
				r.markRegistry(m.Name)
			}
		}
	}
	if len(d.Start) > 0 {
		if err := r.startSteps(ctx, cur, d.Start); err != nil {
			cur.phase, cur.message = training.PhaseFailed, err.Error()
			r.finishRun(m, cur, reg, now)
			return false, nil
		}
	}
	switch d.Phase {
	case training.PhaseSucceeded, training.PhaseFailed:
		if d.Phase == training.PhaseFailed {
			cur.message = fmt.Sprintf("step %s failed", d.Failed)
			for i, s := range d.Steps {
				if cur.run.Steps[i].Name == d.Failed && s.Message != "" {
					cur.message += ": " + s.Message
				}
			}
		}
		r.finishRun(m, cur, reg, now)
		return false, nil
	}
	r.writeRunReport(m, cur)
	return true, nil
}

// startSteps applies the Jobs of the given steps. A kind the cluster does
// not serve (a PyTorchJob without the Kubeflow training operator) fails
// the run before anything of it is applied.
func (r *Reconciler) startSteps(ctx context.Context, cur *runState, idx []int) error {
	objs := make([]*unstructured.Unstructured, 0, len(idx))
	for _, i := range idx {
		objs = append(objs, training.Job(cur.run, cur.run.Steps[i]))
	}
	for _, o := range objs {
		if _, err := r.cluster.Get(ctx, kube.RefOf(o)); err != nil {
			var uk *kube.UnknownKindError
			if errors.As(err, &uk) {
				return fmt.Errorf("step %s needs %s, which this cluster does not serve (install the Kubeflow training operator for backend pytorchjob); nothing of the run was applied",
					o.GetLabels()[training.StepLabel], uk.Ref.GroupVersionKind().GroupKind())
			}
			return err
		}
	}
	cs, err := r.cluster.Apply(ctx, objs, r.opts.Apply)
	if err != nil {
		return err
	}
	if failed := cs.Failed(); len(failed) > 0 {
		return fmt.Errorf("starting step Jobs: %s", failed[0])
	}
	for _, i := range idx {
		cur.steps[i].Phase, cur.steps[i].Job = training.PhaseRunning, training.JobName(cur.run, cur.run.Steps[i])
	}
	cur.phase = training.PhaseRunning
	return nil
}

// observe reads each step's Job: running, succeeded (with its metrics
// read from the pod's termination message) or failed.
func (r *Reconciler) observe(ctx context.Context, cur *runState) (map[string]training.StepStatus, error) {
	out := map[string]training.StepStatus{}
	for i, st := range cur.run.Steps {
		if i < len(cur.steps) && (cur.steps[i].Phase == training.PhaseSucceeded || cur.steps[i].Phase == training.PhaseFailed) &&
			!cur.steps[i].Cached {
			out[st.Name] = cur.steps[i] // final: no need to look again
			continue
		}
		job := training.Job(cur.run, st)
		live, err := r.cluster.Get(ctx, kube.RefOf(job))
		var uk *kube.UnknownKindError
		if errors.As(err, &uk) {
			continue // not started (and cannot be): startSteps says so
		}
		if err != nil {
			return nil, err
		}
		if live == nil {
			continue
		}
		s := jobStatus(live, st.Key)
		if s.Phase == training.PhaseSucceeded && st.Spec.ReportsMetrics {
			metrics, err := r.readMetrics(ctx, live, st)
			if err != nil {
				s.Phase, s.Message = training.PhaseFailed, err.Error()
			}
			s.Metrics = metrics
		}
		out[st.Name] = s
		if !s.Started.IsZero() && !s.Finished.IsZero() {
			r.metrics.stepDuration(cur.run.Model, st.Name, s.Finished.Sub(s.Started))
		}
	}
	return out, nil
}

// jobStatus maps a Job's (or PyTorchJob's) status to a step status.
func jobStatus(job *unstructured.Unstructured, key string) training.StepStatus {
	s := training.StepStatus{Job: job.GetName(), Key: key, Phase: training.PhaseRunning}
	h := kube.Compute(job)
	switch h.Status {
	case kube.StatusCurrent:
		s.Phase = training.PhaseSucceeded
	case kube.StatusFailed:
		s.Phase, s.Message = training.PhaseFailed, h.Message
	}
	s.Started = timeField(job, "status", "startTime")
	s.Finished = timeField(job, "status", "completionTime")
	if s.Finished.IsZero() && s.Phase != training.PhaseRunning {
		s.Finished = conditionTime(job)
	}
	failed, _, _ := unstructured.NestedInt64(job.Object, "status", "failed")
	succeeded, _, _ := unstructured.NestedInt64(job.Object, "status", "succeeded")
	s.Attempts = int(failed + succeeded)
	return s
}

func timeField(obj *unstructured.Unstructured, fields ...string) time.Time {
	v, _, _ := unstructured.NestedString(obj.Object, fields...)
	t, _ := time.Parse(time.RFC3339, v)
	return t
}

func conditionTime(obj *unstructured.Unstructured) time.Time {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	var latest time.Time
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if s, _ := m["status"].(string); s != "True" {
			continue
		}
		v, _ := m["lastTransitionTime"].(string)
		if t, err := time.Parse(time.RFC3339, v); err == nil && t.After(latest) {
			latest = t
		}
	}
	return latest
}

// readMetrics reads the metrics a succeeded step wrote to its termination
// message.
func (r *Reconciler) readMetrics(ctx context.Context, job *unstructured.Unstructured, st training.Step) (map[string]float64, error) {
	selector := "job-name=" + job.GetName()
	container := "step"
	if job.GetKind() == "PyTorchJob" {
		selector = "training.kubeflow.org/job-name=" + job.GetName() + ",training.kubeflow.org/replica-type=master"
		container = "pytorch"
	}
	pods, err := r.cluster.List(ctx, kube.ObjectRef{Version: "v1", Kind: "Pod", Namespace: job.GetNamespace()}, selector)
	if err != nil {
		return nil, err
	}
	for _, pod := range pods {
		if phase, _, _ := unstructured.NestedString(pod.Object, "status", "phase"); phase != "Succeeded" {
			continue
		}
		statuses, _, _ := unstructured.NestedSlice(pod.Object, "status", "containerStatuses")
		for _, cs := range statuses {
			c, _ := cs.(map[string]any)
			if c["name"] != container {
				continue
			}
			msg, _, _ := unstructured.NestedString(c, "state", "terminated", "message")
			metrics, err := training.ParseMetrics(strings.TrimSpace(msg))
			if err != nil {
				return nil, fmt.Errorf("step %s reported bad metrics: %v", st.Name, err)
			}
			return metrics, nil
		}
	}
	return nil, fmt.Errorf("step %s succeeded but no succeeded pod with a termination message was found", st.Name)
}

// supersede stops an older run whose inputs changed: its Jobs are deleted
// and it is reported as superseded.
func (r *Reconciler) supersede(ctx context.Context, cur *runState, by string) error {
	var refs []kube.ObjectRef
	for i, st := range cur.run.Steps {
		if i < len(cur.steps) && cur.steps[i].Phase == training.PhaseRunning {
			refs = append(refs, kube.RefOf(training.Job(cur.run, st)))
			cur.steps[i].Phase = training.PhaseSuperseded
		}
	}
	if _, err := r.cluster.Prune(ctx, refs); err != nil {
		return err
	}
	cur.phase, cur.done, cur.message = training.PhaseSuperseded, true, "superseded by run "+by
	cur.finished = time.Now()
	r.writeRunReport(r.modelOf(cur.run.Model), cur)
	r.metrics.run(cur.run.Model, string(training.PhaseSuperseded))
	return nil
}

// finishRun records a finished run: a succeeded one becomes a version,
// with the gate's verdict.
func (r *Reconciler) finishRun(m *spec.Model, cur *runState, reg *registry.Registry, now time.Time) {
	cur.done, cur.finished = true, now
	cur.metrics = map[string]float64{}
	for _, s := range cur.steps {
		for k, v := range s.Metrics {
			cur.metrics[k] = v
		}
	}
	if cur.phase == training.PhaseSucceeded {
		images := []string{}
		for _, st := range cur.run.Steps {
			images = append(images, st.Spec.Image)
		}
		gate := registry.Evaluate(m.Evaluation, cur.metrics, reg.Champion(m))
		v := reg.Add(registry.Version{Run: cur.run.ID, Trigger: cur.run.Trigger, Metrics: cur.metrics,
			SpecRevision: cur.run.Revision, DataSource: cur.run.Data.Source, DataVersion: cur.run.Data.Version,
			Images: dedupe(images), Started: cur.started, Finished: now, Gate: gate})
		cur.version, cur.gate = v.Version, &gate
		r.markRegistry(m.Name)
		r.st.newVersions = append(r.st.newVersions, newVersion{model: m.Name, version: v.Version})
	}
	for _, s := range cur.steps {
		if s.Cached {
			r.metrics.cacheHit(m.Name)
		}
	}
	r.writeRunReport(m, cur)
	r.metrics.run(m.Name, string(cur.phase))
}

func (r *Reconciler) writeRunReport(m *spec.Model, cur *runState) {
	if m == nil {
		return
	}
	rep := &report.RunReport{Model: m.Name, Run: cur.run.ID, Phase: string(cur.phase), Trigger: cur.run.Trigger,
		Revision: cur.run.Revision, DataSource: cur.run.Data.Source, DataVersion: cur.run.Data.Version,
		Version: cur.version, Started: cur.started, Finished: cur.finished, Metrics: cur.metrics, Message: cur.message}
	for i, st := range cur.run.Steps {
		s := training.StepStatus{Phase: training.PhasePending}
		if i < len(cur.steps) {
			s = cur.steps[i]
		}
		rep.Steps = append(rep.Steps, report.RunStep{Name: st.Name, Key: st.Key, Phase: string(s.Phase), Cached: s.Cached,
			Job: s.Job, Started: s.Started, Finished: s.Finished, Metrics: s.Metrics, Message: s.Message})
	}
	if cur.gate != nil {
		rep.Gate = &report.Gate{Passed: cur.gate.Passed, Reasons: cur.gate.Reasons, Champion: cur.gate.Champion, Deltas: cur.gate.Deltas}
	}
	files, err := rep.Files()
	if err != nil {
		r.log.Error("rendering run report", "run", cur.run.ID, "error", err)
		return
	}
	for p, data := range files {
		r.st.extra[p] = data
	}
}

func (r *Reconciler) modelOf(name string) *spec.Model {
	if r.st.set == nil {
		return nil
	}
	for i := range r.st.set.Models {
		if r.st.set.Models[i].Name == name {
			return &r.st.set.Models[i]
		}
	}
	return nil
}

// sameInputs reports whether a run was planned from m and p as they are
// (the spec-dependent part of its keys), ignoring the tick.
func sameInputs(run *training.Run, m *spec.Model, p *spec.Pipeline) bool {
	fresh, err := training.Plan(m, p, training.PlanOptions{Revision: run.Revision, Trigger: run.Trigger})
	if err != nil || len(fresh.Steps) != len(run.Steps) {
		return false
	}
	for i := range fresh.Steps {
		if fresh.Steps[i].Name != run.Steps[i].Name || fresh.Steps[i].Spec.Image != run.Steps[i].Spec.Image {
			return false
		}
	}
	return fresh.Data == run.Data
}

// tickDue reports the latest schedule tick not yet run, if one is due.
func (r *Reconciler) tickDue(m *spec.Model, p *spec.Pipeline, reg *registry.Registry, now time.Time) (time.Time, bool) {
	if p.Schedule == "" {
		return time.Time{}, false
	}
	sched, err := spec.ParseSchedule(p.Schedule)
	if err != nil {
		return time.Time{}, false
	}
	last := reg.LastTick
	if last.IsZero() {
		// First sight of the schedule: start counting from now.
		reg.LastTick = now
		r.markRegistry(m.Name)
		return time.Time{}, false
	}
	next := sched.Next(last)
	if next.IsZero() || next.After(now) {
		return time.Time{}, false
	}
	// Several ticks missed (daemon down): run once, for the latest.
	for {
		n := sched.Next(next)
		if n.IsZero() || n.After(now) {
			return next, true
		}
		next = n
	}
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
