package gitsource_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlsync/mlsync/gitsource"
	"github.com/mlsync/mlsync/test/gitserver"
	"github.com/mlsync/mlsync/test/require"
)

// gpgKey makes an unprotected OpenPGP signing key in home with gpg and
// returns its fingerprint.
func gpgKey(t *testing.T, home, uid string) string {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		require.Missing(t, "gpg", ".ci/run installs Debian's gnupg", err)
	}
	gpg := func(args ...string) string {
		out, err := exec.Command("gpg", append([]string{"--homedir", home, "--batch", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("gpg %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	gpg("--quick-gen-key", uid, "ed25519", "sign", "never")
	out := gpg("--list-keys", "--with-colons", uid)
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "fpr:") {
			return strings.Split(line, ":")[9]
		}
	}
	t.Fatalf("no fingerprint for %s:\n%s", uid, out)
	return ""
}

func exportPublic(t *testing.T, home, fpr string) string {
	t.Helper()
	out, err := exec.Command("gpg", "--homedir", home, "--batch", "--armor", "--export", fpr).Output()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "key.asc")
	os.WriteFile(p, out, 0o644)
	return p
}

// sshSigningKey makes an SSH key with ssh-keygen and returns the private
// key path (the public key is beside it, .pub).
func sshSigningKey(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "signing")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", p).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	return p
}

// TestVerifyPolicies signs spec commits with gpg and with ssh-keygen
// (through git, as a person would) and checks each policy.
func TestVerifyPolicies(t *testing.T) {
	gpgHome := t.TempDir()
	t.Setenv("GNUPGHOME", gpgHome)
	dev := gpgKey(t, gpgHome, "Dev <dev@example.com>")
	release := gpgKey(t, gpgHome, "Release <release@example.com>")
	sshKey := sshSigningKey(t)
	devRing, err := gitsource.LoadKeyRing(exportPublic(t, gpgHome, dev), sshKey+".pub")
	if err != nil {
		t.Fatal(err)
	}
	releaseRing, err := gitsource.LoadKeyRing(exportPublic(t, gpgHome, release))
	if err != nil {
		t.Fatal(err)
	}
	r := newRepo(t, gitserver.Options{}, map[string]string{"models/fraud.cue": "a\n"})
	rem := remote(t, r.url, gitsource.Options{})
	commit := func(file string, sign ...string) *gitsource.Snapshot {
		t.Helper()
		if err := r.co.Write(file, file+" "+strings.Join(sign, " ")+"\n"); err != nil {
			t.Fatal(err)
		}
		if err := r.co.Git("add", "-A"); err != nil {
			t.Fatal(err)
		}
		args := append(sign, "commit", "-q", "-m", "change "+file)
		if len(sign) > 0 {
			args = append(args, "-S")
		}
		if err := r.co.Git(args...); err != nil {
			t.Fatal(err)
		}
		if err := r.co.Git("push", "-q", "origin", "HEAD"); err != nil {
			t.Fatal(err)
		}
		snap, err := rem.Checkout(t.Context(), "main")
		if err != nil {
			t.Fatal(err)
		}
		return snap
	}
	byDev := []string{"-c", "user.signingkey=" + dev}
	byRelease := []string{"-c", "user.signingkey=" + release}
	bySSH := []string{"-c", "gpg.format=ssh", "-c", "user.signingkey=" + sshKey + ".pub"}
	devOnly := gitsource.VerifyPolicy{Keys: devRing}
	strict := gitsource.VerifyPolicy{Keys: devRing, Paths: []gitsource.PathRule{{Glob: "prod/**", Keys: releaseRing}}}

	tests := []struct {
		name    string
		snap    *gitsource.Snapshot
		changed []string
		policy  gitsource.VerifyPolicy
		wantErr string
	}{
		{"no policy, unsigned", commit("models/a.cue"), []string{"models/a.cue"}, gitsource.VerifyPolicy{}, ""},
		{"unsigned", commit("models/b.cue"), []string{"models/b.cue"}, devOnly, "it is not signed"},
		{"openpgp trusted", commit("models/c.cue", byDev...), []string{"models/c.cue"}, devOnly, ""},
		{"ssh trusted", commit("models/d.cue", bySSH...), []string{"models/d.cue"}, devOnly, ""},
		{"openpgp untrusted", commit("models/e.cue", byRelease...), []string{"models/e.cue"}, devOnly, "does not verify with a trusted key"},
		{"prod needs release key", commit("prod/f.cue", byDev...), []string{"prod/f.cue"}, strict, "does not verify with a trusted key"},
		{"prod signed by release, not dev", commit("prod/g.cue", byRelease...), []string{"prod/g.cue"}, strict, "does not verify"},
		{"dev path with dev key", commit("models/h.cue", byDev...), []string{"models/h.cue"}, strict, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.snap.Verify(tc.policy, tc.changed)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("want trusted, got %v", err)
				}
				return
			}
			var ve *gitsource.VerificationError
			if !errors.As(err, &ve) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("want a VerificationError containing %q, got %v", tc.wantErr, err)
			}
		})
	}
	// A commit signed by a release key alone passes a policy for prod/
	// when the general keys are the release keys too.
	releaseEverywhere := gitsource.VerifyPolicy{Keys: releaseRing, Paths: []gitsource.PathRule{{Glob: "prod/**", Keys: releaseRing}}}
	if _, err := commit("prod/i.cue", byRelease...).Verify(releaseEverywhere, []string{"prod/i.cue"}); err != nil {
		t.Errorf("release-signed prod change rejected: %v", err)
	}
}

func TestFilterGlobs(t *testing.T) {
	f := gitsource.Filter{Include: []string{"models/**", "pipelines/*.cue"}, Ignore: []string{"**/testdata/**"}}
	for p, want := range map[string]bool{
		"models/fraud.cue": true, "models/team/a/fraud.cue": true, "pipelines/p.cue": true,
		"pipelines/sub/p.cue": false, "models/testdata/x.cue": false, "README.md": false,
	} {
		if got := f.Match(p); got != want {
			t.Errorf("Match(%s) = %v, want %v", p, got, want)
		}
	}
}
