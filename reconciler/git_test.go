package reconciler_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlsync/mlsync/gitsource"
	"github.com/mlsync/mlsync/kube"
	"github.com/mlsync/mlsync/reconciler"
	"github.com/mlsync/mlsync/reconciler/report"
	"github.com/mlsync/mlsync/test/require"
)

// TestUntrustedCommitRefused: with a verification policy, an unsigned
// head is not applied (the last trusted revision stays) and the status
// says why; a signed commit is applied.
func TestUntrustedCommitRefused(t *testing.T) {
	if _, err := exec.LookPath("gpg"); err != nil {
		require.Missing(t, "gpg", ".ci/run installs Debian's gnupg", err)
	}
	home := t.TempDir()
	t.Setenv("GNUPGHOME", home)
	gpg := func(args ...string) []byte {
		out, err := exec.Command("gpg", append([]string{"--batch", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...).Output()
		if err != nil {
			t.Fatalf("gpg %v: %v", args, err)
		}
		return out
	}
	gpg("--quick-gen-key", "Release <release@example.com>", "ed25519", "sign", "never")
	keyFile := filepath.Join(t.TempDir(), "release.asc")
	os.WriteFile(keyFile, gpg("--armor", "--export", "release@example.com"), 0o644)
	ring, err := gitsource.LoadKeyRing(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(o *reconciler.Options) { o.Verify = gitsource.VerifyPolicy{Keys: ring} })

	// The seed commit is unsigned: refused, nothing applied.
	res := f.pass()
	if !strings.Contains(res.Refused, "not signed") || len(res.Changes) != 0 {
		t.Fatalf("unsigned seed commit: refused=%q changes=%v", res.Refused, res.Changes)
	}
	if f.exists(deployments, "fraud") {
		t.Fatal("an unsigned commit was applied")
	}
	msg, js := f.statusCommit(report.JSONPath)
	if !strings.Contains(js, `"reason": "`+reconciler.ReasonVerificationFailed+`"`) || !strings.Contains(js, "not signed") {
		t.Errorf("status does not explain the refusal:\n%s\n%s", msg, js)
	}

	// A signed commit is applied.
	if err := f.co.Write("models/fraud.cue", fmt.Sprintf(modelSpec, f.ns, 2)); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"add", "-A"}, {"-c", "user.signingkey=release@example.com", "commit", "-q", "-S", "-m", "Signed change"},
		{"push", "-q", "origin", "HEAD"}} {
		if err := f.co.Git(args...); err != nil {
			t.Fatal(err)
		}
	}
	res = f.pass()
	if res.Refused != "" || res.Changes.Count(kube.ActionCreated) == 0 {
		t.Fatalf("signed commit not applied: refused=%q changes=%v", res.Refused, res.Changes)
	}
	if _, js := f.statusCommit(report.JSONPath); !strings.Contains(js, `"signer": "openpgp:`) {
		t.Errorf("status does not name the signer:\n%s", js)
	}
}

// TestREADMEOnlyCommitSkipsRender: a commit touching no spec, overlay or
// manifest becomes the applied revision without touching the cluster.
func TestREADMEOnlyCommitSkipsRender(t *testing.T) {
	f := newFixture(t, nil)
	f.pass()
	head := f.push("README.md", "more docs\n", "Docs only")
	res := f.pass()
	if len(res.Changes) != 0 {
		t.Errorf("a docs-only commit went through apply: %v", res.Changes)
	}
	if msg, _ := f.statusCommit(report.SummaryPath); !strings.Contains(msg, "Applied-Revision: "+head) {
		t.Errorf("the docs-only commit is not the applied revision:\n%s", msg)
	}
}
