package forge

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// gitea speaks the Gitea/Forgejo API v1.
type gitea struct{ *client }

func (g *gitea) auth(r *http.Request) { r.Header.Set("Authorization", "token "+g.token) }

type giteaPR struct {
	Number  int    `json:"number"`
	HTMLURL string `json:"html_url"`
	Title   string `json:"title"`
	State   string `json:"state"`
	Merged  bool   `json:"merged"`
	Head    struct {
		Ref string `json:"ref"`
	} `json:"head"`
	Base struct {
		Ref string `json:"ref"`
	} `json:"base"`
}

func (p giteaPR) pr() PullRequest {
	state := p.State
	if p.Merged {
		state = StateMerged
	}
	return PullRequest{Number: p.Number, URL: p.HTMLURL, Title: p.Title, Head: p.Head.Ref, Base: p.Base.Ref, State: state}
}

func (g *gitea) Open(ctx context.Context, p Proposal) (PullRequest, error) {
	open, err := g.List(ctx, p.Head)
	if err != nil {
		return PullRequest{}, err
	}
	for _, pr := range open {
		if pr.Head == p.Head && pr.State == StateOpen {
			var out giteaPR
			err := g.do(ctx, http.MethodPatch, fmt.Sprintf("/repos/%s/pulls/%d", repoPath(g.opts.Repo), pr.Number),
				map[string]any{"title": p.Title, "body": p.Body}, &out, g.auth)
			return out.pr(), err
		}
	}
	var out giteaPR
	err = g.do(ctx, http.MethodPost, "/repos/"+repoPath(g.opts.Repo)+"/pulls",
		map[string]any{"head": p.Head, "base": p.Base, "title": p.Title, "body": p.Body}, &out, g.auth)
	return out.pr(), err
}

func (g *gitea) List(ctx context.Context, prefix string) ([]PullRequest, error) {
	var out []PullRequest
	for page := 1; page <= 20; page++ {
		var batch []giteaPR
		if err := g.do(ctx, http.MethodGet, fmt.Sprintf("/repos/%s/pulls?state=all&sort=newest&limit=50&page=%d",
			repoPath(g.opts.Repo), page), nil, &batch, g.auth); err != nil {
			return nil, err
		}
		for _, p := range batch {
			if strings.HasPrefix(p.Head.Ref, prefix) {
				out = append(out, p.pr())
			}
		}
		if len(batch) < 50 {
			break
		}
	}
	sortNewest(out)
	return out, nil
}

func (g *gitea) Close(ctx context.Context, number int, comment string) error {
	if comment != "" {
		if err := g.do(ctx, http.MethodPost, fmt.Sprintf("/repos/%s/issues/%d/comments", repoPath(g.opts.Repo), number),
			map[string]any{"body": comment}, nil, g.auth); err != nil {
			return err
		}
	}
	return g.do(ctx, http.MethodPatch, fmt.Sprintf("/repos/%s/pulls/%d", repoPath(g.opts.Repo), number),
		map[string]any{"state": "closed"}, nil, g.auth)
}

func (g *gitea) FileURL(branch, path string) string {
	return fmt.Sprintf("%s/%s/src/branch/%s/%s", g.web, g.opts.Repo, branch, path)
}

// github speaks the GitHub REST API (v3).
type github struct{ *client }

func (g *github) auth(r *http.Request) {
	r.Header.Set("Authorization", "Bearer "+g.token)
	r.Header.Set("Accept", "application/vnd.github+json")
	r.Header.Set("X-GitHub-Api-Version", "2022-11-28")
}

type githubPR struct {
	Number   int    `json:"number"`
	HTMLURL  string `json:"html_url"`
	Title    string `json:"title"`
	State    string `json:"state"`
	MergedAt string `json:"merged_at"`
	Head     struct {
		Ref string `json:"ref"`
	} `json:"head"`
	Base struct {
		Ref string `json:"ref"`
	} `json:"base"`
}

func (p githubPR) pr() PullRequest {
	state := p.State
	if p.MergedAt != "" {
		state = StateMerged
	}
	return PullRequest{Number: p.Number, URL: p.HTMLURL, Title: p.Title, Head: p.Head.Ref, Base: p.Base.Ref, State: state}
}

func (g *github) Open(ctx context.Context, p Proposal) (PullRequest, error) {
	prs, err := g.List(ctx, p.Head)
	if err != nil {
		return PullRequest{}, err
	}
	for _, pr := range prs {
		if pr.Head == p.Head && pr.State == StateOpen {
			var out githubPR
			err := g.do(ctx, http.MethodPatch, fmt.Sprintf("/repos/%s/pulls/%d", repoPath(g.opts.Repo), pr.Number),
				map[string]any{"title": p.Title, "body": p.Body}, &out, g.auth)
			return out.pr(), err
		}
	}
	var out githubPR
	err = g.do(ctx, http.MethodPost, "/repos/"+repoPath(g.opts.Repo)+"/pulls",
		map[string]any{"head": p.Head, "base": p.Base, "title": p.Title, "body": p.Body}, &out, g.auth)
	return out.pr(), err
}

func (g *github) List(ctx context.Context, prefix string) ([]PullRequest, error) {
	var out []PullRequest
	for page := 1; page <= 20; page++ {
		var batch []githubPR
		if err := g.do(ctx, http.MethodGet, fmt.Sprintf("/repos/%s/pulls?state=all&sort=created&direction=desc&per_page=100&page=%d",
			repoPath(g.opts.Repo), page), nil, &batch, g.auth); err != nil {
			return nil, err
		}
		for _, p := range batch {
			if strings.HasPrefix(p.Head.Ref, prefix) {
				out = append(out, p.pr())
			}
		}
		if len(batch) < 100 {
			break
		}
	}
	sortNewest(out)
	return out, nil
}

func (g *github) Close(ctx context.Context, number int, comment string) error {
	if comment != "" {
		if err := g.do(ctx, http.MethodPost, fmt.Sprintf("/repos/%s/issues/%d/comments", repoPath(g.opts.Repo), number),
			map[string]any{"body": comment}, nil, g.auth); err != nil {
			return err
		}
	}
	return g.do(ctx, http.MethodPatch, fmt.Sprintf("/repos/%s/pulls/%d", repoPath(g.opts.Repo), number),
		map[string]any{"state": "closed"}, nil, g.auth)
}

func (g *github) FileURL(branch, path string) string {
	web := g.web
	if web == "" {
		web = "https://github.com"
	}
	return fmt.Sprintf("%s/%s/blob/%s/%s", web, g.opts.Repo, branch, path)
}

// gitlab speaks the GitLab REST API v4 (merge requests).
type gitlab struct{ *client }

func (g *gitlab) auth(r *http.Request) { r.Header.Set("PRIVATE-TOKEN", g.token) }

func (g *gitlab) project() string { return url.PathEscape(g.opts.Repo) }

type gitlabMR struct {
	IID          int    `json:"iid"`
	WebURL       string `json:"web_url"`
	Title        string `json:"title"`
	State        string `json:"state"` // opened, closed, merged, locked
	SourceBranch string `json:"source_branch"`
	TargetBranch string `json:"target_branch"`
}

func (m gitlabMR) pr() PullRequest {
	state := StateClosed
	switch m.State {
	case "opened":
		state = StateOpen
	case "merged":
		state = StateMerged
	}
	return PullRequest{Number: m.IID, URL: m.WebURL, Title: m.Title, Head: m.SourceBranch, Base: m.TargetBranch, State: state}
}

func (g *gitlab) Open(ctx context.Context, p Proposal) (PullRequest, error) {
	mrs, err := g.List(ctx, p.Head)
	if err != nil {
		return PullRequest{}, err
	}
	for _, mr := range mrs {
		if mr.Head == p.Head && mr.State == StateOpen {
			var out gitlabMR
			err := g.do(ctx, http.MethodPut, fmt.Sprintf("/projects/%s/merge_requests/%d", g.project(), mr.Number),
				map[string]any{"title": p.Title, "description": p.Body}, &out, g.auth)
			return out.pr(), err
		}
	}
	var out gitlabMR
	err = g.do(ctx, http.MethodPost, "/projects/"+g.project()+"/merge_requests",
		map[string]any{"source_branch": p.Head, "target_branch": p.Base, "title": p.Title, "description": p.Body}, &out, g.auth)
	return out.pr(), err
}

func (g *gitlab) List(ctx context.Context, prefix string) ([]PullRequest, error) {
	var out []PullRequest
	for page := 1; page <= 20; page++ {
		var batch []gitlabMR
		if err := g.do(ctx, http.MethodGet, fmt.Sprintf("/projects/%s/merge_requests?state=all&order_by=created_at&per_page=100&page=%d",
			g.project(), page), nil, &batch, g.auth); err != nil {
			return nil, err
		}
		for _, m := range batch {
			if strings.HasPrefix(m.SourceBranch, prefix) {
				out = append(out, m.pr())
			}
		}
		if len(batch) < 100 {
			break
		}
	}
	sortNewest(out)
	return out, nil
}

func (g *gitlab) Close(ctx context.Context, number int, comment string) error {
	if comment != "" {
		if err := g.do(ctx, http.MethodPost, fmt.Sprintf("/projects/%s/merge_requests/%d/notes", g.project(), number),
			map[string]any{"body": comment}, nil, g.auth); err != nil {
			return err
		}
	}
	return g.do(ctx, http.MethodPut, fmt.Sprintf("/projects/%s/merge_requests/%d", g.project(), number),
		map[string]any{"state_event": "close"}, nil, g.auth)
}

func (g *gitlab) FileURL(branch, path string) string {
	return fmt.Sprintf("%s/%s/-/blob/%s/%s", g.web, g.opts.Repo, branch, path)
}

func sortNewest(prs []PullRequest) {
	sort.SliceStable(prs, func(i, j int) bool { return prs[i].Number > prs[j].Number })
}

var (
	_ Forge = (*gitea)(nil)
	_ Forge = (*github)(nil)
	_ Forge = (*gitlab)(nil)
)
