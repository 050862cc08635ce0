package forge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Kind names a Git host's API.
type Kind string

// The hosts.
const (
	Gitea  Kind = "gitea" // also Forgejo
	GitHub Kind = "github"
	GitLab Kind = "gitlab"
)

// PR states.
const (
	StateOpen   = "open"
	StateClosed = "closed"
	StateMerged = "merged"
)

// PullRequest is a pull (or merge) request.
type PullRequest struct {
	Number int    `json:"number"`
	URL    string `json:"url"`
	Title  string `json:"title"`
	Head   string `json:"head"`
	Base   string `json:"base"`
	// State is open, closed (without merge) or merged.
	State string `json:"state"`
}

// Proposal is a pull request to open.
type Proposal struct {
	Head, Base  string
	Title, Body string
}

// Forge is a Git host's pull-request API.
type Forge interface {
	// Open opens a pull request from Head to Base; when one is already
	// open from Head, it updates that one's title and body.
	Open(ctx context.Context, p Proposal) (PullRequest, error)
	// Find returns the pull request from head to base, in any state
	// (the newest, where the host keeps several), or nil. One request,
	// however many pull requests the repository has.
	Find(ctx context.Context, base, head string) (*PullRequest, error)
	// ListOpen returns the open pull requests whose head branch starts
	// with prefix, newest first.
	ListOpen(ctx context.Context, prefix string) ([]PullRequest, error)
	// Close closes a pull request, leaving a comment first.
	Close(ctx context.Context, number int, comment string) error
	// FileURL links to a file of a branch on the host's web UI.
	FileURL(branch, path string) string
}

// Options configure a Forge client.
type Options struct {
	Kind Kind
	// URL is the host's web root, e.g. https://gitea.example.com or
	// https://github.com (the API root is derived from it).
	URL string
	// APIURL overrides the API root (GitHub Enterprise, self-hosted GitLab).
	APIURL string
	// Repo is "owner/name" (GitLab: the project path).
	Repo string
	// TokenFile holds the API token.
	TokenFile string
	// Timeout bounds each request; 30s when zero.
	Timeout time.Duration
	// Client is the HTTP client; http.DefaultClient's transport when nil.
	Client *http.Client
}

// APIError is an error answer from the host.
type APIError struct {
	Kind   Kind
	Method string
	Path   string
	Status int
	Body   string
}

func (e *APIError) Error() string {
	hint := ""
	switch e.Status {
	case http.StatusUnauthorized:
		hint = " (the token is wrong or expired)"
	case http.StatusForbidden:
		hint = " (the token lacks permission for pull requests on this repository)"
	case http.StatusNotFound:
		hint = " (no such repository, or the token cannot see it)"
	}
	return fmt.Sprintf("%s API %s %s: %d%s: %s", e.Kind, e.Method, e.Path, e.Status, hint, e.Body)
}

// status reports whether err is an answer from the host with one of
// the codes.
func status(err error, codes ...int) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	for _, c := range codes {
		if ae.Status == c {
			return true
		}
	}
	return false
}

// Unauthorized reports whether err is a 401 or 403 from a host.
func Unauthorized(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden)
}

// New returns the client for opts.Kind.
func New(opts Options) (Forge, error) {
	if opts.Repo == "" || !strings.Contains(opts.Repo, "/") {
		return nil, fmt.Errorf("forge: repository %q is not owner/name", opts.Repo)
	}
	data, err := os.ReadFile(opts.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("forge: reading token file: %w", err)
	}
	token := strings.TrimSpace(string(data))
	if token == "" {
		return nil, fmt.Errorf("forge: token file %s is empty", opts.TokenFile)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Client == nil {
		opts.Client = &http.Client{}
	}
	web := strings.TrimRight(opts.URL, "/")
	c := &client{opts: opts, token: token, web: web}
	switch opts.Kind {
	case Gitea:
		c.api = orDefault(opts.APIURL, web+"/api/v1")
		return &gitea{c}, nil
	case GitHub:
		c.api = orDefault(opts.APIURL, "https://api.github.com")
		if web != "" && web != "https://github.com" && opts.APIURL == "" {
			c.api = web + "/api/v3" // GitHub Enterprise
		}
		return &github{c}, nil
	case GitLab:
		c.api = orDefault(opts.APIURL, web+"/api/v4")
		return &gitlab{c}, nil
	}
	return nil, fmt.Errorf("forge: unknown kind %q; want gitea, github or gitlab", opts.Kind)
}

func orDefault(s, def string) string {
	if s != "" {
		return strings.TrimRight(s, "/")
	}
	return def
}

// client does the HTTP of every host.
type client struct {
	opts  Options
	token string
	api   string
	web   string
}

func (c *client) do(ctx context.Context, method, path string, in, out any, auth func(*http.Request)) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.api+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	auth(req)
	resp, err := c.opts.Client.Do(req)
	if err != nil {
		return fmt.Errorf("%s API %s %s: %w", c.opts.Kind, method, path, scrub(err, c.token))
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode >= 300 {
		return &APIError{Kind: c.opts.Kind, Method: method, Path: path, Status: resp.StatusCode,
			Body: strings.ReplaceAll(truncate(string(data), 300), c.token, "<redacted>")}
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s API %s %s: decoding answer: %w", c.opts.Kind, method, path, err)
		}
	}
	return nil
}

func scrub(err error, secret string) error {
	if !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "<redacted>"))
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func repoPath(repo string) string {
	owner, name, _ := strings.Cut(repo, "/")
	return url.PathEscape(owner) + "/" + url.PathEscape(name)
}
