package training_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mlsync/mlsync/reconciler/training"
	"github.com/mlsync/mlsync/spec"
)

// load validates specs written in CUE and returns the model and pipeline.
func load(t testing.TB, pipeline, model string) (*spec.Model, *spec.Pipeline) {
	t.Helper()
	l, err := spec.NewLoader(spec.DefaultLoaderOptions())
	if err != nil {
		t.Fatal(err)
	}
	set, err := l.Load([]spec.File{{Path: "pipelines/p.cue", Data: []byte(pipeline)}, {Path: "models/m.cue", Data: []byte(model)}})
	if err != nil {
		t.Fatal(err)
	}
	return &set.Models[0], &set.Pipelines[0]
}

// diamond: prep -> (train-a, train-b) -> evaluate.
const diamond = `kind: "Pipeline"
name: "p"
params: {lr: {type: "float", default: 0.1}, depth: {type: "int", default: 6}}
artifacts: uri: "s3://art"
steps: [{
	name: "prep", image: "prep:1", args: ["--data", "$(data.source)@$(data.version)", "--out", "$(outputs.features)"]
	outputs: ["features"]
}, {
	name: "train-a", image: "train:1", args: ["--lr", "$(params.lr)", "--in", "$(inputs.features)", "--out", "$(outputs.a)"]
	dependsOn: ["prep"], inputs: ["features"], outputs: ["a"], retries: 2, timeout: "30m"
}, {
	name: "train-b", image: "train:1", args: ["--depth", "$(params.depth)", "--in", "$(inputs.features)", "--out", "$(outputs.b)"]
	dependsOn: ["prep"], inputs: ["features"], outputs: ["b"]
}, {
	name: "evaluate", image: "eval:1", args: ["$(inputs.a)", "$(inputs.b)", "$(run.id)"]
	dependsOn: ["train-a", "train-b"], inputs: ["a", "b"], reportsMetrics: true, metrics: ["auc"]
}]
`

func model(params string, dataVersion string) string {
	return fmt.Sprintf(`kind: "Model"
name: "fraud"
training: {pipeline: "p", params: {%s}, data: {source: "s3://data/tx", version: %q}}
serving: image: "server:1"
`, params, dataVersion)
}

func keys(run *training.Run) map[string]string {
	out := map[string]string{}
	for _, s := range run.Steps {
		out[s.Name] = s.Key
	}
	return out
}

func TestPlanKeysAndCaching(t *testing.T) {
	plan := func(pipeline, m string) *training.Run {
		t.Helper()
		mm, pp := load(t, pipeline, m)
		run, err := training.Plan(mm, pp, training.PlanOptions{Revision: "rev"})
		if err != nil {
			t.Fatal(err)
		}
		return run
	}
	base := plan(diamond, model("", "v1"))
	if again := plan(diamond, model("", "v1")); again.ID != base.ID || !cmp.Equal(keys(again), keys(base)) {
		t.Fatalf("same inputs planned a different run: %s vs %s", again.ID, base.ID)
	}
	if !strings.HasPrefix(base.ID, "fraud-") {
		t.Errorf("run id %q", base.ID)
	}
	k := keys(base)

	// A param only train-a reads changes train-a and evaluate only.
	lr := keys(plan(diamond, model("lr: 0.05", "v1")))
	for step, changed := range map[string]bool{"prep": false, "train-a": true, "train-b": false, "evaluate": true} {
		if (lr[step] != k[step]) != changed {
			t.Errorf("lr change: step %s key changed=%v, want %v", step, lr[step] != k[step], changed)
		}
	}
	// train-b's image changes train-b and downstream, not the steps above.
	img := keys(plan(strings.Replace(diamond, `name: "train-b", image: "train:1"`, `name: "train-b", image: "train:2"`, 1), model("", "v1")))
	for step, changed := range map[string]bool{"prep": false, "train-a": false, "train-b": true, "evaluate": true} {
		if (img[step] != k[step]) != changed {
			t.Errorf("image change: step %s key changed=%v, want %v", step, img[step] != k[step], changed)
		}
	}
	// A new data version reruns everything.
	for step, key := range keys(plan(diamond, model("", "v2"))) {
		if key == k[step] {
			t.Errorf("data version change kept step %s's key", step)
		}
	}

	// Substitution and artifact locations.
	train := base.Steps[1]
	if train.Name != "train-a" {
		t.Fatalf("order: %v", keys(base))
	}
	wantIn := "s3://art/fraud/" + base.Steps[0].Key + "/features"
	if diff := cmp.Diff([]string{"--lr", "0.1", "--in", wantIn, "--out", "s3://art/fraud/" + train.Key + "/a"}, train.Spec.Args); diff != "" {
		t.Errorf("train-a args (-want +got):\n%s", diff)
	}
	if got := base.Steps[3].Spec.Args[2]; got != base.ID {
		t.Errorf("$(run.id) = %q, want %s", got, base.ID)
	}
	if got := base.Steps[0].Spec.Args[1]; got != "s3://data/tx@v1" {
		t.Errorf("data substitution = %q", got)
	}
}

func TestScheduleDAG(t *testing.T) {
	m, p := load(t, diamond, model("", "v1"))
	run, err := training.Plan(m, p, training.PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	obs := map[string]training.StepStatus{}
	set := func(name string, phase training.Phase) {
		for _, s := range run.Steps {
			if s.Name == name {
				obs[name] = training.StepStatus{Phase: phase, Key: s.Key}
			}
		}
	}
	names := func(idx []int) []string {
		var out []string
		for _, i := range idx {
			out = append(out, run.Steps[i].Name)
		}
		return out
	}
	d := training.Schedule(run, obs, nil)
	if diff := cmp.Diff([]string{"prep"}, names(d.Start)); diff != "" {
		t.Fatalf("first: %s", diff)
	}
	set("prep", training.PhaseRunning)
	if d = training.Schedule(run, obs, nil); len(d.Start) != 0 || d.Phase != training.PhaseRunning {
		t.Fatalf("while prep runs: start %v phase %s", names(d.Start), d.Phase)
	}
	set("prep", training.PhaseSucceeded)
	// Independent branches start together.
	if d = training.Schedule(run, obs, nil); !cmp.Equal([]string{"train-a", "train-b"}, names(d.Start)) {
		t.Fatalf("after prep: start %v", names(d.Start))
	}
	set("train-a", training.PhaseSucceeded)
	set("train-b", training.PhaseRunning)
	if d = training.Schedule(run, obs, nil); len(d.Start) != 0 {
		t.Fatalf("evaluate started before train-b finished: %v", names(d.Start))
	}
	set("train-b", training.PhaseFailed)
	d = training.Schedule(run, obs, nil)
	if d.Phase != training.PhaseFailed || d.Failed != "train-b" || len(d.Start) != 0 {
		t.Fatalf("after a failure: phase %s failed %q start %v", d.Phase, d.Failed, names(d.Start))
	}

	// Cached steps need no Job: with prep and both trains cached, only
	// evaluate starts.
	cache := map[string]training.StepStatus{}
	for _, s := range run.Steps[:3] {
		cache[s.Key] = training.StepStatus{Phase: training.PhaseSucceeded, Key: s.Key}
	}
	d = training.Schedule(run, map[string]training.StepStatus{}, cache)
	if !cmp.Equal([]string{"evaluate"}, names(d.Start)) || !d.Steps[0].Cached {
		t.Fatalf("with a cache: start %v, prep cached %v", names(d.Start), d.Steps[0].Cached)
	}
	for _, s := range run.Steps {
		cache[s.Key] = training.StepStatus{Phase: training.PhaseSucceeded, Key: s.Key}
	}
	if d = training.Schedule(run, nil, cache); d.Phase != training.PhaseSucceeded || len(d.Start) != 0 {
		t.Fatalf("all cached: phase %s start %v", d.Phase, names(d.Start))
	}
}

func TestJobRendering(t *testing.T) {
	m, p := load(t, strings.Replace(diamond, `artifacts: uri: "s3://art"`, `artifacts: pvc: claimName: "art"`, 1), model("", "v1"))
	run, err := training.Plan(m, p, training.PlanOptions{Revision: "abc"})
	if err != nil {
		t.Fatal(err)
	}
	job := training.Job(run, run.Steps[1])
	if job.GetKind() != "Job" || job.GetName() != "fraud-train-a-"+run.Steps[1].Key[:8] {
		t.Fatalf("job %s %s", job.GetKind(), job.GetName())
	}
	js, _ := json.Marshal(job.Object)
	for _, want := range []string{`"backoffLimit":2`, `"activeDeadlineSeconds":1800`, `"restartPolicy":"Never"`,
		`"claimName":"art"`, `"mountPath":"/artifacts"`, `"name":"MLSYNC_INPUT_FEATURES"`, `"mlsync.io/run":"` + run.ID + `"`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("job lacks %s:\n%s", want, js)
		}
	}
	ddp := strings.Replace(diamond, `name: "train-b", image: "train:1",`, `name: "train-b", image: "train:1", backend: "pytorchjob", replicas: workers: 3, resources: gpu: count: 1,`, 1)
	m, p = load(t, ddp, model("", "v1"))
	run, _ = training.Plan(m, p, training.PlanOptions{})
	pj := training.Job(run, run.Steps[2])
	js, _ = json.Marshal(pj.Object)
	if pj.GetKind() != "PyTorchJob" || !strings.Contains(string(js), `"Worker":{"replicas":3`) ||
		!strings.Contains(string(js), `"name":"pytorch"`) || !strings.Contains(string(js), `"nvidia.com/gpu":"1"`) {
		t.Errorf("pytorchjob:\n%s", js)
	}
}

func TestParseMetrics(t *testing.T) {
	good, err := training.ParseMetrics(`{"auc": 0.93, "log_loss": 0.21, "n": 12000}`)
	if err != nil || good["auc"] != 0.93 || good["n"] != 12000 {
		t.Fatalf("good metrics: %v %v", good, err)
	}
	for input, want := range map[string]string{
		``:                         "not JSON",
		`[1, 2]`:                   "must be a JSON object",
		`{"auc": "0.9"}`:           "must be a number, got a string",
		`{"auc": {"value": 0.9}}`:  "flat",
		`{"auc": 1e999}`:           "not a finite number",
		`{"auc": 0.9, "auc": 0.8}`: "appears twice",
		`{"a-b": 1}`:               "not an identifier",
		`{}`:                       "empty",
		`{"auc": 0.9} trailing`:    "nothing after it",
		`{"auc": true}`:            "a boolean",
		`{"auc": null}`:            "null",
		`{"x":` + strings.Repeat("1", 5000) + `}`: "over the 4096-byte limit",
	} {
		if _, err := training.ParseMetrics(input); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseMetrics(%.40q): error %v, want it to mention %q", input, err, want)
		}
	}
}

// BenchmarkSchedule100 plans and schedules a 100-step DAG (ten layers of
// ten steps, each depending on the whole layer before it), with half of
// the steps done.
func BenchmarkSchedule100(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("kind: \"Pipeline\"\nname: \"p\"\nartifacts: uri: \"s3://a\"\nsteps: [\n")
	for l := range 10 {
		for s := range 10 {
			deps := ""
			if l > 0 {
				var names []string
				for d := range 10 {
					names = append(names, fmt.Sprintf(`"s%d-%d"`, l-1, d))
				}
				deps = "dependsOn: [" + strings.Join(names, ", ") + "]"
			}
			fmt.Fprintf(&sb, "{name: \"s%d-%d\", image: \"img:%d\", args: [\"--layer\", \"%d\"], %s},\n", l, s, s, l, deps)
		}
	}
	sb.WriteString("]\n")
	m, p := load(b, sb.String(), model("", "v1"))
	run, err := training.Plan(m, p, training.PlanOptions{})
	if err != nil {
		b.Fatal(err)
	}
	obs := map[string]training.StepStatus{}
	for _, s := range run.Steps[:50] {
		obs[s.Name] = training.StepStatus{Phase: training.PhaseSucceeded, Key: s.Key}
	}
	b.ResetTimer()
	for range b.N {
		run, err := training.Plan(m, p, training.PlanOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if d := training.Schedule(run, obs, nil); len(d.Start) != 10 {
			b.Fatalf("started %d steps, want the 10 of layer 5", len(d.Start))
		}
	}
}
