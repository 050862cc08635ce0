package gitsource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"
)

// Signature names the author of mlsync's commits.
type Signature struct {
	Name  string
	Email string
}

// DefaultAuthor is the author of mlsync's commits unless configured.
var DefaultAuthor = Signature{Name: "mlsync", Email: "mlsync@localhost"}

// CommitRequest is a set of file changes to record on a branch.
type CommitRequest struct {
	// Branch to commit to; created (without history) when missing.
	Branch string
	// Files maps repository paths to their new content; a nil value
	// deletes the path. Paths not named are kept as they are, so other
	// writers' files survive.
	Files map[string][]byte
	// Message is the commit message.
	Message string
	// Author of the commit; DefaultAuthor when empty.
	Author Signature
	// Attempts bounds how many times the commit is rebuilt and pushed
	// after the branch moved or the push failed; 5 when zero.
	Attempts int
	// Base names the branch a missing Branch starts from (its tip becomes
	// the parent); without it a missing branch starts with no history.
	Base string
	// Replace rebuilds Branch from Base's tip even when it exists, and
	// force-pushes it: a promotion branch that proposes a newer version
	// replaces the older proposal.
	Replace bool
	// Sign, when set, signs the commit with this OpenPGP key (default:
	// Options.SigningKey).
	Sign *openpgp.Entity
	// Expect lists what paths must hold at the parent commit for the
	// change to apply (an edit made to a file as it was read); when one
	// differs, Commit fails with a *ConflictError and writes nothing.
	Expect map[string][]byte
}

// ConflictError says a path changed since the caller read it: the commit
// would have overwritten someone's change.
type ConflictError struct {
	Branch string
	Path   string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s changed on %s since it was read; not overwriting it (the next pass edits the new version)", e.Path, e.Branch)
}

// CommitResult says what a Commit did.
type CommitResult struct {
	// Commit is the new commit, or the branch's tip when nothing changed.
	Commit string
	// Changed is false when the files were already as requested: then no
	// commit was made.
	Changed bool
	// Attempts is how many push attempts it took.
	Attempts int
}

// PushError says a commit could not be pushed after every attempt. The
// caller keeps its files and tries again later.
type PushError struct {
	URL      string
	Branch   string
	Attempts int
	Err      error
}

func (e *PushError) Error() string {
	return fmt.Sprintf("git remote %s: pushing %s failed after %d attempts: %v", e.URL, e.Branch, e.Attempts, e.Err)
}

func (e *PushError) Unwrap() error { return e.Err }

// Commit records req.Files on req.Branch without a working tree: it
// fetches the branch tip (depth 1), writes a tree that changes exactly the
// named paths, commits it with the tip as parent and pushes. When another
// writer moved the branch in between, the push is refused, and Commit
// fetches the new tip and rebuilds on top of it, so both writers' files
// survive. Transient failures are retried with bounded backoff.
func (r *Remote) Commit(ctx context.Context, req CommitRequest) (CommitResult, error) {
	attempts := req.Attempts
	if attempts <= 0 {
		attempts = 5
	}
	if req.Author.Name == "" {
		req.Author = DefaultAuthor
	}
	if req.Sign == nil {
		req.Sign = r.opts.SigningKey
	}
	delay := 100 * time.Millisecond
	var last error
	for n := 1; n <= attempts; n++ {
		res, err := r.commitOnce(ctx, req)
		if err == nil {
			res.Attempts = n
			return res, nil
		}
		last = err
		if permanent(err) || ctx.Err() != nil {
			break
		}
		if n < attempts {
			select {
			case <-ctx.Done():
			case <-time.After(delay):
			}
			delay = min(delay*2, 5*time.Second)
		}
	}
	return CommitResult{}, &PushError{URL: r.URL(), Branch: req.Branch, Attempts: attempts, Err: last}
}

// checkExpected fails when a path of req.Expect differs at base.
func checkExpected(base *object.Tree, req CommitRequest) error {
	for p, want := range req.Expect {
		var got []byte
		if base != nil {
			if f, err := base.File(p); err == nil {
				if got, err = readBlob(f); err != nil {
					return err
				}
			}
		}
		if !bytes.Equal(got, want) {
			return &ConflictError{Branch: req.Branch, Path: p}
		}
	}
	return nil
}

// permanent reports errors that retrying cannot fix.
func permanent(err error) bool {
	var ce *ConflictError
	return errors.As(err, &ce) ||
		errors.Is(err, transport.ErrAuthenticationRequired) ||
		errors.Is(err, transport.ErrAuthorizationFailed) ||
		errors.Is(err, transport.ErrRepositoryNotFound) ||
		errors.Is(err, transport.ErrInvalidAuthMethod)
}

func (r *Remote) commitOnce(ctx context.Context, req CommitRequest) (CommitResult, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	st := memory.NewStorage()
	repo, err := git.Init(st, nil)
	if err != nil {
		return CommitResult{}, err
	}
	rem, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{r.opts.URL}})
	if err != nil {
		return CommitResult{}, err
	}
	branch := plumbing.NewBranchReferenceName(req.Branch)
	tracking := plumbing.NewRemoteReferenceName("origin", req.Branch)
	var parent *object.Commit
	if !req.Replace {
		if parent, err = fetchTip(ctx, rem, r.opts.Auth, branch, tracking, st); err != nil {
			return CommitResult{}, r.wrap("fetching "+req.Branch, err)
		}
	}
	if parent == nil && req.Base != "" {
		base := plumbing.NewBranchReferenceName(req.Base)
		if parent, err = fetchTip(ctx, rem, r.opts.Auth, base, plumbing.NewRemoteReferenceName("origin", req.Base), st); err != nil {
			return CommitResult{}, r.wrap("fetching "+req.Base, err)
		}
		if parent == nil {
			return CommitResult{}, &RefNotFoundError{URL: r.URL(), Ref: base.String()}
		}
	}
	var base *object.Tree
	if parent != nil {
		if base, err = parent.Tree(); err != nil {
			return CommitResult{}, r.wrap("reading tree of "+req.Branch, err)
		}
	}
	if err := checkExpected(base, req); err != nil {
		return CommitResult{}, err
	}
	treeHash, _, err := writeTree(st, base, req.Files)
	if err != nil {
		return CommitResult{}, fmt.Errorf("building tree for %s: %w", req.Branch, err)
	}
	if parent != nil && treeHash == parent.TreeHash && !req.Replace {
		return CommitResult{Commit: parent.Hash.String()}, nil
	}
	now := time.Now()
	sig := object.Signature{Name: req.Author.Name, Email: req.Author.Email, When: now}
	c := &object.Commit{Author: sig, Committer: sig, Message: req.Message, TreeHash: treeHash}
	if parent != nil {
		c.ParentHashes = []plumbing.Hash{parent.Hash}
	}
	if req.Sign != nil {
		if err := sign(c, req.Sign); err != nil {
			return CommitResult{}, err
		}
	}
	hash, err := storeObject(st, c)
	if err != nil {
		return CommitResult{}, err
	}
	if err := st.SetReference(plumbing.NewHashReference(branch, hash)); err != nil {
		return CommitResult{}, err
	}
	spec := config.RefSpec(branch + ":" + branch)
	if req.Replace {
		spec = "+" + spec
	}
	err = rem.PushContext(ctx, &git.PushOptions{
		RemoteName: "origin",
		Auth:       r.opts.Auth,
		RefSpecs:   []config.RefSpec{spec},
	})
	if err != nil {
		return CommitResult{}, r.wrap("pushing "+req.Branch, err)
	}
	return CommitResult{Commit: hash.String(), Changed: true}, nil
}

// fetchTip fetches branch at depth 1 and returns its tip, or nil when the
// branch (or the whole repository) does not exist yet.
func fetchTip(ctx context.Context, rem *git.Remote, auth transport.AuthMethod,
	branch, tracking plumbing.ReferenceName, st *memory.Storage) (*object.Commit, error) {
	err := rem.FetchContext(ctx, &git.FetchOptions{
		Auth:     auth,
		RefSpecs: []config.RefSpec{config.RefSpec("+" + branch + ":" + tracking)},
		Depth:    1,
		Tags:     git.NoTags,
	})
	switch {
	case errors.Is(err, transport.ErrEmptyRemoteRepository), err != nil && isNoMatchingRef(err):
		return nil, nil
	case err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate):
		return nil, err
	}
	ref, err := st.Reference(tracking)
	if err != nil {
		return nil, err
	}
	return object.GetCommit(st, ref.Hash())
}

// sign adds an OpenPGP signature over the commit's encoding.
func sign(c *object.Commit, key *openpgp.Entity) error {
	var payload plumbing.MemoryObject
	if err := c.EncodeWithoutSignature(&payload); err != nil {
		return err
	}
	data, err := readAll(&payload)
	if err != nil {
		return err
	}
	var sig bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&sig, key, bytes.NewReader(data), nil); err != nil {
		return fmt.Errorf("signing commit: %w", err)
	}
	c.PGPSignature = sig.String()
	return nil
}

// LoadSigningKey reads an armored OpenPGP private key (unencrypted) for
// signing mlsync's commits.
func LoadSigningKey(file string) (*openpgp.Entity, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading signing key: %w", err)
	}
	el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("reading signing key %s: %w", file, err)
	}
	for _, e := range el {
		if e.PrivateKey != nil {
			if e.PrivateKey.Encrypted {
				return nil, fmt.Errorf("signing key %s is passphrase-protected; export it without a passphrase for mlsync", file)
			}
			return e, nil
		}
	}
	return nil, fmt.Errorf("signing key %s holds no private key", file)
}

type encodable interface {
	Encode(plumbing.EncodedObject) error
}

func storeObject(st storer.EncodedObjectStorer, o encodable) (plumbing.Hash, error) {
	obj := st.NewEncodedObject()
	if err := o.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return st.SetEncodedObject(obj)
}

func storeBlob(st storer.EncodedObjectStorer, data []byte) (plumbing.Hash, error) {
	obj := st.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	obj.SetSize(int64(len(data)))
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(data); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return st.SetEncodedObject(obj)
}

// writeTree stores the tree that is base with changes applied (nil content
// deletes) and returns its hash, and whether it is empty. Unchanged
// subtrees keep their hashes, so only the folders on changed paths are
// rewritten.
func writeTree(st storer.EncodedObjectStorer, base *object.Tree, changes map[string][]byte) (plumbing.Hash, bool, error) {
	entries := map[string]object.TreeEntry{}
	if base != nil {
		for _, e := range base.Entries {
			entries[e.Name] = e
		}
	}
	subdirs := map[string]map[string][]byte{}
	for p, data := range changes {
		p = strings.Trim(p, "/")
		dir, rest, nested := strings.Cut(p, "/")
		if nested {
			if subdirs[dir] == nil {
				subdirs[dir] = map[string][]byte{}
			}
			subdirs[dir][rest] = data
			continue
		}
		if data == nil {
			delete(entries, p)
			continue
		}
		h, err := storeBlob(st, data)
		if err != nil {
			return plumbing.ZeroHash, false, err
		}
		entries[p] = object.TreeEntry{Name: p, Mode: filemode.Regular, Hash: h}
	}
	for dir, sub := range subdirs {
		var subBase *object.Tree
		if e, ok := entries[dir]; ok && e.Mode == filemode.Dir {
			t, err := object.GetTree(st, e.Hash)
			if err != nil {
				return plumbing.ZeroHash, false, fmt.Errorf("%s: %w", dir, err)
			}
			subBase = t
		}
		h, empty, err := writeTree(st, subBase, sub)
		if err != nil {
			return plumbing.ZeroHash, false, err
		}
		if empty {
			delete(entries, dir)
			continue
		}
		entries[dir] = object.TreeEntry{Name: dir, Mode: filemode.Dir, Hash: h}
	}
	tree := &object.Tree{}
	for _, e := range entries {
		tree.Entries = append(tree.Entries, e)
	}
	// Git orders entries by name, comparing a folder as if it ended in '/'.
	sortKey := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	sort.Slice(tree.Entries, func(i, j int) bool { return sortKey(tree.Entries[i]) < sortKey(tree.Entries[j]) })
	h, err := storeObject(st, tree)
	return h, len(tree.Entries) == 0, err
}
