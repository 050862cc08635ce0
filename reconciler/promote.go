package reconciler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/mlsync/mlsync/gitsource"
	"github.com/mlsync/mlsync/gitsource/forge"
	"github.com/mlsync/mlsync/kube"
	"github.com/mlsync/mlsync/reconciler/promotion"
	"github.com/mlsync/mlsync/reconciler/render"
	"github.com/mlsync/mlsync/reconciler/report"
	"github.com/mlsync/mlsync/spec"
)

// Promotion states in the status.
const (
	PromotionCommitted = "committed"
	PromotionProposed  = "proposed"
	PromotionPushed    = "branch pushed"
	PromotionDeclined  = "declined"
	PromotionMerged    = "merged"
	PromotionFailed    = "failed"
	PromotionWaiting   = "waiting"
)

// promote acts on the promotions due: commits auto pins, proposes pull
// requests. A failure (forge down, bad token, the spec branch moved) is
// recorded in the status and retried by the next pass.
func (r *Reconciler) promote(ctx context.Context) error {
	if r.st.set == nil || r.st.snap == nil || r.opts.Ref.Branch == "" || len(r.st.errors) > 0 {
		return nil
	}
	var errs []error
	for i := range r.st.set.Models {
		m := &r.st.set.Models[i]
		reg := r.st.registries[m.Name]
		if reg == nil {
			continue
		}
		for _, p := range promotion.Next(m, reg) {
			key := m.Name + "/" + p.Stage
			if done, ok := r.st.promotions[key]; ok && done.Version == p.To && done.Error == "" && done.State != PromotionFailed && done.State != PromotionWaiting {
				continue
			}
			st, err := r.propose(ctx, m, p)
			r.st.promotions[key] = st
			var ce *gitsource.ConflictError
			if errors.As(err, &ce) {
				// The spec branch moved since this pass read it: try again
				// on the next pass, from the new head.
				st.State, st.Error = PromotionWaiting, ""
				r.st.promotions[key] = st
				break
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("promoting %s %s to %s: %w", m.Name, p.To, p.Stage, err))
			}
			if st.State == PromotionCommitted {
				break // the spec branch moved: its other stages wait for the next pass
			}
		}
	}
	return errors.Join(errs...)
}

// Propose carries out one promotion now, whatever the stage's policy
// says: `mlsync promote` uses it for manual stages. With a forge (or a
// pull-request policy) it proposes a pull request; otherwise it commits.
func (r *Reconciler) Propose(ctx context.Context, p promotion.Proposal, asPullRequest bool) (report.Promotion, error) {
	m := r.modelOf(p.Model)
	if m == nil {
		return report.Promotion{}, fmt.Errorf("no model %s in the applied revision", p.Model)
	}
	if asPullRequest {
		p.Policy = spec.PromotionPullRequest
	} else {
		p.Policy = spec.PromotionAuto
	}
	return r.propose(ctx, m, p)
}

func (r *Reconciler) propose(ctx context.Context, m *spec.Model, p promotion.Proposal) (report.Promotion, error) {
	st := report.Promotion{Model: m.Name, Stage: p.Stage, Version: p.To, From: p.From, Policy: p.Policy}
	fail := func(err error) (report.Promotion, error) {
		st.State, st.Error = PromotionFailed, err.Error()
		return st, err
	}
	repoPath := path.Join(r.opts.Path, m.Source.File)
	files, err := r.st.snap.Files(r.opts.Path, func(p string) bool { return p == m.Source.File })
	if err != nil || len(files) != 1 {
		return fail(fmt.Errorf("reading %s: %v", repoPath, err))
	}
	original := files[0].Data
	edited, err := promotion.SetPin(original, m.Source.File, m, p.StageIndex, p.To)
	if err != nil {
		return fail(err)
	}
	before, after, err := r.checkEdit(m, p, edited)
	if err != nil {
		return fail(err)
	}
	message := p.Title() + "\n\n" + fmt.Sprintf("Stage %s: %s -> %s (policy %s).\nProposed-By: mlsync\n", p.Stage, orNone(p.From), p.To, p.Policy)
	req := gitsource.CommitRequest{Files: map[string][]byte{repoPath: edited}, Message: message, Author: r.opts.Author,
		Expect: map[string][]byte{repoPath: original}}
	if p.Policy != spec.PromotionPullRequest {
		req.Branch = r.opts.Ref.Branch
		res, err := r.git.Commit(ctx, req)
		if err != nil {
			return fail(err)
		}
		st.State, st.Commit = PromotionCommitted, res.Commit
		return st, nil
	}

	branch := p.Branch()
	var superseded []forge.PullRequest
	if r.opts.Forge != nil {
		open, err := r.opts.Forge.ListOpen(ctx, promotion.BranchPrefix(m.Name))
		if err != nil {
			return fail(err)
		}
		// One open proposal per model and stage: the older ones close
		// once this one is open.
		for _, pr := range open {
			if _, stage, ok := promotion.ParseBranch(pr.Head, m.Name); ok && stage == p.Stage && pr.Head != branch {
				superseded = append(superseded, pr)
			}
		}
		if pr, err := r.opts.Forge.Find(ctx, r.opts.Ref.Branch, branch); err != nil {
			return fail(err)
		} else if pr != nil {
			st.URL, st.Number = pr.URL, pr.Number
			switch pr.State {
			case forge.StateOpen:
				// Already proposed: the branch and the pull request stand.
				st.State = PromotionProposed
				return st, r.closeSuperseded(ctx, &st, superseded, p, *pr)
			case forge.StateClosed:
				// A person said no to this version for this stage.
				st.State = PromotionDeclined
				return st, nil
			case forge.StateMerged:
				st.State = PromotionMerged
				return st, nil
			}
		}
	}
	req.Branch, req.Base, req.Replace = branch, r.opts.Ref.Branch, true
	if _, err := r.git.Commit(ctx, req); err != nil {
		return fail(err)
	}
	if r.opts.Forge == nil {
		st.State = PromotionPushed
		st.Error = "no Git host API configured: open a pull request from " + branch + " by hand"
		return st, nil
	}
	reg := r.registry(m.Name)
	in := promotion.BodyInput{Proposal: p, Candidate: reg.Get(p.To), Current: reg.Get(p.From), Diff: stageDiff(before, after, m.Name, p.Stage)}
	if v := reg.Get(p.To); v != nil {
		md, _ := report.RunPaths(m.Name, v.Run)
		in.Links = append(in.Links, [2]string{"Run report " + v.Run, r.opts.Forge.FileURL(r.opts.StatusBranch, md)})
	}
	in.Links = append(in.Links, [2]string{"Model registry", r.opts.Forge.FileURL(r.opts.StatusBranch, "registry/"+m.Name+".json")},
		[2]string{"Status", r.opts.Forge.FileURL(r.opts.StatusBranch, report.SummaryPath)})
	pr, err := r.opts.Forge.Open(ctx, forge.Proposal{Head: branch, Base: r.opts.Ref.Branch, Title: p.Title(), Body: promotion.Body(in)})
	if err != nil {
		return fail(err)
	}
	st.State, st.URL, st.Number = PromotionProposed, pr.URL, pr.Number
	return st, r.closeSuperseded(ctx, &st, superseded, p, pr)
}

// closeSuperseded closes the older open proposals for the stage, pointing
// to pr. A failure stays on st, so the next pass tries again.
func (r *Reconciler) closeSuperseded(ctx context.Context, st *report.Promotion, older []forge.PullRequest, p promotion.Proposal, pr forge.PullRequest) error {
	var errs []error
	for _, o := range older {
		comment := fmt.Sprintf("Superseded by #%d, which proposes %s: it also passed its gate.", pr.Number, p.To)
		if err := r.opts.Forge.Close(ctx, o.Number, comment); err != nil {
			errs = append(errs, fmt.Errorf("closing superseded #%d: %w", o.Number, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		st.Error = err.Error()
		return err
	}
	return nil
}

// checkEdit loads the specs with the edited file and makes sure they are
// valid and pin the version; it returns the objects rendered before and
// after.
func (r *Reconciler) checkEdit(m *spec.Model, p promotion.Proposal, edited []byte) (before, after []*unstructured.Unstructured, err error) {
	files, err := r.st.snap.Files(r.opts.Path, r.opts.Filter.And(render.IsSourceFile))
	if err != nil {
		return nil, nil, err
	}
	all := specFiles(files)
	changed := make([]spec.File, len(all))
	copy(changed, all)
	for i := range changed {
		if changed[i].Path == m.Source.File {
			changed[i].Data = edited
		}
	}
	set, err := r.loader.Load(changed)
	if err != nil {
		return nil, nil, fmt.Errorf("the edited %s does not validate: %w", m.Source.File, err)
	}
	for _, mm := range set.Models {
		if mm.Name == m.Name && mm.Namespace == m.Namespace && (len(mm.Stages) <= p.StageIndex || mm.Stages[p.StageIndex].Version != p.To) {
			return nil, nil, fmt.Errorf("editing %s did not pin %s to %s", m.Source.File, p.Stage, p.To)
		}
	}
	// Only this model's objects go into the pull request's diff: render
	// it alone (with the overlays and manifests), not the whole set.
	before, _ = render.Objects(onlyModel(r.st.set, m), render.Options{Revision: r.st.applied.Commit, Files: all})
	after, _ = render.Objects(onlyModel(set, m), render.Options{Revision: r.st.applied.Commit, Files: changed})
	return before, after, nil
}

// onlyModel is set with m as its only model.
func onlyModel(set *spec.Set, m *spec.Model) *spec.Set {
	out := &spec.Set{Pipelines: set.Pipelines}
	for _, mm := range set.Models {
		if mm.Name == m.Name && mm.Namespace == m.Namespace {
			out.Models = append(out.Models, mm)
		}
	}
	return out
}

// stageDiff is the unified diff of one model's objects in one stage.
func stageDiff(before, after []*unstructured.Unstructured, model, stage string) string {
	pick := func(objs []*unstructured.Unstructured) string {
		var b bytes.Buffer
		for _, o := range objs {
			l := o.GetLabels()
			if l[kube.ModelLabel] != model || l[render.StageLabel] != stage {
				continue
			}
			c := o.DeepCopy()
			ann := c.GetAnnotations()
			delete(ann, kube.RevisionAnnotation)
			delete(ann, kube.SpecHashAnnotation)
			c.SetAnnotations(ann)
			data, _ := yaml.Marshal(c.Object)
			fmt.Fprintf(&b, "# %s\n%s---\n", kube.RefOf(o), data)
		}
		return b.String()
	}
	return kube.UnifiedDiff("serving now", "after merge", pick(before), pick(after))
}

func orNone(v string) string {
	if v == "" {
		return "none"
	}
	return v
}
