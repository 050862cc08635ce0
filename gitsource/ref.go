package gitsource

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/blang/semver/v4"
	"github.com/go-git/go-git/v5/plumbing"
)

// Ref says which commit of the remote to follow: the tip of a branch, a
// tag, the highest tag in a semver range, or one pinned commit. Exactly
// one field is set.
type Ref struct {
	Branch string `json:"branch,omitempty"`
	Tag    string `json:"tag,omitempty"`
	// SemVer is a range such as ">=1.2.0 <2.0.0"; tags are matched with or
	// without a leading "v".
	SemVer string `json:"semver,omitempty"`
	// Commit is a full 40-character commit hash.
	Commit string `json:"commit,omitempty"`
}

// ParseRef parses "main" or "branch:main", "tag:v1.2.0",
// "semver:>=1.0.0 <2.0.0" and "commit:<sha>".
func ParseRef(s string) (Ref, error) {
	kind, value, ok := strings.Cut(s, ":")
	if !ok {
		kind, value = "branch", s
	}
	value = strings.TrimSpace(value)
	if value == "" {
		return Ref{}, fmt.Errorf("ref %q: empty %s", s, kind)
	}
	var r Ref
	switch kind {
	case "branch":
		r.Branch = value
	case "tag":
		r.Tag = value
	case "semver":
		if _, err := semver.ParseRange(value); err != nil {
			return Ref{}, fmt.Errorf("ref %q: semver range: %w", s, err)
		}
		r.SemVer = value
	case "commit":
		if !fullHash.MatchString(value) {
			return Ref{}, fmt.Errorf("ref %q: a pinned commit is a full 40-character hash", s)
		}
		r.Commit = value
	default:
		return Ref{}, fmt.Errorf("ref %q: unknown kind %q; want branch, tag, semver or commit", s, kind)
	}
	return r, nil
}

var fullHash = regexp.MustCompile(`^[0-9a-f]{40}$`)

// String formats the ref as ParseRef reads it.
func (r Ref) String() string {
	switch {
	case r.Tag != "":
		return "tag:" + r.Tag
	case r.SemVer != "":
		return "semver:" + r.SemVer
	case r.Commit != "":
		return "commit:" + r.Commit
	}
	return r.Branch
}

// Revision is the commit a Ref resolved to.
type Revision struct {
	// Name is the ref the commit was found under (refs/heads/main,
	// refs/tags/v1.2.0), empty for a pinned commit.
	Name string `json:"name,omitempty"`
	// Hash is the commit hash.
	Hash string `json:"hash"`
}

// Resolve asks the remote which commit ref names now, transferring the
// ref advertisement only (no objects). A pinned commit resolves without
// asking.
func (r *Remote) Resolve(ctx context.Context, ref Ref) (Revision, error) {
	if ref.Commit != "" {
		return Revision{Hash: ref.Commit}, nil
	}
	refs, err := r.list(ctx)
	if err != nil {
		return Revision{}, err
	}
	switch {
	case ref.Branch != "":
		return find(refs, plumbing.NewBranchReferenceName(ref.Branch), r.URL())
	case ref.Tag != "":
		return findTag(refs, plumbing.NewTagReferenceName(ref.Tag), r.URL())
	case ref.SemVer != "":
		return highestTag(refs, ref.SemVer, r.URL())
	}
	return Revision{}, errors.New("empty ref")
}

func find(refs []*plumbing.Reference, name plumbing.ReferenceName, url string) (Revision, error) {
	for _, ref := range refs {
		if ref.Name() == name {
			return Revision{Name: name.String(), Hash: ref.Hash().String()}, nil
		}
	}
	return Revision{}, &RefNotFoundError{URL: url, Ref: name.String()}
}

// findTag resolves a tag to its commit: an annotated tag's advertisement
// has a peeled entry (name^{}) naming the commit.
func findTag(refs []*plumbing.Reference, name plumbing.ReferenceName, url string) (Revision, error) {
	peeled := plumbing.ReferenceName(name.String() + "^{}")
	var direct *plumbing.Reference
	for _, ref := range refs {
		switch ref.Name() {
		case peeled:
			return Revision{Name: name.String(), Hash: ref.Hash().String()}, nil
		case name:
			direct = ref
		}
	}
	if direct == nil {
		return Revision{}, &RefNotFoundError{URL: url, Ref: name.String()}
	}
	return Revision{Name: name.String(), Hash: direct.Hash().String()}, nil
}

func highestTag(refs []*plumbing.Reference, rng, url string) (Revision, error) {
	match, err := semver.ParseRange(rng)
	if err != nil {
		return Revision{}, fmt.Errorf("semver range %q: %w", rng, err)
	}
	type candidate struct {
		v    semver.Version
		name plumbing.ReferenceName
	}
	var cands []candidate
	for _, ref := range refs {
		name := ref.Name()
		if !name.IsTag() || strings.HasSuffix(name.String(), "^{}") {
			continue
		}
		v, err := semver.ParseTolerant(name.Short())
		if err != nil || !match(v) {
			continue
		}
		cands = append(cands, candidate{v, name})
	}
	if len(cands) == 0 {
		return Revision{}, &RefNotFoundError{URL: url, Ref: "a tag in semver range " + rng}
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].v.GT(cands[j].v) })
	return findTag(refs, cands[0].name, url)
}
