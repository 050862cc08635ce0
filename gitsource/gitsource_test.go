package gitsource_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/google/go-cmp/cmp"

	"github.com/mlsync/mlsync/gitsource"
	"github.com/mlsync/mlsync/test/gitserver"
)

// repo is a served repository with a user checkout.
type repo struct {
	srv *gitserver.Server
	url string
	co  *gitserver.Checkout
}

func newRepo(t *testing.T, opts gitserver.Options, files map[string]string) *repo {
	t.Helper()
	srv, err := gitserver.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	seed := t.TempDir()
	for name, content := range files {
		p := filepath.Join(seed, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	url, err := srv.CreateRepo("specs", seed)
	if err != nil {
		t.Fatal(err)
	}
	cloneURL := url
	if opts.Username != "" {
		cloneURL = strings.Replace(url, "http://", "http://"+opts.Username+":"+opts.Password+"@", 1)
	}
	co, err := gitserver.Clone(t.TempDir(), cloneURL)
	if err != nil {
		t.Fatal(err)
	}
	return &repo{srv: srv, url: url, co: co}
}

func (r *repo) commit(t *testing.T, files map[string]string, msg string) string {
	t.Helper()
	for name, content := range files {
		var err error
		if content == "" {
			err = r.co.Remove(name)
		} else {
			err = r.co.Write(name, content)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	h, err := r.co.CommitAndPush(msg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func remote(t *testing.T, url string, opts gitsource.Options) *gitsource.Remote {
	t.Helper()
	opts.URL = url
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second
	}
	r, err := gitsource.NewRemote(opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func paths(files []gitsource.File) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Path)
	}
	return out
}

// fetches counts upload-pack POSTs: the requests that transfer objects.
func fetches(srv *gitserver.Server) int {
	n := 0
	for _, r := range srv.Requests() {
		if r.Method == "POST" && r.Service == "git-upload-pack" {
			n++
		}
	}
	return n
}

func TestFetchPollAndChangedPaths(t *testing.T) {
	for _, mode := range []string{"memory", "disk"} {
		t.Run(mode, func(t *testing.T) {
			r := newRepo(t, gitserver.Options{}, map[string]string{
				"specs/models/fraud.cue": "kind: \"Model\"\n", "specs/pipelines/p.cue": "kind: \"Pipeline\"\n", "README.md": "x\n",
			})
			opts := gitsource.Options{}
			if mode == "disk" {
				opts.CacheDir = t.TempDir()
			}
			rem := remote(t, r.url, opts)
			ctx := t.Context()
			rev, err := rem.Resolve(ctx, gitsource.Ref{Branch: "main"})
			if err != nil {
				t.Fatal(err)
			}
			first, err := rem.Fetch(ctx, rev)
			if err != nil {
				t.Fatal(err)
			}
			if first.Commit.Hash != rev.Hash {
				t.Fatalf("fetched %s, resolved %s", first.Commit.Hash, rev.Hash)
			}
			files, err := first.Files("specs", nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"models/fraud.cue", "pipelines/p.cue"}, paths(files)); diff != "" {
				t.Errorf("files under specs (-want +got):\n%s", diff)
			}

			// Polling with nothing new asks for the refs only: no fetch.
			r.srv.ResetRequests()
			again, err := rem.Resolve(ctx, gitsource.Ref{Branch: "main"})
			if err != nil || again.Hash != rev.Hash {
				t.Fatalf("poll: %v %v", again, err)
			}
			if n := fetches(r.srv); n != 0 {
				t.Errorf("a no-change poll transferred objects: %d upload-pack requests", n)
			}

			// A new commit: fetched, and its changed paths listed.
			head := r.commit(t, map[string]string{"specs/models/fraud.cue": "kind: \"Model\"\nname: \"fraud\"\n",
				"specs/models/churn.cue": "kind: \"Model\"\n", "README.md": "y\n"}, "Change fraud "+mode)
			rev2, err := rem.Resolve(ctx, gitsource.Ref{Branch: "main"})
			if err != nil || rev2.Hash != head {
				t.Fatalf("resolve after push: %v %v (want %s)", rev2, err, head)
			}
			second, err := rem.Fetch(ctx, rev2)
			if err != nil {
				t.Fatal(err)
			}
			changed, err := second.ChangedPaths(first, "specs")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"models/churn.cue", "models/fraud.cue"}, changed); diff != "" {
				t.Errorf("changed paths (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTagsAndSemver(t *testing.T) {
	r := newRepo(t, gitserver.Options{}, map[string]string{"a.txt": "1\n"})
	v1 := r.commit(t, map[string]string{"a.txt": "2\n"}, "two")
	for _, args := range [][]string{{"tag", "v1.0.0"}, {"tag", "-a", "v1.2.0", "-m", "annotated"}} {
		if err := r.co.Git(args...); err != nil {
			t.Fatal(err)
		}
	}
	v2 := r.commit(t, map[string]string{"a.txt": "3\n"}, "three")
	if err := r.co.Git("tag", "v2.0.0"); err != nil {
		t.Fatal(err)
	}
	if err := r.co.Git("push", "-q", "origin", "--tags"); err != nil {
		t.Fatal(err)
	}
	rem := remote(t, r.url, gitsource.Options{})
	tests := []struct {
		ref  string
		want string
	}{
		{"tag:v1.0.0", v1},
		{"tag:v1.2.0", v1}, // annotated: peeled to the commit
		{"semver:>=1.0.0 <2.0.0", v1},
		{"semver:>=1.0.0", v2},
	}
	for _, tc := range tests {
		ref, err := gitsource.ParseRef(tc.ref)
		if err != nil {
			t.Fatal(err)
		}
		rev, err := rem.Resolve(t.Context(), ref)
		if err != nil {
			t.Fatalf("%s: %v", tc.ref, err)
		}
		if rev.Hash != tc.want {
			t.Errorf("%s resolved to %s, want %s", tc.ref, rev.Hash, tc.want)
		}
		snap, err := rem.Fetch(t.Context(), rev)
		if err != nil || snap.Commit.Hash != tc.want {
			t.Errorf("%s: fetched %v, %v", tc.ref, snap, err)
		}
	}
	// A pinned commit that is not a branch tip.
	pinned, _ := gitsource.ParseRef("commit:" + v1)
	rev, _ := rem.Resolve(t.Context(), pinned)
	snap, err := rem.Fetch(t.Context(), rev)
	if err != nil || snap.Commit.Hash != v1 {
		t.Fatalf("pinned commit: %v %v", snap, err)
	}
	if _, err := rem.Resolve(t.Context(), gitsource.Ref{SemVer: ">=3.0.0"}); !isRefNotFound(err) {
		t.Errorf("semver with no match: want RefNotFoundError, got %v", err)
	}
}

func isRefNotFound(err error) bool {
	var e *gitsource.RefNotFoundError
	return errors.As(err, &e)
}

func TestForcePushAndDeletedBranch(t *testing.T) {
	r := newRepo(t, gitserver.Options{}, map[string]string{"a.txt": "1\n"})
	r.commit(t, map[string]string{"a.txt": "2\n"}, "two")
	rem := remote(t, r.url, gitsource.Options{CacheDir: t.TempDir()})
	if _, err := rem.Checkout(t.Context(), "main"); err != nil {
		t.Fatal(err)
	}
	// Rewrite history: reset to the first commit and force-push a new one.
	if err := r.co.Git("reset", "-q", "--hard", "HEAD~1"); err != nil {
		t.Fatal(err)
	}
	if err := r.co.Write("b.txt", "rewritten\n"); err != nil {
		t.Fatal(err)
	}
	if err := r.co.Git("add", "-A"); err != nil {
		t.Fatal(err)
	}
	if err := r.co.Git("commit", "-q", "-m", "rewritten"); err != nil {
		t.Fatal(err)
	}
	if err := r.co.Git("push", "-q", "-f", "origin", "HEAD"); err != nil {
		t.Fatal(err)
	}
	head, _ := r.co.Output("rev-parse", "HEAD")
	snap, err := rem.Checkout(t.Context(), "main")
	if err != nil || snap.Commit.Hash != head {
		t.Fatalf("after force-push: %v %v, want %s", snap, err, head)
	}
	// Delete the branch: a clear error.
	if err := r.co.Git("push", "-q", "origin", "--delete", "main"); err == nil {
		if _, err := rem.Head(t.Context(), "main"); !isRefNotFound(err) || !strings.Contains(err.Error(), "has no ref refs/heads/main") {
			t.Errorf("deleted branch: want a clear RefNotFoundError, got %v", err)
		}
	} else {
		// git refuses to delete the current branch of a bare repo's HEAD;
		// delete it on the server side instead.
		if err := gitserverRun(r.srv.Path("specs"), "update-ref", "-d", "refs/heads/main"); err != nil {
			t.Fatal(err)
		}
		if _, err := rem.Head(t.Context(), "main"); !isRefNotFound(err) {
			t.Errorf("deleted branch: want RefNotFoundError, got %v", err)
		}
	}
}

func TestBasicAuthAndToken(t *testing.T) {
	r := newRepo(t, gitserver.Options{Username: "mlsync", Password: "s3cret-token"}, map[string]string{"a.txt": "1\n"})
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	bad := filepath.Join(dir, "bad")
	os.WriteFile(good, []byte("s3cret-token\n"), 0o600)
	os.WriteFile(bad, []byte("wrong\n"), 0o600)

	auth, err := gitsource.AuthOptions{Username: "mlsync", PasswordFile: good}.Method(r.url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote(t, r.url, gitsource.Options{Auth: auth}).Checkout(t.Context(), "main"); err != nil {
		t.Fatalf("right credentials: %v", err)
	}
	auth, _ = gitsource.AuthOptions{Username: "mlsync", PasswordFile: bad}.Method(r.url)
	_, err = remote(t, r.url, gitsource.Options{Auth: auth}).Head(t.Context(), "main")
	if !errors.Is(err, transport.ErrAuthorizationFailed) && !errors.Is(err, transport.ErrAuthenticationRequired) {
		t.Errorf("wrong password: want an authentication error, got %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "wrong") {
		t.Errorf("the password leaked into the error: %v", err)
	}
	_, err = remote(t, r.url, gitsource.Options{}).Head(t.Context(), "main")
	if !errors.Is(err, transport.ErrAuthenticationRequired) {
		t.Errorf("no credentials: want ErrAuthenticationRequired, got %v", err)
	}
}

func TestHungServerTimesOut(t *testing.T) {
	r := newRepo(t, gitserver.Options{}, map[string]string{"a.txt": "1\n"})
	r.srv.SetHang(true)
	defer r.srv.SetHang(false)
	rem := remote(t, r.url, gitsource.Options{Timeout: 500 * time.Millisecond})
	start := time.Now()
	_, err := rem.Head(t.Context(), "main")
	if err == nil {
		t.Fatal("a hung server answered")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Head took %s against a hung server, timeout 500ms", took)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, err := remote(t, r.url, gitsource.Options{}).Head(ctx, "main"); err == nil {
		t.Error("a hung server answered within the caller's deadline")
	}
}

func gitserverRun(dir string, args ...string) error {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("git %v: %v\n%s", args, err, out)
	}
	return nil
}
