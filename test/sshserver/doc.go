// Package sshserver runs a real OpenSSH server (Debian's openssh-server)
// on a loopback port for mlsync's Git-over-SSH tests: its own host key,
// one authorized client key, git's upload-pack and receive-pack run by
// the login shell as on any Git host that serves SSH.
//
//	srv, err := sshserver.Start(t.TempDir())
//	defer srv.Close()
//	url := srv.URL("/abs/path/to/repo.git")
//	// srv.ClientKey, srv.KnownHosts: files for the client side
package sshserver
