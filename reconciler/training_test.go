package reconciler_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/mlsync/mlsync/reconciler"
	"github.com/mlsync/mlsync/reconciler/registry"
	"github.com/mlsync/mlsync/reconciler/training"
)

var (
	jobs = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}
	pods = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
)

const pipelineSpec = `kind: "Pipeline"
name: "tabular"
namespace: %q
params: lr: {type: "float", default: 0.1}
artifacts: uri: "s3://artifacts"
%s
steps: [{
	name: "prep", image: "prep:1", args: ["--out", "$(outputs.features)"], outputs: ["features"]
}, {
	name: "train", image: %q, args: ["--lr", "$(params.lr)", "--in", "$(inputs.features)", "--out", "$(outputs.model)"]
	dependsOn: ["prep"], inputs: ["features"], outputs: ["model"], retries: 1, backend: %q
}, {
	name: "evaluate", image: "eval:1", args: ["$(inputs.model)"]
	dependsOn: ["train"], inputs: ["model"], reportsMetrics: true, metrics: ["auc"]
}]
`

const trainedModel = `kind: "Model"
name: "fraud"
namespace: %q
training: {pipeline: "tabular", data: {source: "s3://data/tx", version: "2026-11-30"}}
evaluation: {primaryMetric: "auc", thresholds: auc: min: 0.9}
serving: image: "ghcr.io/example/fraud-server:1.0"
`

type trainingFixture struct {
	*fixture
	clock time.Time
}

func newTrainingFixture(t *testing.T, trainImage, backend, schedule string) *trainingFixture {
	t.Helper()
	tf := &trainingFixture{clock: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}
	f := newFixture(t, func(o *reconciler.Options) { o.Clock = func() time.Time { return tf.clock } })
	tf.fixture = f
	f.push("pipelines/tabular.cue", fmt.Sprintf(pipelineSpec, f.ns, schedule, trainImage, backend), "Add the pipeline")
	f.push("models/fraud.cue", fmt.Sprintf(trainedModel, f.ns), "Train fraud")
	return tf
}

// job returns the Job of a step, or nil.
func (f *fixture) job(step string) *unstructured.Unstructured {
	f.t.Helper()
	list, err := f.client.Resource(jobs).Namespace(f.ns).List(f.t.Context(), metav1.ListOptions{LabelSelector: training.StepLabel + "=" + step})
	if err != nil {
		f.t.Fatal(err)
	}
	var newest *unstructured.Unstructured
	for i := range list.Items {
		if j := &list.Items[i]; newest == nil || j.GetCreationTimestamp().After(newest.GetCreationTimestamp().Time) ||
			j.GetResourceVersion() > newest.GetResourceVersion() {
			newest = j
		}
	}
	return newest
}

func (f *fixture) jobCount() int {
	f.t.Helper()
	list, err := f.client.Resource(jobs).Namespace(f.ns).List(f.t.Context(), metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return len(list.Items)
}

// finish plays the job controller and kubelet: it creates the Job's pod
// with a terminated container (and message), then marks the Job
// succeeded or failed.
func (f *fixture) finish(job *unstructured.Unstructured, ok bool, message string) {
	f.t.Helper()
	ctx := f.t.Context()
	now := time.Now().UTC().Format(time.RFC3339)
	exit, phase, reason := int64(0), "Succeeded", "Completed"
	if !ok {
		exit, phase, reason = 1, "Failed", "Error"
	}
	pod := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": job.GetName() + "-pod", "namespace": f.ns,
			"labels": map[string]any{"job-name": job.GetName(), "batch.kubernetes.io/job-name": job.GetName()}},
		"spec": map[string]any{"restartPolicy": "Never", "containers": []any{map[string]any{"name": "step", "image": "x"}}},
	}}
	created, err := f.client.Resource(pods).Namespace(f.ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	_ = unstructured.SetNestedField(created.Object, phase, "status", "phase")
	_ = unstructured.SetNestedSlice(created.Object, []any{map[string]any{
		"name": "step", "image": "x", "imageID": "", "ready": false, "restartCount": int64(0),
		"state": map[string]any{"terminated": map[string]any{"exitCode": exit, "reason": reason, "message": message,
			"startedAt": now, "finishedAt": now}},
	}}, "status", "containerStatuses")
	if _, err := f.client.Resource(pods).Namespace(f.ns).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		f.t.Fatal(err)
	}
	live, err := f.client.Resource(jobs).Namespace(f.ns).Get(ctx, job.GetName(), metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	cond := func(typ, reason string) map[string]any {
		return map[string]any{"type": typ, "status": "True", "reason": reason, "message": reason,
			"lastProbeTime": now, "lastTransitionTime": now}
	}
	status := map[string]any{"startTime": now}
	if ok {
		status["succeeded"] = int64(1)
		status["completionTime"] = now
		status["conditions"] = []any{cond("SuccessCriteriaMet", "CompletionsReached"), cond("Complete", "CompletionsReached")}
	} else {
		status["failed"] = int64(1)
		status["conditions"] = []any{cond("FailureTarget", "BackoffLimitExceeded"), cond("Failed", "BackoffLimitExceeded")}
	}
	live.Object["status"] = status
	if _, err := f.client.Resource(jobs).Namespace(f.ns).UpdateStatus(ctx, live, metav1.UpdateOptions{}); err != nil {
		f.t.Fatalf("updating Job status: %v", err)
	}
	time.Sleep(200 * time.Millisecond) // let the watch deliver it
}

func (f *fixture) registry() *registry.Registry {
	f.t.Helper()
	_, data := f.statusCommit(registry.Path("fraud"))
	reg, err := registry.Decode("fraud", []byte(data))
	if err != nil {
		f.t.Fatal(err)
	}
	return reg
}

// TestTrainingRun walks a run through its DAG, then checks caching, the
// registry and the run report on the status branch.
func TestTrainingRun(t *testing.T) {
	f := newTrainingFixture(t, "train:1", "job", "")
	f.pass()
	prep := f.job("prep")
	if prep == nil || f.jobCount() != 1 {
		t.Fatalf("first pass: want only prep's Job, have %d Jobs", f.jobCount())
	}
	if msg, _ := f.statusCommit("status/status.json"); !strings.Contains(msg, "train(fraud): run fraud-") || !strings.Contains(msg, "started (commit)") {
		t.Errorf("status commit does not announce the run:\n%s", msg)
	}
	f.pass()
	if f.jobCount() != 1 {
		t.Fatalf("train started before prep finished")
	}
	f.finish(prep, true, "")
	f.pass()
	train := f.job("train")
	if train == nil {
		t.Fatal("train not started after prep succeeded")
	}
	args, _, _ := unstructured.NestedSlice(train.Object, "spec", "template", "spec", "containers")
	js, _ := json.Marshal(args)
	if !strings.Contains(string(js), `"--lr","0.1"`) || !strings.Contains(string(js), `s3://artifacts/fraud/`) {
		t.Errorf("train's container lacks substituted params or artifacts: %s", js)
	}
	if bl, _, _ := unstructured.NestedInt64(train.Object, "spec", "backoffLimit"); bl != 1 {
		t.Errorf("backoffLimit = %d, want retries 1", bl)
	}
	f.finish(train, true, "")
	f.pass()
	eval := f.job("evaluate")
	if eval == nil {
		t.Fatal("evaluate not started")
	}
	f.finish(eval, true, `{"auc": 0.95, "precision": 0.88}`)
	f.pass()

	reg := f.registry()
	if len(reg.Versions) != 1 || reg.Versions[0].Version != "v1" || reg.Versions[0].Metrics["auc"] != 0.95 || !reg.Versions[0].Gate.Passed {
		t.Fatalf("registry after the run: %+v", reg.Versions)
	}
	v1 := reg.Versions[0]
	_, md := f.statusCommit("reports/fraud/runs/" + v1.Run + ".md")
	if !strings.Contains(md, "produced version **v1**") || !strings.Contains(md, "| auc | 0.95 |") {
		t.Errorf("run report:\n%s", md)
	}
	if msg, _ := f.statusCommit("status/status.json"); !strings.Contains(msg, "train(fraud): v1 from run "+v1.Run+" passed its gate") {
		t.Errorf("status commit does not announce v1:\n%s", msg)
	}

	// An unrelated commit creates no Job.
	before := f.jobCount()
	f.push("README.md", "docs\n", "Docs")
	f.pass()
	if f.jobCount() != before {
		t.Errorf("a commit that changes no training input created Jobs")
	}

	// Changing train's image reruns train and evaluate, not prep.
	f.push("pipelines/tabular.cue", fmt.Sprintf(pipelineSpec, f.ns, "", "train:2", "job"), "New trainer")
	f.pass()
	if got := f.job("prep"); got.GetName() != prep.GetName() {
		t.Errorf("prep reran: %s", got.GetName())
	}
	train2 := f.job("train")
	if train2.GetName() == train.GetName() {
		t.Fatalf("train did not rerun with the new image")
	}
	// Fail it: the run fails and evaluate never starts.
	f.finish(train2, false, "")
	f.pass()
	if e := f.job("evaluate"); e.GetName() != eval.GetName() {
		t.Errorf("evaluate started after train failed: %s", e.GetName())
	}
	if msg, _ := f.statusCommit("status/status.json"); !strings.Contains(msg, "failed: step train failed") {
		t.Errorf("status commit does not report the failure:\n%s", msg)
	}
	if reg := f.registry(); len(reg.Versions) != 1 {
		t.Errorf("a failed run added a version: %+v", reg.Versions)
	}
}

// TestSupersededAndBadMetrics: a commit that changes a running run's
// inputs stops it; a step whose metrics are not numbers fails its run.
func TestSupersededAndBadMetrics(t *testing.T) {
	f := newTrainingFixture(t, "train:1", "job", "")
	f.pass()
	f.finish(f.job("prep"), true, "")
	f.pass()
	old := f.job("train")
	f.push("models/fraud.cue", strings.Replace(fmt.Sprintf(trainedModel, f.ns), "2026-11-30", "2026-12-01", 1), "New data")
	f.pass()
	if _, err := f.client.Resource(jobs).Namespace(f.ns).Get(t.Context(), old.GetName(), metav1.GetOptions{}); err == nil {
		// Deletion is asynchronous for the pods; the Job itself goes at once
		// without a garbage collector only if nothing holds it.
		if j, _ := f.client.Resource(jobs).Namespace(f.ns).Get(t.Context(), old.GetName(), metav1.GetOptions{}); j != nil && j.GetDeletionTimestamp() == nil {
			t.Errorf("the superseded run's Job %s was not deleted", old.GetName())
		}
	}
	oldRun := old.GetLabels()[training.RunLabel]
	_, md := f.statusCommit("reports/fraud/runs/" + oldRun + ".md")
	if !strings.Contains(md, "Superseded") {
		t.Errorf("superseded run not reported:\n%s", md)
	}
	// The new run starts from prep (new data version).
	prep := f.job("prep")
	f.finish(prep, true, "")
	f.pass()
	f.finish(f.job("train"), true, "")
	f.pass()
	f.finish(f.job("evaluate"), true, `{"auc": "high"}`)
	f.pass()
	if msg, _ := f.statusCommit("status/status.json"); !strings.Contains(msg, "reported bad metrics") || !strings.Contains(msg, "must be a number") {
		t.Errorf("bad metrics not reported:\n%s", msg)
	}
}

// TestPyTorchJobWithoutCRD: a pytorchjob step in a cluster without the
// Kubeflow training operator fails the run clearly; nothing is applied.
func TestPyTorchJobWithoutCRD(t *testing.T) {
	f := newTrainingFixture(t, "ddp:1", "pytorchjob", "")
	f.pass()
	f.finish(f.job("prep"), true, "")
	f.pass()
	msg, _ := f.statusCommit("status/status.json")
	if !strings.Contains(msg, "does not serve") || !strings.Contains(msg, "PyTorchJob") {
		t.Errorf("missing CRD not reported:\n%s", msg)
	}
	if f.jobCount() != 1 {
		t.Errorf("%d Jobs, want only prep's", f.jobCount())
	}
}

// TestScheduleTicks: a scheduled pipeline runs at each tick without a
// commit, even though nothing changed.
func TestScheduleTicks(t *testing.T) {
	f := newTrainingFixture(t, "train:1", "job", `schedule: "0 2 * * *"`)
	// Complete the commit-triggered run.
	f.pass()
	for _, step := range []string{"prep", "train", "evaluate"} {
		msg := ""
		if step == "evaluate" {
			msg = `{"auc": 0.93}`
		}
		f.finish(f.job(step), true, msg)
		f.pass()
	}
	if n := len(f.registry().Versions); n != 1 {
		t.Fatalf("%d versions after the first run", n)
	}
	jobsBefore := f.jobCount()
	f.pass()
	if f.jobCount() != jobsBefore {
		t.Fatalf("a pass before the tick started a run")
	}
	// 02:00 the next day: a scheduled run starts, every step anew.
	f.clock = f.clock.Add(17 * time.Hour)
	f.pass()
	if f.jobCount() != jobsBefore+1 {
		t.Fatalf("the tick did not start a run (Jobs %d -> %d)", jobsBefore, f.jobCount())
	}
	if msg, _ := f.statusCommit("status/status.json"); !strings.Contains(msg, "started (schedule)") {
		t.Errorf("scheduled run not announced:\n%s", msg)
	}
}
