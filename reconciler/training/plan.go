package training

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/mlsync/mlsync/spec"
)

// Triggers of a run.
const (
	TriggerCommit   = "commit"
	TriggerSchedule = "schedule"
	TriggerDrift    = "drift"
	TriggerManual   = "manual"
)

// PlanOptions say what a run is planned from.
type PlanOptions struct {
	// Revision is the spec commit.
	Revision string
	// Trigger says why the run starts; TriggerCommit by default.
	Trigger string
	// Tick, set for scheduled and drift-triggered runs, goes into every
	// step key: such a run retrains even when no input changed (the data
	// behind a data version may have grown).
	Tick time.Time
}

// Run is one planned training run of a model.
type Run struct {
	// ID is "<model>-<hash of the step keys>": the same inputs plan the
	// same run.
	ID        string            `json:"id"`
	Model     string            `json:"model"`
	Namespace string            `json:"namespace"`
	Pipeline  string            `json:"pipeline"`
	Revision  string            `json:"revision"`
	Trigger   string            `json:"trigger"`
	Data      spec.Data         `json:"data"`
	Params    map[string]string `json:"params,omitempty"`
	Artifacts spec.ArtifactStore
	// Steps in dependency order (a step comes after all it depends on).
	Steps []Step `json:"steps"`
}

// Step is one planned step.
type Step struct {
	Name string `json:"name"`
	// Key identifies the step's work; see the package doc.
	Key string `json:"key"`
	// Deps are the indexes in Run.Steps of the steps this one needs.
	Deps []int `json:"deps,omitempty"`
	// Spec is the step with $(...) substituted in command, args and env.
	Spec spec.Step `json:"-"`
	// Inputs and Outputs map artifact names to locations.
	Inputs  map[string]string `json:"inputs,omitempty"`
	Outputs map[string]string `json:"outputs,omitempty"`
}

// Plan resolves model m's training with pipeline p into a run. The specs
// are assumed valid (spec.Loader checked references, types and the DAG).
func Plan(m *spec.Model, p *spec.Pipeline, opts PlanOptions) (*Run, error) {
	if m.Training == nil {
		return nil, fmt.Errorf("model %s has no training", m.Name)
	}
	if opts.Trigger == "" {
		opts.Trigger = TriggerCommit
	}
	run := &Run{Model: m.Name, Namespace: p.Namespace, Pipeline: p.Name, Revision: opts.Revision,
		Trigger: opts.Trigger, Data: m.Training.Data, Artifacts: p.Artifacts, Params: params(m, p)}
	order, err := topoOrder(p)
	if err != nil {
		return nil, err
	}
	index := map[string]int{}
	producer := map[string]int{}
	for _, si := range order {
		src := p.Steps[si]
		st := Step{Name: src.Name, Spec: src}
		for _, d := range src.DependsOn {
			st.Deps = append(st.Deps, index[d])
		}
		sort.Ints(st.Deps)
		upstream := make([]string, len(st.Deps))
		for i, d := range st.Deps {
			upstream[i] = run.Steps[d].Key
		}
		st.Key = stepKey(src, run, upstream, opts.Tick)
		st.Outputs = map[string]string{}
		for _, out := range src.Outputs {
			st.Outputs[out] = location(p.Artifacts, m.Name, st.Key, out)
		}
		st.Inputs = map[string]string{}
		for _, in := range src.Inputs {
			if j, ok := producer[in]; ok {
				st.Inputs[in] = run.Steps[j].Outputs[in]
			}
		}
		index[src.Name] = len(run.Steps)
		for _, out := range src.Outputs {
			producer[out] = len(run.Steps)
		}
		run.Steps = append(run.Steps, st)
	}
	keys := make([]string, len(run.Steps))
	for i, s := range run.Steps {
		keys[i] = s.Name + "=" + s.Key
	}
	run.ID = m.Name + "-" + shortHash(strings.Join(keys, "\n"))[:8]
	for i := range run.Steps {
		run.Steps[i].Spec = substitute(run, &run.Steps[i])
	}
	return run, nil
}

// params resolves the pipeline's params: the model's values over the
// pipeline's defaults, as strings.
func params(m *spec.Model, p *spec.Pipeline) map[string]string {
	out := map[string]string{}
	for name, decl := range p.Params {
		if decl.Default != nil {
			out[name] = format(decl.Default)
		}
	}
	for name, v := range m.Training.Params {
		out[name] = format(v)
	}
	return out
}

func format(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case float64:
		return fmt.Sprint(x)
	}
	return fmt.Sprint(v)
}

// topoOrder returns the steps' indexes in an order where every step comes
// after the steps it depends on, keeping declaration order otherwise.
func topoOrder(p *spec.Pipeline) ([]int, error) {
	index := map[string]int{}
	for i, s := range p.Steps {
		index[s.Name] = i
	}
	done := make([]bool, len(p.Steps))
	var order []int
	for len(order) < len(p.Steps) {
		progress := false
		for i, s := range p.Steps {
			if done[i] {
				continue
			}
			ready := true
			for _, d := range s.DependsOn {
				if j, ok := index[d]; !ok || !done[j] {
					ready = false
					break
				}
			}
			if ready {
				done[i], progress = true, true
				order = append(order, i)
			}
		}
		if !progress {
			return nil, fmt.Errorf("pipeline %s: steps depend on each other in a cycle", p.Name)
		}
	}
	return order, nil
}

// stepKey hashes everything that decides what a step computes.
func stepKey(s spec.Step, run *Run, upstream []string, tick time.Time) string {
	parts := struct {
		Image     string            `json:"image"`
		Command   []string          `json:"command,omitempty"`
		Args      []string          `json:"args,omitempty"`
		Env       map[string]string `json:"env,omitempty"`
		Resources *spec.Resources   `json:"resources,omitempty"`
		Placement spec.Placement    `json:"placement"`
		Retries   int32             `json:"retries"`
		Timeout   string            `json:"timeout"`
		Backend   string            `json:"backend"`
		Replicas  any               `json:"replicas,omitempty"`
		Metrics   []string          `json:"metrics,omitempty"`
		Params    map[string]string `json:"params"`
		Data      spec.Data         `json:"data"`
		Upstream  []string          `json:"upstream"`
		Tick      string            `json:"tick,omitempty"`
	}{s.Image, s.Command, s.Args, s.Env, s.Resources, s.Placement, s.Retries, s.Timeout, s.Backend, s.Replicas,
		s.Metrics, usedParams(s, run.Params), run.Data, upstream, ""}
	if !tick.IsZero() {
		parts.Tick = tick.UTC().Format(time.RFC3339)
	}
	data, _ := json.Marshal(parts)
	return shortHash(string(data))
}

// usedParams are the params a step refers to: a param it never reads
// does not invalidate its cache.
func usedParams(s spec.Step, all map[string]string) map[string]string {
	text := strings.Join(s.Command, "\x00") + "\x00" + strings.Join(s.Args, "\x00")
	for _, v := range s.Env {
		text += "\x00" + v
	}
	used := map[string]string{}
	for k, v := range all {
		if strings.Contains(text, "$(params."+k+")") {
			used[k] = v
		}
	}
	return used
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}

// ArtifactMount is where a PVC artifact store is mounted in step pods.
const ArtifactMount = "/artifacts"

// location is where artifact name of the step with key lives: below the
// store, per model and step key, so a cached step's outputs stay valid
// for every run that reuses it.
func location(store spec.ArtifactStore, model, key, name string) string {
	if store.PVC != nil {
		return fmt.Sprintf("%s/%s/%s/%s", ArtifactMount, model, key, name)
	}
	return fmt.Sprintf("%s/%s/%s/%s", strings.TrimRight(store.URI, "/"), model, key, name)
}

// substitute replaces $(params.x), $(inputs.x), $(outputs.x), $(run.id),
// $(data.source) and $(data.version) in the step's command, args and env.
func substitute(run *Run, st *Step) spec.Step {
	s := st.Spec
	repl := []string{"$(run.id)", run.ID, "$(data.source)", run.Data.Source, "$(data.version)", run.Data.Version}
	for k, v := range run.Params {
		repl = append(repl, "$(params."+k+")", v)
	}
	for k, v := range st.Inputs {
		repl = append(repl, "$(inputs."+k+")", v)
	}
	for k, v := range st.Outputs {
		repl = append(repl, "$(outputs."+k+")", v)
	}
	r := strings.NewReplacer(repl...)
	sub := func(in []string) []string {
		if in == nil {
			return nil
		}
		out := make([]string, len(in))
		for i, a := range in {
			out[i] = r.Replace(a)
		}
		return out
	}
	s.Command, s.Args = sub(s.Command), sub(s.Args)
	if s.Env != nil {
		env := make(map[string]string, len(s.Env))
		for k, v := range s.Env {
			env[k] = r.Replace(v)
		}
		s.Env = env
	}
	return s
}
