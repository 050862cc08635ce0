package gitsource

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// AuthOptions say how to authenticate to a remote. Secrets are read from
// files, never taken from flags, and never appear in errors or logs.
type AuthOptions struct {
	// Username for HTTPS basic auth (with PasswordFile) or the SSH user
	// (default "git").
	Username string
	// PasswordFile holds the HTTPS password or access token.
	PasswordFile string
	// BearerTokenFile holds an HTTPS bearer token.
	BearerTokenFile string
	// SSHKeyFile is a private key for ssh:// remotes.
	SSHKeyFile string
	// SSHPassphraseFile holds the private key's passphrase, if any.
	SSHPassphraseFile string
	// KnownHostsFile lists the host keys ssh:// remotes may present; by
	// default ~/.ssh/known_hosts. Checking is strict: an unknown or
	// changed host key fails the connection.
	KnownHostsFile string
}

// Method returns the go-git auth method for url, or nil for none.
func (a AuthOptions) Method(url string) (transport.AuthMethod, error) {
	ep, err := transport.NewEndpoint(url)
	if err != nil {
		return nil, fmt.Errorf("git remote %s: %w", Redact(url), err)
	}
	switch ep.Protocol {
	case "http", "https":
		return a.httpAuth()
	case "ssh":
		return a.sshAuth(ep)
	}
	return nil, nil
}

func (a AuthOptions) httpAuth() (transport.AuthMethod, error) {
	switch {
	case a.BearerTokenFile != "" && a.PasswordFile != "":
		return nil, errors.New("git auth: set a password file or a bearer token file, not both")
	case a.BearerTokenFile != "":
		token, err := readSecret(a.BearerTokenFile, "bearer token")
		if err != nil {
			return nil, err
		}
		return &githttp.TokenAuth{Token: token}, nil
	case a.PasswordFile != "":
		password, err := readSecret(a.PasswordFile, "password")
		if err != nil {
			return nil, err
		}
		user := a.Username
		if user == "" {
			user = "git"
		}
		return &githttp.BasicAuth{Username: user, Password: password}, nil
	}
	return nil, nil
}

func (a AuthOptions) sshAuth(ep *transport.Endpoint) (transport.AuthMethod, error) {
	user := a.Username
	if user == "" {
		user = ep.User
	}
	if user == "" {
		user = "git"
	}
	if a.SSHKeyFile == "" {
		return nil, fmt.Errorf("git auth: ssh remote %s needs an SSH key file", ep.Host)
	}
	var passphrase string
	if a.SSHPassphraseFile != "" {
		p, err := readSecret(a.SSHPassphraseFile, "SSH key passphrase")
		if err != nil {
			return nil, err
		}
		passphrase = p
	}
	keys, err := gitssh.NewPublicKeysFromFile(user, a.SSHKeyFile, passphrase)
	if err != nil {
		return nil, fmt.Errorf("git auth: reading SSH key %s: %w", a.SSHKeyFile, scrub(err, passphrase))
	}
	known := a.KnownHostsFile
	if known == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("git auth: no known_hosts file: %w", err)
		}
		known = home + "/.ssh/known_hosts"
	}
	check, err := knownhosts.New(known)
	if err != nil {
		return nil, fmt.Errorf("git auth: reading known_hosts %s: %w", known, err)
	}
	keys.HostKeyCallback = func(host string, remote net.Addr, key ssh.PublicKey) error {
		err := check(host, remote, key)
		var ke *knownhosts.KeyError
		if errors.As(err, &ke) {
			return &HostKeyError{Host: host, Fingerprint: ssh.FingerprintSHA256(key), Known: known, Mismatch: len(ke.Want) > 0}
		}
		return err
	}
	return keys, nil
}

// HostKeyError says an SSH server presented a host key known_hosts does
// not vouch for.
type HostKeyError struct {
	Host        string
	Fingerprint string
	Known       string
	// Mismatch is true when known_hosts has a different key for the host
	// (possible man-in-the-middle), false when the host is unknown.
	Mismatch bool
}

func (e *HostKeyError) Error() string {
	if e.Mismatch {
		return fmt.Sprintf("ssh host key mismatch for %s: it presented %s, which differs from the key in %s (the host key changed, or someone is intercepting the connection)",
			e.Host, e.Fingerprint, e.Known)
	}
	return fmt.Sprintf("ssh host %s is not in %s (it presented %s); add its key with ssh-keyscan after checking the fingerprint",
		e.Host, e.Known, e.Fingerprint)
}

func readSecret(path, what string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("git auth: reading %s file: %w", what, err)
	}
	s := strings.TrimRight(string(data), "\r\n")
	if s == "" {
		return "", fmt.Errorf("git auth: %s file %s is empty", what, path)
	}
	return s, nil
}

// scrub removes a secret from an error's text.
func scrub(err error, secret string) error {
	if secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "<redacted>"))
}
