package gitsource

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/memory"
)

// File is one file of a revision, its path relative to the directory it
// was read from, with forward slashes.
type File struct {
	Path string
	Data []byte
	// Link is the target of a symbolic link; Data is empty then.
	Link string
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

// Snapshot is the tree of one commit.
type Snapshot struct {
	Commit Commit
	// Ref is the ref the commit was fetched by (refs/heads/main), empty
	// for a pinned commit.
	Ref    string
	commit *object.Commit
	tree   *object.Tree
}

// Fetch fetches rev's commit and returns its tree. In memory (the
// default) the fetch is shallow: only that commit's objects. With
// Options.CacheDir the repository is kept on disk with its history and
// each fetch transfers only new objects. A branch may have moved on since
// Resolve: Snapshot.Commit says which commit was fetched.
func (r *Remote) Fetch(ctx context.Context, rev Revision) (*Snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	st, err := r.storage()
	if err != nil {
		return nil, err
	}
	repo, err := openRepo(st, r.opts.URL)
	if err != nil {
		return nil, r.wrap("opening cache", err)
	}
	local := plumbing.ReferenceName("refs/mlsync/fetched")
	src := rev.Name
	if src == "" {
		src = rev.Hash
	}
	fo := &git.FetchOptions{
		RemoteName: "origin",
		Auth:       r.opts.Auth,
		RefSpecs:   []config.RefSpec{config.RefSpec("+" + src + ":" + local.String())},
		Tags:       git.NoTags,
		Force:      true,
	}
	if r.opts.CacheDir == "" {
		fo.Depth = 1
	}
	err = repo.FetchContext(ctx, fo)
	switch {
	case errors.Is(err, git.NoErrAlreadyUpToDate):
	case errors.Is(err, transport.ErrEmptyRemoteRepository), err != nil && isNoMatchingRef(err):
		return nil, &RefNotFoundError{URL: r.URL(), Ref: src}
	case err != nil:
		return nil, r.wrap("fetching "+src, err)
	}
	ref, err := repo.Storer.Reference(local)
	if err != nil {
		return nil, r.wrap("reading fetched "+src, err)
	}
	c, err := peelCommit(repo, ref.Hash())
	if err != nil {
		return nil, r.wrap("reading commit "+ref.Hash().String(), err)
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, r.wrap("reading tree of "+ref.Hash().String(), err)
	}
	return &Snapshot{Commit: commitInfo(c), Ref: rev.Name, commit: c, tree: tree}, nil
}

// peelCommit returns the commit h names, through an annotated tag.
func peelCommit(repo *git.Repository, h plumbing.Hash) (*object.Commit, error) {
	if tag, err := repo.TagObject(h); err == nil {
		return tag.Commit()
	}
	return repo.CommitObject(h)
}

// Checkout resolves branch and fetches its tip.
func (r *Remote) Checkout(ctx context.Context, branch string) (*Snapshot, error) {
	rev, err := r.Resolve(ctx, Ref{Branch: branch})
	if err != nil {
		return nil, err
	}
	return r.Fetch(ctx, rev)
}

// storage returns a fresh in-memory store, or the on-disk cache.
func (r *Remote) storage() (storage.Storer, error) {
	if r.opts.CacheDir == "" {
		return memory.NewStorage(), nil
	}
	sum := sha256.Sum256([]byte(r.opts.URL))
	dir := filepath.Join(r.opts.CacheDir, hex.EncodeToString(sum[:8])+".git")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return diskStorage(dir)
}

// openRepo opens (or initialises) the repository in st with an origin
// remote pointing at url.
func openRepo(st storage.Storer, url string) (*git.Repository, error) {
	repo, err := git.Open(st, nil)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		repo, err = git.Init(st, nil)
	}
	if err != nil {
		return nil, err
	}
	if _, err := repo.Remote("origin"); errors.Is(err, git.ErrRemoteNotFound) {
		_, err = repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{url}})
		if err != nil {
			return nil, err
		}
	}
	return repo, nil
}

func isNoMatchingRef(err error) bool {
	s := err.Error()
	return strings.Contains(s, "couldn't find remote ref") || strings.Contains(s, "reference not found")
}

func commitInfo(c *object.Commit) Commit {
	subject, _, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
	return Commit{Hash: c.Hash.String(), Subject: subject, Author: c.Author.Name, Time: c.Author.When.UTC()}
}

// Files returns the files under dir ("" or "." for the whole tree) for
// which keep returns true (every file when keep is nil), in path order.
// Paths are relative to dir. Symbolic links come back with their target
// in Link; submodules are skipped; a dir that does not exist yields no
// files.
func (s *Snapshot) Files(dir string, keep func(path string) bool) ([]File, error) {
	tree, err := s.subtree(dir)
	if err != nil || tree == nil {
		return nil, err
	}
	var files []File
	err = tree.Files().ForEach(func(f *object.File) error {
		if !f.Mode.IsFile() || (keep != nil && !keep(f.Name)) {
			return nil
		}
		data, err := readBlob(f)
		if err != nil {
			return err
		}
		if f.Mode == filemode.Symlink {
			files = append(files, File{Path: f.Name, Link: string(data)})
			return nil
		}
		files = append(files, File{Path: f.Name, Data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("commit %s: reading files: %w", s.Commit.Short(), err)
	}
	return files, nil
}

func readBlob(f *object.File) ([]byte, error) {
	rd, err := f.Reader()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	defer rd.Close()
	data, err := io.ReadAll(rd)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	return data, nil
}

func (s *Snapshot) subtree(dir string) (*object.Tree, error) {
	dir = strings.Trim(path.Clean("/"+dir), "/")
	if dir == "" {
		return s.tree, nil
	}
	sub, err := s.tree.Tree(dir)
	if errors.Is(err, object.ErrDirectoryNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("commit %s: %s: %w", s.Commit.Short(), dir, err)
	}
	return sub, nil
}

// ChangedPaths lists the paths under dir (relative to it) that differ
// between old and s: added, removed or modified files. It compares the
// two trees' blob hashes, so it needs no history and works across a
// shallow fetch. A nil old means everything changed.
func (s *Snapshot) ChangedPaths(old *Snapshot, dir string) ([]string, error) {
	cur, err := s.blobs(dir)
	if err != nil {
		return nil, err
	}
	if old == nil {
		return sortedKeys(cur), nil
	}
	prev, err := old.blobs(dir)
	if err != nil {
		return nil, err
	}
	var changed []string
	for p, h := range cur {
		if prev[p] != h {
			changed = append(changed, p)
		}
	}
	for p := range prev {
		if _, ok := cur[p]; !ok {
			changed = append(changed, p)
		}
	}
	sort.Strings(changed)
	return changed, nil
}

// blobs maps each file under dir to its blob hash and mode.
func (s *Snapshot) blobs(dir string) (map[string]string, error) {
	tree, err := s.subtree(dir)
	if err != nil || tree == nil {
		return map[string]string{}, err
	}
	out := map[string]string{}
	walker := object.NewTreeWalker(tree, true, nil)
	defer walker.Close()
	for {
		name, entry, err := walker.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if entry.Mode.IsFile() {
			out[name] = entry.Hash.String() + entry.Mode.String()
		}
	}
	return out, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
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
