package forge_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlsync/mlsync/gitsource/forge"
	"github.com/mlsync/mlsync/test/gitea"
	"github.com/mlsync/mlsync/test/require"
)

// TestGitea runs the Gitea client against a real Gitea: open, update in
// place, find, list, close, and a wrong token. (The GitHub and GitLab
// clients have no real host to run against here.)
func TestGitea(t *testing.T) {
	if !gitea.Available() {
		require.Missing(t, "the Gitea binary", "test/gitea/build.sh builds it once into the cache, and .ci/run runs that", nil)
	}
	srv, err := gitea.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	seed := t.TempDir()
	os.WriteFile(filepath.Join(seed, "README.md"), []byte("specs\n"), 0o644)
	cloneURL, repo, err := srv.CreateRepo(ctx, fmt.Sprintf("forge-%d", time.Now().UnixNano()), seed)
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	for _, args := range [][]string{
		{"clone", "-q", cloneURL, work},
		{"-C", work, "checkout", "-q", "-b", "mlsync/promote/fraud-v2-production"},
		{"-C", work, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "pin v2"},
		{"-C", work, "push", "-q", "origin", "HEAD"},
	} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	token := filepath.Join(t.TempDir(), "token")
	os.WriteFile(token, []byte(srv.Token+"\n"), 0o600)
	f, err := forge.New(forge.Options{Kind: forge.Gitea, URL: srv.URL, Repo: repo, TokenFile: token})
	if err != nil {
		t.Fatal(err)
	}
	const head = "mlsync/promote/fraud-v2-production"
	if pr, err := f.Find(ctx, "main", head); err != nil || pr != nil {
		t.Fatalf("Find before any pull request = %+v, %v; want nil", pr, err)
	}
	pr, err := f.Open(ctx, forge.Proposal{Head: head, Base: "main", Title: "promote fraud v2 to production", Body: "first"})
	if err != nil || pr.Number == 0 || pr.State != forge.StateOpen || pr.Head != head || !strings.HasPrefix(pr.URL, srv.URL) {
		t.Fatalf("Open = %+v, %v", pr, err)
	}
	again, err := f.Open(ctx, forge.Proposal{Head: head, Base: "main", Title: "promote fraud v2 to production (updated)", Body: "second"})
	if err != nil || again.Number != pr.Number || again.Title != "promote fraud v2 to production (updated)" {
		t.Fatalf("Open of the same head = %+v, %v; want #%d updated", again, err, pr.Number)
	}
	found, err := f.Find(ctx, "main", head)
	if err != nil || found == nil || found.Number != pr.Number || found.State != forge.StateOpen {
		t.Fatalf("Find = %+v, %v", found, err)
	}
	open, err := f.ListOpen(ctx, "mlsync/promote/fraud-")
	if err != nil || len(open) != 1 || open[0].Number != pr.Number {
		t.Fatalf("ListOpen = %+v, %v", open, err)
	}
	if open, err := f.ListOpen(ctx, "mlsync/promote/churn-"); err != nil || len(open) != 0 {
		t.Fatalf("ListOpen of another model = %+v, %v", open, err)
	}
	if err := f.Close(ctx, pr.Number, "Superseded."); err != nil {
		t.Fatal(err)
	}
	if found, err := f.Find(ctx, "main", head); err != nil || found == nil || found.State != forge.StateClosed {
		t.Fatalf("Find after Close = %+v, %v", found, err)
	}
	if open, err := f.ListOpen(ctx, "mlsync/promote/fraud-"); err != nil || len(open) != 0 {
		t.Fatalf("ListOpen after Close = %+v, %v", open, err)
	}
	if !strings.Contains(f.FileURL("mlsync/status", "registry/fraud.json"), "/src/branch/mlsync/status/registry/fraud.json") {
		t.Errorf("FileURL = %s", f.FileURL("mlsync/status", "registry/fraud.json"))
	}

	os.WriteFile(token, []byte("0123456789abcdef0123456789abcdef01234567"), 0o600)
	bad, err := forge.New(forge.Options{Kind: forge.Gitea, URL: srv.URL, Repo: repo, TokenFile: token})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.ListOpen(ctx, "mlsync/promote/")
	if !forge.Unauthorized(err) || strings.Contains(err.Error(), "0123456789abcdef") {
		t.Errorf("a wrong token: err = %v; want unauthorized, without the token", err)
	}
}
