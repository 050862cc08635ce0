package gitsource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
)

// File is one file of a revision, its path relative to the directory it
// was read from, with forward slashes.
type File struct {
	Path string
	Data []byte
}

// Commit describes one commit.
type Commit struct {
	Hash    string
	Subject string
	Author  string
	Time    time.Time
}

// Short returns the first 7 characters of the hash.
func (c Commit) Short() string { return ShortHash(c.Hash) }

// ShortHash returns the first 7 characters of a commit hash.
func ShortHash(h string) string {
	if len(h) > 7 {
		return h[:7]
	}
	return h
}

// Snapshot is the tree of one commit, held in memory.
type Snapshot struct {
	Commit Commit
	tree   *object.Tree
}

// Checkout fetches the tip of branch shallowly into memory. The branch may
// have moved on since Head answered: Snapshot.Commit says which commit was
// fetched.
func (r *Remote) Checkout(ctx context.Context, branch string) (*Snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	ref := plumbing.NewBranchReferenceName(branch)
	repo, err := git.CloneContext(ctx, memory.NewStorage(), nil, &git.CloneOptions{
		URL:           r.opts.URL,
		Auth:          r.opts.Auth,
		ReferenceName: ref,
		SingleBranch:  true,
		Depth:         1,
		Tags:          git.NoTags,
		NoCheckout:    true,
	})
	if err != nil {
		if errors.Is(err, plumbing.ErrReferenceNotFound) || isNoMatchingRef(err) {
			return nil, &RefNotFoundError{URL: r.URL(), Ref: ref.String()}
		}
		return nil, r.wrap("fetching "+branch, err)
	}
	head, err := repo.Reference(ref, true)
	if err != nil {
		return nil, r.wrap("reading fetched "+branch, err)
	}
	c, err := repo.CommitObject(head.Hash())
	if err != nil {
		return nil, r.wrap("reading commit "+head.Hash().String(), err)
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, r.wrap("reading tree of "+head.Hash().String(), err)
	}
	return &Snapshot{Commit: commitInfo(c), tree: tree}, nil
}

func isNoMatchingRef(err error) bool {
	return strings.Contains(err.Error(), "couldn't find remote ref")
}

func commitInfo(c *object.Commit) Commit {
	subject, _, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
	return Commit{Hash: c.Hash.String(), Subject: subject, Author: c.Author.Name, Time: c.Author.When.UTC()}
}

// Files returns the files under dir ("" or "." for the whole tree) for
// which keep returns true (every file when keep is nil), in path order.
// Paths are relative to dir. Symbolic links and submodules are skipped;
// a dir that does not exist yields no files.
func (s *Snapshot) Files(dir string, keep func(path string) bool) ([]File, error) {
	tree := s.tree
	dir = strings.Trim(path.Clean("/"+dir), "/")
	if dir != "" {
		sub, err := s.tree.Tree(dir)
		if errors.Is(err, object.ErrDirectoryNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("commit %s: %s: %w", s.Commit.Short(), dir, err)
		}
		tree = sub
	}
	var files []File
	err := tree.Files().ForEach(func(f *object.File) error {
		if f.Mode == filemode.Symlink || !f.Mode.IsFile() || (keep != nil && !keep(f.Name)) {
			return nil
		}
		rd, err := f.Reader()
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		defer rd.Close()
		data, err := io.ReadAll(rd)
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		files = append(files, File{Path: f.Name, Data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("commit %s: reading files: %w", s.Commit.Short(), err)
	}
	return files, nil
}

// Redact removes the password from a URL's user information, for logs
// and reports.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "redacted")
	}
	return u.String()
}
