package gitserver

import (
	"os"
	"path/filepath"
	"strings"
)

// Checkout is a user's working copy of a served repository, driven with
// the git CLI.
type Checkout struct {
	Dir string
}

// Clone clones url (its main branch) into dir.
func Clone(dir, url string) (*Checkout, error) {
	if err := run("", "git", "clone", "-q", url, dir); err != nil {
		return nil, err
	}
	return &Checkout{Dir: dir}, nil
}

// Write writes a file relative to the working copy, creating folders.
func (c *Checkout) Write(path, content string) error {
	p := filepath.Join(c.Dir, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, []byte(content), 0o644)
}

// Remove deletes a file or folder relative to the working copy.
func (c *Checkout) Remove(path string) error {
	return os.RemoveAll(filepath.Join(c.Dir, filepath.FromSlash(path)))
}

// CommitAndPush commits every change with message and pushes the current
// branch, returning the new commit's hash.
func (c *Checkout) CommitAndPush(message string) (string, error) {
	if err := c.Git("add", "-A"); err != nil {
		return "", err
	}
	if err := c.Git("commit", "-q", "-m", message); err != nil {
		return "", err
	}
	if err := c.Git("push", "-q", "origin", "HEAD"); err != nil {
		return "", err
	}
	return c.Output("rev-parse", "HEAD")
}

// Git runs a git command in the working copy.
func (c *Checkout) Git(args ...string) error {
	return run(c.Dir, "git", args...)
}

// Output runs a git command in the working copy and returns its trimmed
// output.
func (c *Checkout) Output(args ...string) (string, error) {
	out, err := output(c.Dir, "git", args...)
	return strings.TrimSpace(out), err
}
