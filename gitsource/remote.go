package gitsource

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"
)

// Options configure a Remote.
type Options struct {
	// URL of the repository: https://, http://, ssh:// or file://.
	URL string
	// Auth authenticates to the remote; nil for none.
	Auth transport.AuthMethod
	// Timeout bounds every network call (list, fetch, push).
	Timeout time.Duration
	// CacheDir, when set, keeps a bare clone with history on disk there
	// (one folder per URL) and fetches incrementally; by default every
	// fetch is shallow, into memory.
	CacheDir string
	// SigningKey, when set, signs every commit the Remote makes.
	SigningKey *openpgp.Entity
}

// DefaultTimeout is the network timeout used when Options.Timeout is zero.
const DefaultTimeout = 60 * time.Second

// Remote is one Git repository mlsync reads specs from and writes reports
// to. A Remote is safe for concurrent use.
type Remote struct {
	opts Options
}

// NewRemote returns a Remote for opts.URL. It does not contact the remote.
func NewRemote(opts Options) (*Remote, error) {
	if opts.URL == "" {
		return nil, errors.New("git remote URL is empty")
	}
	if _, err := transport.NewEndpoint(opts.URL); err != nil {
		return nil, fmt.Errorf("git remote %s: %w", Redact(opts.URL), err)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	return &Remote{opts: opts}, nil
}

// URL returns the remote's URL with any password removed.
func (r *Remote) URL() string { return Redact(r.opts.URL) }

// RefNotFoundError says the remote has no such branch or tag.
type RefNotFoundError struct {
	URL string
	Ref string
}

func (e *RefNotFoundError) Error() string {
	return fmt.Sprintf("git remote %s has no ref %s", e.URL, e.Ref)
}

// Head asks the remote which commit branch points at. It transfers the
// ref advertisement only, no objects: this is the cheap question every
// poll asks first.
func (r *Remote) Head(ctx context.Context, branch string) (string, error) {
	rev, err := r.Resolve(ctx, Ref{Branch: branch})
	return rev.Hash, err
}

func (r *Remote) list(ctx context.Context) ([]*plumbing.Reference, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	rem := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{r.opts.URL}})
	refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: r.opts.Auth, PeelingOption: git.AppendPeeled})
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return nil, nil
	}
	if err != nil {
		return nil, r.wrap("listing refs", err)
	}
	return refs, nil
}

func (r *Remote) wrap(op string, err error) error {
	return fmt.Errorf("git remote %s: %s: %w", r.URL(), op, err)
}
