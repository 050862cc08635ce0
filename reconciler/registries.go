package reconciler

import (
	"context"
	"encoding/json"
	"errors"
	"path"
	"sort"
	"strings"

	"github.com/mlsync/mlsync/gitsource"
	"github.com/mlsync/mlsync/reconciler/drift"
	"github.com/mlsync/mlsync/reconciler/registry"
	"github.com/mlsync/mlsync/reconciler/render"
	"github.com/mlsync/mlsync/reconciler/report"
	"github.com/mlsync/mlsync/reconciler/training"
	"github.com/mlsync/mlsync/spec"
)

// newVersion is a version a run produced in this pass, for the commit
// message and for promotion.
type newVersion struct {
	model, version string
}

// loadRegistries reads registry/*.json from the status branch once, so a
// restarted daemon knows every version and cached step.
func (r *Reconciler) loadRegistries(ctx context.Context) error {
	if r.st.registriesLoaded {
		return nil
	}
	rev, err := r.git.Resolve(ctx, gitsource.Ref{Branch: r.opts.StatusBranch})
	var nf *gitsource.RefNotFoundError
	if errors.As(err, &nf) {
		r.st.registriesLoaded = true
		return nil
	}
	if err != nil {
		return err
	}
	snap, err := r.git.Fetch(ctx, rev)
	if err != nil {
		return err
	}
	files, err := snap.Files("registry", func(p string) bool { return path.Ext(p) == ".json" && !strings.Contains(p, "/") })
	if err != nil {
		return err
	}
	for _, f := range files {
		model := strings.TrimSuffix(f.Path, ".json")
		reg, err := registry.Decode(model, f.Data)
		if err != nil {
			r.log.Error("ignoring unreadable registry file", "model", model, "error", err)
			continue
		}
		r.st.registries[model] = reg
	}
	// The status published before a restart: commit subjects say what
	// changed since it, not everything it already said.
	if r.st.prev == nil {
		if files, err := snap.Files(path.Dir(report.JSONPath), func(p string) bool { return p == path.Base(report.JSONPath) }); err == nil && len(files) == 1 {
			var prev report.Status
			if err := json.Unmarshal(files[0].Data, &prev); err == nil {
				r.st.prev = &prev
			}
		}
		if r.st.prev != nil {
			r.loadDriftResults(snap, r.st.prev.ModelDrift)
		}
	}
	r.st.registriesLoaded = true
	return nil
}

// loadDriftResults takes up each model's last drift check from its
// report on the status branch, so a restart neither reports the same
// verdicts again nor retrains a model that was drifting already. The
// next check still runs at once.
func (r *Reconciler) loadDriftResults(snap *gitsource.Snapshot, checks []report.ModelDrift) {
	for _, d := range checks {
		if d.Report == "" || r.st.modelDrift[d.Model] != nil {
			continue
		}
		jsonPath := strings.TrimSuffix(d.Report, ".md") + ".json"
		files, err := snap.Files(path.Dir(jsonPath), func(p string) bool { return p == path.Base(jsonPath) })
		if err != nil || len(files) != 1 {
			continue
		}
		var res drift.Result
		if err := json.Unmarshal(files[0].Data, &res); err != nil || res.Model != d.Model {
			continue
		}
		r.st.modelDrift[d.Model] = &modelDrift{result: &res, report: d.Report}
	}
}

// Prepare reads the ref's head, its specs and the registries without
// touching the cluster, for commands that propose promotions.
func (r *Reconciler) Prepare(ctx context.Context) error {
	rev, err := r.resolve(ctx)
	if err != nil {
		return err
	}
	snap, err := r.git.Fetch(ctx, rev)
	if err != nil {
		return err
	}
	files, err := snap.Files(r.opts.Path, r.opts.Filter.And(render.IsSourceFile))
	if err != nil {
		return err
	}
	set, err := r.loader.Load(specFiles(files))
	if err != nil {
		return err
	}
	r.st.snap, r.st.set = snap, set
	r.st.applied = &report.Revision{Ref: r.opts.Ref.String(), Commit: snap.Commit.Hash, Subject: snap.Commit.Subject}
	return r.loadRegistries(ctx)
}

// Model returns the model called name in the specs, or nil.
func (r *Reconciler) Model(name string) *spec.Model { return r.modelOf(name) }

// registry returns a model's registry, creating an empty one.
func (r *Reconciler) registry(model string) *registry.Registry {
	reg, ok := r.st.registries[model]
	if !ok {
		reg = &registry.Registry{Model: model}
		r.st.registries[model] = reg
	}
	return reg
}

// Registry returns a copy of what the reconciler knows of a model's
// versions, or nil.
func (r *Reconciler) Registry(model string) *registry.Registry {
	reg, ok := r.st.registries[model]
	if !ok {
		return nil
	}
	c := *reg
	c.Versions = append([]registry.Version(nil), reg.Versions...)
	return &c
}

func (r *Reconciler) markRegistry(model string) { r.st.dirtyRegistries[model] = true }

// trainingFiles are the registry files and run reports to commit.
func (r *Reconciler) trainingFiles() (map[string][]byte, error) {
	files := map[string][]byte{}
	for p, data := range r.st.extra {
		files[p] = data
	}
	for model := range r.st.dirtyRegistries {
		data, err := r.st.registries[model].Encode()
		if err != nil {
			return nil, err
		}
		files[registry.Path(model)] = data
	}
	return files, nil
}

// runSummaries lists each model's current run for the status.
func (r *Reconciler) runSummaries() []report.RunSummary {
	var out []report.RunSummary
	for model, cur := range r.st.runs {
		s := report.RunSummary{Model: model, Run: cur.run.ID, Phase: string(cur.phase), Trigger: cur.run.Trigger,
			Version: cur.version, Message: cur.message}
		for i, st := range cur.run.Steps {
			phase := training.PhasePending
			if i < len(cur.steps) {
				phase = cur.steps[i].Phase
			}
			s.Steps = append(s.Steps, st.Name+"="+string(phase))
		}
		if reg := r.st.registries[model]; reg != nil {
			if v := reg.Latest(); v != nil {
				s.Latest, s.LatestPassed = v.Version, v.Gate.Passed
			}
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Model < out[j].Model })
	return out
}
