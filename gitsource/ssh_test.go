package gitsource_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mlsync/mlsync/gitsource"
	"github.com/mlsync/mlsync/test/gitserver"
	"github.com/mlsync/mlsync/test/require"
	"github.com/mlsync/mlsync/test/sshserver"
)

// TestSSH fetches and pushes over SSH against a real OpenSSH server with
// strict host-key checking, and fails clearly on an unknown or changed
// host key and on a key the server does not accept.
func TestSSH(t *testing.T) {
	srv, err := sshserver.Start(t.TempDir())
	if err != nil {
		require.Missing(t, "an OpenSSH server (sshd)", ".ci/run installs Debian's openssh-server", err)
	}
	defer srv.Close()
	r := newRepo(t, gitserver.Options{}, map[string]string{"models/fraud.cue": "kind: \"Model\"\n"})
	url := srv.URL(r.srv.Path("specs"))

	auth, err := gitsource.AuthOptions{SSHKeyFile: srv.ClientKey, KnownHostsFile: srv.KnownHosts}.Method(url)
	if err != nil {
		t.Fatal(err)
	}
	rem := remote(t, url, gitsource.Options{Auth: auth})
	snap, err := rem.Checkout(t.Context(), "main")
	if err != nil {
		t.Fatalf("fetch over ssh: %v", err)
	}
	files, err := snap.Files("", nil)
	if err != nil || len(files) != 1 || files[0].Path != "models/fraud.cue" {
		t.Fatalf("files over ssh: %v %v", paths(files), err)
	}
	if res, err := rem.Commit(t.Context(), gitsource.CommitRequest{Branch: "mlsync/status", Message: "status over ssh",
		Files: map[string][]byte{"status/summary.md": []byte("ok\n")}}); err != nil || !res.Changed {
		t.Fatalf("push over ssh: %+v %v", res, err)
	}
	if got := show(t, r.co, "mlsync/status", "status/summary.md"); got != "ok" {
		t.Errorf("pushed file = %q", got)
	}

	// Unknown host: an empty known_hosts.
	empty := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(empty, nil, 0o600)
	auth, _ = gitsource.AuthOptions{SSHKeyFile: srv.ClientKey, KnownHostsFile: empty}.Method(url)
	_, err = remote(t, url, gitsource.Options{Auth: auth}).Head(t.Context(), "main")
	var hk *gitsource.HostKeyError
	if !errors.As(err, &hk) || hk.Mismatch || !strings.Contains(err.Error(), "is not in") {
		t.Errorf("unknown host key: want a HostKeyError, got %v", err)
	}

	// Changed host key: known_hosts holds another key for the host.
	other, err := sshserver.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	wrong := filepath.Join(t.TempDir(), "known_hosts")
	data, _ := os.ReadFile(other.KnownHosts)
	os.WriteFile(wrong, []byte(strings.Replace(string(data), itoa(other.Port), itoa(srv.Port), 1)), 0o600)
	auth, _ = gitsource.AuthOptions{SSHKeyFile: srv.ClientKey, KnownHostsFile: wrong}.Method(url)
	_, err = remote(t, url, gitsource.Options{Auth: auth}).Head(t.Context(), "main")
	if !errors.As(err, &hk) || !hk.Mismatch || !strings.Contains(err.Error(), "host key mismatch") {
		t.Errorf("changed host key: want a mismatch HostKeyError, got %v", err)
	}

	// A client key the server does not accept.
	auth, _ = gitsource.AuthOptions{SSHKeyFile: other.ClientKey, KnownHostsFile: srv.KnownHosts}.Method(url)
	_, err = remote(t, url, gitsource.Options{Auth: auth}).Head(t.Context(), "main")
	if err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Errorf("wrong client key: want an authentication error, got %v", err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
