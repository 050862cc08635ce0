package gitsource_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlsync/mlsync/gitsource"
	"github.com/mlsync/mlsync/test/gitserver"
)

// show returns a file's content at a ref of the user's checkout after a
// fetch, or "" when it does not exist there.
func show(t *testing.T, co *gitserver.Checkout, ref, file string) string {
	t.Helper()
	if err := co.Git("fetch", "-q", "origin", ref); err != nil {
		t.Fatal(err)
	}
	out, err := co.Output("show", "FETCH_HEAD:"+file)
	if err != nil {
		return ""
	}
	return out
}

func TestCommitNoChangeNoCommit(t *testing.T) {
	r := newRepo(t, gitserver.Options{}, map[string]string{"a.txt": "1\n"})
	rem := remote(t, r.url, gitsource.Options{})
	req := gitsource.CommitRequest{Branch: "mlsync/status", Message: "status: first",
		Files: map[string][]byte{"status/summary.md": []byte("# ok\n"), "status/status.json": []byte("{}\n")}}
	res, err := rem.Commit(t.Context(), req)
	if err != nil || !res.Changed {
		t.Fatalf("first commit: %+v %v", res, err)
	}
	again, err := rem.Commit(t.Context(), req)
	if err != nil || again.Changed || again.Commit != res.Commit {
		t.Fatalf("same files committed again: %+v %v", again, err)
	}
	if got := show(t, r.co, "mlsync/status", "status/summary.md"); got != "# ok" {
		t.Errorf("summary = %q", got)
	}
	// The status branch has no history of the spec branch.
	if out, _ := r.co.Output("rev-list", "--count", "FETCH_HEAD"); out != "1" {
		t.Errorf("status branch has %s commits, want 1 (no spec history)", out)
	}
	// Deleting a file.
	req.Files = map[string][]byte{"status/status.json": nil}
	req.Message = "status: drop json"
	if res, err := rem.Commit(t.Context(), req); err != nil || !res.Changed {
		t.Fatalf("delete: %+v %v", res, err)
	}
	if got := show(t, r.co, "mlsync/status", "status/status.json"); got != "" {
		t.Errorf("deleted file still there: %q", got)
	}
	if got := show(t, r.co, "mlsync/status", "status/summary.md"); got != "# ok" {
		t.Errorf("other file lost: %q", got)
	}
}

// TestConcurrentWriter: another process pushes to the status branch
// between mlsync's fetch and its push. mlsync rebuilds on the new tip;
// both writers' files survive.
func TestConcurrentWriter(t *testing.T) {
	r := newRepo(t, gitserver.Options{}, map[string]string{"a.txt": "1\n"})
	rem := remote(t, r.url, gitsource.Options{})
	if _, err := rem.Commit(t.Context(), gitsource.CommitRequest{Branch: "mlsync/status", Message: "init",
		Files: map[string][]byte{"status/summary.md": []byte("v1\n")}}); err != nil {
		t.Fatal(err)
	}
	other, err := gitserver.Clone(t.TempDir(), r.url)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Git("checkout", "-q", "mlsync/status"); err != nil {
		t.Fatal(err)
	}
	var fired atomic.Bool
	r.srv.BeforePush(func() {
		// The other writer's own push comes through here too: only the
		// first push (mlsync's) triggers it.
		if !fired.CompareAndSwap(false, true) {
			return
		}
		if err := other.Write("reports/fraud/drift/manual.md", "written by another writer\n"); err != nil {
			t.Error(err)
		}
		if _, err := other.CommitAndPush("another writer's report"); err != nil {
			t.Error(err)
		}
	})
	defer r.srv.BeforePush(nil)
	res, err := rem.Commit(t.Context(), gitsource.CommitRequest{Branch: "mlsync/status", Message: "status: v2",
		Files: map[string][]byte{"status/summary.md": []byte("v2\n")}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts < 2 {
		t.Errorf("commit took %d attempt(s); the concurrent push should have forced a retry", res.Attempts)
	}
	if got := show(t, r.co, "mlsync/status", "status/summary.md"); got != "v2" {
		t.Errorf("mlsync's file = %q, want v2", got)
	}
	if got := show(t, r.co, "mlsync/status", "reports/fraud/drift/manual.md"); got != "written by another writer" {
		t.Errorf("the other writer's file was lost: %q", got)
	}
	if out, _ := r.co.Output("log", "--format=%s", "FETCH_HEAD"); !strings.Contains(out, "another writer's report") {
		t.Errorf("the other writer's commit is not in history:\n%s", out)
	}
}

// TestServerDownThenUp: pushes fail while the server is down (a typed
// error, nothing half-done) and succeed with the same files once it is up.
func TestServerDownThenUp(t *testing.T) {
	r := newRepo(t, gitserver.Options{}, map[string]string{"a.txt": "1\n"})
	rem := remote(t, r.url, gitsource.Options{Timeout: 2 * time.Second})
	req := gitsource.CommitRequest{Branch: "mlsync/status", Message: "status", Attempts: 2,
		Files: map[string][]byte{"status/summary.md": []byte("report\n")}}
	r.srv.SetDown(true)
	_, err := rem.Commit(t.Context(), req)
	var pe *gitsource.PushError
	if !errors.As(err, &pe) || pe.Attempts != 2 {
		t.Fatalf("want a PushError after 2 attempts, got %v", err)
	}
	r.srv.SetDown(false)
	if res, err := rem.Commit(t.Context(), req); err != nil || !res.Changed {
		t.Fatalf("after the server is back: %+v %v", res, err)
	}
	if got := show(t, r.co, "mlsync/status", "status/summary.md"); got != "report" {
		t.Errorf("report = %q", got)
	}
}

func TestPromotionBranch(t *testing.T) {
	r := newRepo(t, gitserver.Options{}, map[string]string{"models/fraud.cue": "version: v1\n", "README.md": "x\n"})
	rem := remote(t, r.url, gitsource.Options{})
	branch := "mlsync/promote/fraud-v2-production"
	if _, err := rem.Commit(t.Context(), gitsource.CommitRequest{Branch: branch, Base: "main", Message: "promote fraud v2",
		Files: map[string][]byte{"models/fraud.cue": []byte("version: v2\n")}}); err != nil {
		t.Fatal(err)
	}
	if got := show(t, r.co, branch, "models/fraud.cue"); got != "version: v2" {
		t.Errorf("pin on the promotion branch = %q", got)
	}
	if got := show(t, r.co, branch, "README.md"); got != "x" {
		t.Errorf("promotion branch did not start from main: README %q", got)
	}
	// main moves on; a newer proposal replaces the branch from main's new tip.
	r.commit(t, map[string]string{"README.md": "y\n"}, "docs")
	if _, err := rem.Commit(t.Context(), gitsource.CommitRequest{Branch: branch, Base: "main", Replace: true,
		Message: "promote fraud v3", Files: map[string][]byte{"models/fraud.cue": []byte("version: v3\n")}}); err != nil {
		t.Fatal(err)
	}
	if got := show(t, r.co, branch, "README.md"); got != "y" {
		t.Errorf("replaced branch not rebuilt from main's tip: README %q", got)
	}
	if out, _ := r.co.Output("log", "--format=%s", "FETCH_HEAD"); strings.Contains(out, "promote fraud v2") {
		t.Errorf("the replaced proposal is still in the branch history:\n%s", out)
	}
}

// TestSignedCommits signs mlsync's commit with an OpenPGP key made by
// gpg and verifies it with the policy, as for a spec commit.
func TestSignedStatusCommit(t *testing.T) {
	gpgHome := t.TempDir()
	key := gpgKey(t, gpgHome, "mlsync bot <bot@example.com>")
	secret := filepath.Join(t.TempDir(), "bot.asc")
	out, err := exec.Command("gpg", "--homedir", gpgHome, "--batch", "--armor", "--export-secret-keys", key).Output()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(secret, out, 0o600)
	entity, err := gitsource.LoadSigningKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	r := newRepo(t, gitserver.Options{}, map[string]string{"a.txt": "1\n"})
	rem := remote(t, r.url, gitsource.Options{})
	if _, err := rem.Commit(t.Context(), gitsource.CommitRequest{Branch: "mlsync/status", Message: "signed status",
		Sign: entity, Files: map[string][]byte{"status/summary.md": []byte("ok\n")}}); err != nil {
		t.Fatal(err)
	}
	// git itself checks the signature with gpg.
	if err := r.co.Git("fetch", "-q", "origin", "mlsync/status"); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("git", "verify-commit", "FETCH_HEAD")
	cmd.Dir = r.co.Dir
	cmd.Env = append(os.Environ(), "GNUPGHOME="+gpgHome)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("git verify-commit rejects mlsync's signature: %v\n%s", err, out)
	}
}
