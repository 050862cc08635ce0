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
	// 409: "pull request already exists for these targets".
	return openOrUpdate(ctx, g, p, http.StatusConflict, func() (PullRequest, error) {
		var out giteaPR
		err := g.do(ctx, http.MethodPost, "/repos/"+repoPath(g.opts.Repo)+"/pulls",
			map[string]any{"head": p.Head, "base": p.Base, "title": p.Title, "body": p.Body}, &out, g.auth)
		return out.pr(), err
	}, func(number int) (PullRequest, error) {
		var out giteaPR
		err := g.do(ctx, http.MethodPatch, fmt.Sprintf("/repos/%s/pulls/%d", repoPath(g.opts.Repo), number),
			map[string]any{"title": p.Title, "body": p.Body}, &out, g.auth)
		return out.pr(), err
	})
}

func (g *gitea) Find(ctx context.Context, base, head string) (*PullRequest, error) {
	var out giteaPR
	err := g.do(ctx, http.MethodGet, fmt.Sprintf("/repos/%s/pulls/%s/%s", repoPath(g.opts.Repo), url.PathEscape(base), branchPath(head)),
		nil, &out, g.auth)
	if status(err, http.StatusNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	pr := out.pr()
	return &pr, nil
}

func (g *gitea) ListOpen(ctx context.Context, prefix string) ([]PullRequest, error) {
	return listOpen[giteaPR](ctx, g.client, g.auth, prefix, 50, func(page int) string {
		return fmt.Sprintf("/repos/%s/pulls?state=open&sort=newest&limit=50&page=%d", repoPath(g.opts.Repo), page)
	})
}

func (g *gitea) Close(ctx context.Context, number int, comment string) error {
	return closeIssuePR(ctx, g.client, g.auth, number, comment)
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
	// 422: "A pull request already exists for ..." (or another
	// validation error, which the update path leaves as it is).
	return openOrUpdate(ctx, g, p, http.StatusUnprocessableEntity, func() (PullRequest, error) {
		var out githubPR
		err := g.do(ctx, http.MethodPost, "/repos/"+repoPath(g.opts.Repo)+"/pulls",
			map[string]any{"head": p.Head, "base": p.Base, "title": p.Title, "body": p.Body}, &out, g.auth)
		return out.pr(), err
	}, func(number int) (PullRequest, error) {
		var out githubPR
		err := g.do(ctx, http.MethodPatch, fmt.Sprintf("/repos/%s/pulls/%d", repoPath(g.opts.Repo), number),
			map[string]any{"title": p.Title, "body": p.Body}, &out, g.auth)
		return out.pr(), err
	})
}

func (g *github) Find(ctx context.Context, base, head string) (*PullRequest, error) {
	owner, _, _ := strings.Cut(g.opts.Repo, "/")
	q := url.Values{"state": {"all"}, "head": {owner + ":" + head}, "base": {base}, "sort": {"created"}, "direction": {"desc"}, "per_page": {"1"}}
	var batch []githubPR
	if err := g.do(ctx, http.MethodGet, "/repos/"+repoPath(g.opts.Repo)+"/pulls?"+q.Encode(), nil, &batch, g.auth); err != nil {
		return nil, err
	}
	if len(batch) == 0 {
		return nil, nil
	}
	pr := batch[0].pr()
	return &pr, nil
}

func (g *github) ListOpen(ctx context.Context, prefix string) ([]PullRequest, error) {
	return listOpen[githubPR](ctx, g.client, g.auth, prefix, 100, func(page int) string {
		return fmt.Sprintf("/repos/%s/pulls?state=open&sort=created&direction=desc&per_page=100&page=%d", repoPath(g.opts.Repo), page)
	})
}

func (g *github) Close(ctx context.Context, number int, comment string) error {
	return closeIssuePR(ctx, g.client, g.auth, number, comment)
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
	// 409: "Another open merge request already exists for this source
	// branch".
	return openOrUpdate(ctx, g, p, http.StatusConflict, func() (PullRequest, error) {
		var out gitlabMR
		err := g.do(ctx, http.MethodPost, "/projects/"+g.project()+"/merge_requests",
			map[string]any{"source_branch": p.Head, "target_branch": p.Base, "title": p.Title, "description": p.Body}, &out, g.auth)
		return out.pr(), err
	}, func(number int) (PullRequest, error) {
		var out gitlabMR
		err := g.do(ctx, http.MethodPut, fmt.Sprintf("/projects/%s/merge_requests/%d", g.project(), number),
			map[string]any{"title": p.Title, "description": p.Body}, &out, g.auth)
		return out.pr(), err
	})
}

func (g *gitlab) Find(ctx context.Context, base, head string) (*PullRequest, error) {
	q := url.Values{"state": {"all"}, "source_branch": {head}, "target_branch": {base}, "order_by": {"created_at"}, "sort": {"desc"}, "per_page": {"1"}}
	var batch []gitlabMR
	if err := g.do(ctx, http.MethodGet, "/projects/"+g.project()+"/merge_requests?"+q.Encode(), nil, &batch, g.auth); err != nil {
		return nil, err
	}
	if len(batch) == 0 {
		return nil, nil
	}
	mr := batch[0].pr()
	return &mr, nil
}

func (g *gitlab) ListOpen(ctx context.Context, prefix string) ([]PullRequest, error) {
	return listOpen[gitlabMR](ctx, g.client, g.auth, prefix, 100, func(page int) string {
		return fmt.Sprintf("/projects/%s/merge_requests?state=opened&order_by=created_at&per_page=100&page=%d", g.project(), page)
	})
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

// openOrUpdate creates a pull request; when the host answers with the
// status it gives for "one is already open from this head", it updates
// that one instead (one request in the usual case, not a listing first).
func openOrUpdate(ctx context.Context, f Forge, p Proposal, exists int,
	create func() (PullRequest, error), update func(number int) (PullRequest, error)) (PullRequest, error) {
	pr, err := create()
	if !status(err, exists) {
		return pr, err
	}
	open, ferr := f.Find(ctx, p.Base, p.Head)
	if ferr != nil || open == nil || open.State != StateOpen {
		return PullRequest{}, err
	}
	return update(open.Number)
}

// listOpen reads the pages of open pull requests (size per page, at
// most maxPages) and keeps those whose head branch starts with prefix,
// newest first.
func listOpen[T interface{ pr() PullRequest }](ctx context.Context, c *client, auth func(*http.Request), prefix string, size int, page func(n int) string) ([]PullRequest, error) {
	var out []PullRequest
	for n := 1; n <= maxPages; n++ {
		var batch []T
		if err := c.do(ctx, http.MethodGet, page(n), nil, &batch, auth); err != nil {
			return nil, err
		}
		for _, item := range batch {
			if pr := item.pr(); strings.HasPrefix(pr.Head, prefix) {
				out = append(out, pr)
			}
		}
		if len(batch) < size {
			break
		}
	}
	sortNewest(out)
	return out, nil
}

// closeIssuePR closes a pull request on a host where pull requests are
// issues (Gitea, GitHub): the comment on the issue, then the state.
func closeIssuePR(ctx context.Context, c *client, auth func(*http.Request), number int, comment string) error {
	if comment != "" {
		if err := c.do(ctx, http.MethodPost, fmt.Sprintf("/repos/%s/issues/%d/comments", repoPath(c.opts.Repo), number),
			map[string]any{"body": comment}, nil, auth); err != nil {
			return err
		}
	}
	return c.do(ctx, http.MethodPatch, fmt.Sprintf("/repos/%s/pulls/%d", repoPath(c.opts.Repo), number),
		map[string]any{"state": "closed"}, nil, auth)
}

// maxPages bounds the pages of open pull requests read (5,000 or so).
const maxPages = 50

// branchPath escapes each segment of a branch name for a URL path,
// keeping its slashes.
func branchPath(branch string) string {
	parts := strings.Split(branch, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

func sortNewest(prs []PullRequest) {
	sort.SliceStable(prs, func(i, j int) bool { return prs[i].Number > prs[j].Number })
}

var (
	_ Forge = (*gitea)(nil)
	_ Forge = (*github)(nil)
	_ Forge = (*gitlab)(nil)
)
