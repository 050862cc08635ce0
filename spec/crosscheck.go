package spec

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// crossCheck reports what the schema alone cannot: references between
// specs, DAG shape, uniqueness, and field combinations.
func crossCheck(set *Set) Errors {
	var errs Errors
	errs = append(errs, checkUnique(set)...)
	for i := range set.Pipelines {
		errs = append(errs, checkPipeline(&set.Pipelines[i])...)
	}
	for i := range set.Models {
		errs = append(errs, checkModel(set, &set.Models[i])...)
	}
	return errs
}

// problem is an Error at a field of a spec.
func problem(src Source, path, format string, args ...any) *Error {
	return &Error{Pos: src.Pos(path), Path: path, Msg: fmt.Sprintf(format, args...)}
}

// checkUnique reports specs of one kind that share a namespace and name.
func checkUnique(set *Set) Errors {
	var errs Errors
	models := map[string]Source{}
	for _, m := range set.Models {
		key := m.Namespace + "/" + m.Name
		if first, dup := models[key]; dup {
			errs = append(errs, problem(m.Source, "name", "model %s is also declared in %s", key, first.NamePos))
			continue
		}
		models[key] = m.Source
	}
	pipelines := map[string]Source{}
	for _, p := range set.Pipelines {
		key := p.Namespace + "/" + p.Name
		if first, dup := pipelines[key]; dup {
			errs = append(errs, problem(p.Source, "name", "pipeline %s is also declared in %s", key, first.NamePos))
			continue
		}
		pipelines[key] = p.Source
	}
	return errs
}

// substitution matches $(scope.name) in args, command and env.
var substitution = regexp.MustCompile(`\$\(([a-z]+)\.([A-Za-z0-9_]+)\)`)

func checkPipeline(p *Pipeline) Errors {
	var errs Errors
	add := func(path, format string, args ...any) {
		errs = append(errs, problem(p.Source, path, format, args...))
	}
	switch {
	case p.Artifacts.PVC == nil && p.Artifacts.URI == "":
		add("artifacts", "required: set pvc (a PersistentVolumeClaim) or uri (an object-store prefix)")
	case p.Artifacts.PVC != nil && p.Artifacts.URI != "":
		add("artifacts", "set exactly one of pvc and uri, not both")
	}
	if p.Schedule != "" {
		if _, err := ParseSchedule(p.Schedule); err != nil {
			add("schedule", "%v", err)
		}
	}
	for _, name := range sortedKeys(p.Params) {
		param := p.Params[name]
		if param.Default != nil && !paramTypeOK(param.Type, param.Default) {
			add("params."+name+".default", "must be %s like the param's type; got %s", article(param.Type), describe(param.Default))
		}
	}

	index := map[string]int{}
	producer := map[string]int{} // artifact -> step index
	for i, s := range p.Steps {
		sp := fmt.Sprintf("steps[%d]", i)
		if j, dup := index[s.Name]; dup {
			add(sp+".name", "step %q is also declared as steps[%d]", s.Name, j)
			continue
		}
		index[s.Name] = i
		for k, out := range s.Outputs {
			if j, dup := producer[out]; dup {
				add(fmt.Sprintf("%s.outputs[%d]", sp, k), "artifact %q is also written by step %q", out, p.Steps[j].Name)
				continue
			}
			producer[out] = i
		}
	}
	for i, s := range p.Steps {
		sp := fmt.Sprintf("steps[%d]", i)
		for k, dep := range s.DependsOn {
			switch _, ok := index[dep]; {
			case dep == s.Name:
				add(fmt.Sprintf("%s.dependsOn[%d]", sp, k), "step %q cannot depend on itself", s.Name)
			case !ok:
				add(fmt.Sprintf("%s.dependsOn[%d]", sp, k), "no step named %q in pipeline %s%s", dep, p.Name, suggest(dep, stepNames(p)))
			}
		}
		if len(s.Metrics) > 0 && !s.ReportsMetrics {
			add(sp+".metrics", "metrics are read only from steps with reportsMetrics: true")
		}
		if s.Replicas != nil && s.Backend != BackendPyTorchJob {
			add(sp+".replicas", "replicas are for backend %q only; this step's backend is %q", BackendPyTorchJob, s.Backend)
		}
		errs = append(errs, checkSubstitutions(p, i)...)
	}
	if cycle := findCycle(p, index); cycle != nil {
		first := index[cycle[0]]
		add(fmt.Sprintf("steps[%d].dependsOn", first), "steps depend on each other in a cycle: %s", strings.Join(cycle, " -> "))
		return errs // ancestry below assumes a DAG
	}
	for i, s := range p.Steps {
		anc := ancestors(p, index, i)
		for k, in := range s.Inputs {
			j, ok := producer[in]
			switch {
			case !ok:
				add(fmt.Sprintf("steps[%d].inputs[%d]", i, k), "no step writes artifact %q (list it in some step's outputs)", in)
			case j == i:
				add(fmt.Sprintf("steps[%d].inputs[%d]", i, k), "step %q reads its own output %q", s.Name, in)
			case !anc[j]:
				add(fmt.Sprintf("steps[%d].inputs[%d]", i, k), "artifact %q is written by step %q, which step %q does not depend on", in, p.Steps[j].Name, s.Name)
			}
		}
	}
	return errs
}

// checkSubstitutions reports $(...) references to unknown names.
func checkSubstitutions(p *Pipeline, i int) Errors {
	s := p.Steps[i]
	var errs Errors
	check := func(path, text string) {
		for _, m := range substitution.FindAllStringSubmatch(text, -1) {
			scope, name := m[1], m[2]
			var ok bool
			switch scope {
			case "params":
				_, ok = p.Params[name]
			case "inputs":
				ok = contains(s.Inputs, name)
			case "outputs":
				ok = contains(s.Outputs, name)
			case "run":
				ok = name == "id"
			case "data":
				ok = name == "source" || name == "version"
			default:
				errs = append(errs, problem(p.Source, path, "unknown substitution %s; scopes are params, inputs, outputs, run, data", m[0]))
				continue
			}
			switch {
			case ok:
			case scope == "params":
				errs = append(errs, problem(p.Source, path, "%s refers to no param of pipeline %s%s", m[0], p.Name, suggest(name, sortedKeys(p.Params))))
			case scope == "inputs" || scope == "outputs":
				errs = append(errs, problem(p.Source, path, "%s refers to no %s of step %q (declare it in %s)", m[0], strings.TrimSuffix(scope, "s"), s.Name, scope))
			default:
				errs = append(errs, problem(p.Source, path, "unknown substitution %s; %s has only %s", m[0], scope, map[string]string{"run": "$(run.id)", "data": "$(data.source) and $(data.version)"}[scope]))
			}
		}
	}
	sp := fmt.Sprintf("steps[%d]", i)
	for k, a := range s.Command {
		check(fmt.Sprintf("%s.command[%d]", sp, k), a)
	}
	for k, a := range s.Args {
		check(fmt.Sprintf("%s.args[%d]", sp, k), a)
	}
	for _, k := range sortedKeys(s.Env) {
		check(sp+".env."+k, s.Env[k])
	}
	return errs
}

// findCycle returns the steps of one dependsOn cycle, first step repeated
// at the end, or nil when the steps form a DAG.
func findCycle(p *Pipeline, index map[string]int) []string {
	const (
		unseen = iota
		onPath
		done
	)
	state := make([]int, len(p.Steps))
	var stack []string
	var visit func(i int) []string
	visit = func(i int) []string {
		state[i] = onPath
		stack = append(stack, p.Steps[i].Name)
		for _, dep := range p.Steps[i].DependsOn {
			j, ok := index[dep]
			if !ok || j == i {
				continue
			}
			switch state[j] {
			case onPath:
				start := 0
				for k, n := range stack {
					if n == dep {
						start = k
					}
				}
				// Report the cycle in the direction work flows:
				// from a dependency to the step that depends on it.
				cyc := append([]string(nil), stack[start:]...)
				for l, r := 0, len(cyc)-1; l < r; l, r = l+1, r-1 {
					cyc[l], cyc[r] = cyc[r], cyc[l]
				}
				// Start at the step declared first.
				lowest := 0
				for k, n := range cyc {
					if index[n] < index[cyc[lowest]] {
						lowest = k
					}
				}
				cyc = append(cyc[lowest:], cyc[:lowest]...)
				return append(cyc, cyc[0])
			case unseen:
				if c := visit(j); c != nil {
					return c
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[i] = done
		return nil
	}
	for i := range p.Steps {
		if state[i] == unseen {
			if c := visit(i); c != nil {
				return c
			}
		}
	}
	return nil
}

// ancestors returns the steps step i transitively depends on.
func ancestors(p *Pipeline, index map[string]int, i int) map[int]bool {
	seen := map[int]bool{}
	queue := []int{i}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, dep := range p.Steps[n].DependsOn {
			if j, ok := index[dep]; ok && !seen[j] {
				seen[j] = true
				queue = append(queue, j)
			}
		}
	}
	return seen
}

func checkModel(set *Set, m *Model) Errors {
	var errs Errors
	add := func(path, format string, args ...any) {
		errs = append(errs, problem(m.Source, path, format, args...))
	}
	var pipeline *Pipeline
	if t := m.Training; t != nil {
		pipeline = set.Pipeline(m.Namespace, t.Pipeline)
		if pipeline == nil {
			add("training.pipeline", "no pipeline %q in namespace %s%s", t.Pipeline, m.Namespace, suggest(t.Pipeline, pipelineNames(set, m.Namespace)))
		} else {
			for _, name := range sortedKeys(t.Params) {
				param, ok := pipeline.Params[name]
				switch {
				case !ok:
					add("training.params."+name, "pipeline %s has no param %q%s", pipeline.Name, name, suggest(name, sortedKeys(pipeline.Params)))
				case !paramTypeOK(param.Type, t.Params[name]):
					add("training.params."+name, "must be %s (pipeline %s declares it so); got %s", article(param.Type), pipeline.Name, describe(t.Params[name]))
				}
			}
			for _, name := range sortedKeys(pipeline.Params) {
				if _, set := t.Params[name]; !set && pipeline.Params[name].Default == nil {
					add("training.params", "pipeline %s requires param %q (it has no default)", pipeline.Name, name)
				}
			}
		}
	}
	if e := m.Evaluation; e != nil {
		errs = append(errs, checkEvaluation(m, pipeline)...)
	}
	errs = append(errs, checkStages(m)...)
	errs = append(errs, checkServing(m)...)
	if mon := m.Monitoring; mon != nil && mon.Drift != nil {
		if _, err := ParseSchedule(mon.Drift.Schedule); err != nil {
			add("monitoring.drift.schedule", "%v", err)
		}
		seen := map[string]int{}
		for i, f := range mon.Drift.Features {
			if j, dup := seen[f.Name]; dup {
				add(fmt.Sprintf("monitoring.drift.features[%d].name", i), "feature %q is also listed as features[%d]", f.Name, j)
				continue
			}
			seen[f.Name] = i
		}
	}
	return errs
}

func checkEvaluation(m *Model, pipeline *Pipeline) Errors {
	e := m.Evaluation
	var errs Errors
	add := func(path, format string, args ...any) {
		errs = append(errs, problem(m.Source, path, format, args...))
	}
	for _, name := range sortedKeys(e.Thresholds) {
		t := e.Thresholds[name]
		if t.Min != nil && t.Max != nil && *t.Min > *t.Max {
			add("evaluation.thresholds."+name, "min %g is above max %g", *t.Min, *t.Max)
		}
	}
	if m.Training == nil {
		add("evaluation", "an evaluation gate needs training: nothing produces the metrics it checks")
		return errs
	}
	if pipeline == nil {
		return errs // reported at training.pipeline
	}
	produced := map[string]bool{}
	var all []string
	for _, s := range pipeline.Steps {
		for _, metric := range s.Metrics {
			if !produced[metric] {
				produced[metric] = true
				all = append(all, metric)
			}
		}
	}
	missing := func(path, metric string) {
		if len(all) == 0 {
			add(path, "metric %q is not reported by pipeline %s: no step has reportsMetrics: true with metrics listed", metric, pipeline.Name)
			return
		}
		add(path, "metric %q is not reported by pipeline %s (its steps report: %s)", metric, pipeline.Name, strings.Join(all, ", "))
	}
	if !produced[e.PrimaryMetric] {
		missing("evaluation.primaryMetric", e.PrimaryMetric)
	}
	for _, name := range sortedKeys(e.Thresholds) {
		if !produced[name] {
			missing("evaluation.thresholds."+name, name)
		}
	}
	return errs
}

func checkStages(m *Model) Errors {
	var errs Errors
	add := func(path, format string, args ...any) {
		errs = append(errs, problem(m.Source, path, format, args...))
	}
	names := map[string]int{}
	namespaces := map[string]int{}
	var prevVersion, prevStage string
	for i, s := range m.Stages {
		sp := fmt.Sprintf("stages[%d]", i)
		if j, dup := names[s.Name]; dup {
			add(sp+".name", "stage %q is also declared as stages[%d]", s.Name, j)
			continue
		}
		names[s.Name] = i
		if j, dup := namespaces[s.Namespace]; dup {
			add(sp+".namespace", "namespace %s is also used by stage %q; each stage serves in its own namespace", s.Namespace, m.Stages[j].Name)
		} else {
			namespaces[s.Namespace] = i
		}
		if s.Promotion != PromotionManual && m.Evaluation == nil {
			add(sp+".promotion", "%s promotion needs an evaluation gate to decide which versions pass", s.Promotion)
		}
		if s.Version != "" {
			if prevVersion != "" && versionNumber(s.Version) > versionNumber(prevVersion) {
				add(sp+".version", "stage %q pins %s, newer than %s in the stage before it (%q): versions move through the stages in order",
					s.Name, s.Version, prevVersion, prevStage)
			}
			prevVersion, prevStage = s.Version, s.Name
		}
	}
	return errs
}

func checkServing(m *Model) Errors {
	s := m.Serving
	var errs Errors
	add := func(path, format string, args ...any) {
		errs = append(errs, problem(m.Source, path, format, args...))
	}
	switch s.Runtime {
	case RuntimeDeployment:
		if s.Image == "" {
			add("serving.image", "runtime %q needs an image", RuntimeDeployment)
		}
		if s.ModelFormat != "" {
			add("serving.modelFormat", "modelFormat is for runtime %q only", RuntimeKServe)
		}
	case RuntimeKServe:
		if s.ModelFormat == "" {
			add("serving.modelFormat", "runtime %q needs a modelFormat (e.g. sklearn, xgboost, pytorch)", RuntimeKServe)
		}
		if s.StorageURI == "" {
			add("serving.storageUri", "runtime %q needs a storageUri", RuntimeKServe)
		}
	}
	if s.Replicas.Max < s.Replicas.Min {
		add("serving.replicas.max", "max %d is below min %d", s.Replicas.Max, s.Replicas.Min)
	}
	if len(m.Stages) > 0 && s.StorageURI != "" && !strings.Contains(s.StorageURI, "{version}") &&
		!strings.Contains(s.Image, "{version}") {
		add("serving.storageUri", "with stages, storageUri (or image) must contain {version} so each stage serves its pinned version")
	}
	return errs
}

func paramTypeOK(typ string, v any) bool {
	if n, ok := v.(json.Number); ok {
		switch typ {
		case ParamInt:
			_, err := n.Int64()
			return err == nil
		case ParamFloat:
			_, err := n.Float64()
			return err == nil
		}
		return false
	}
	switch typ {
	case ParamString:
		_, ok := v.(string)
		return ok
	case ParamBool:
		_, ok := v.(bool)
		return ok
	case ParamInt:
		switch n := v.(type) {
		case int, int64:
			return true
		case float64:
			return n == float64(int64(n))
		}
		return false
	case ParamFloat:
		switch v.(type) {
		case int, int64, float64:
			return true
		}
	}
	return false
}

func describe(v any) string {
	switch x := v.(type) {
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return "int " + x.String()
		}
		return "number " + x.String()
	case string:
		return "string " + strconv.Quote(x)
	case bool:
		return fmt.Sprintf("bool %t", x)
	case int, int64:
		return fmt.Sprintf("int %d", x)
	case float64:
		return fmt.Sprintf("number %g", x)
	}
	return fmt.Sprintf("%T %v", v, v)
}

func article(typ string) string {
	if typ == ParamInt {
		return "an int"
	}
	return "a " + typ
}

func versionNumber(v string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(v, "v"))
	return n
}

func stepNames(p *Pipeline) []string {
	names := make([]string, len(p.Steps))
	for i, s := range p.Steps {
		names[i] = s.Name
	}
	return names
}

func pipelineNames(set *Set, ns string) []string {
	var names []string
	for _, p := range set.Pipelines {
		if p.Namespace == ns {
			names = append(names, p.Name)
		}
	}
	return names
}

// suggest returns "; did you mean X?" for the closest candidate within
// two edits, or "".
func suggest(name string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(name, c); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
