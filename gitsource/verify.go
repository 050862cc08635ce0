package gitsource

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"os"
	"path"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5/plumbing"
	"golang.org/x/crypto/ssh"
)

// KeyRing is a set of keys allowed to sign commits: OpenPGP public keys
// and SSH public keys.
type KeyRing struct {
	pgp openpgp.EntityList
	ssh []ssh.PublicKey
}

// LoadKeyRing reads keys from files: armored OpenPGP public keys
// ("-----BEGIN PGP PUBLIC KEY BLOCK-----"), or SSH public keys one per
// line as in authorized_keys or allowed_signers (a leading principal is
// skipped).
func LoadKeyRing(files ...string) (KeyRing, error) {
	var kr KeyRing
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return kr, fmt.Errorf("reading keys %s: %w", f, err)
		}
		if bytes.Contains(data, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")) {
			el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
			if err != nil {
				return kr, fmt.Errorf("reading OpenPGP keys %s: %w", f, err)
			}
			kr.pgp = append(kr.pgp, el...)
			continue
		}
		for n, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			key, err := parseSSHKeyLine(line)
			if err != nil {
				return kr, fmt.Errorf("reading SSH keys %s:%d: %w", f, n+1, err)
			}
			kr.ssh = append(kr.ssh, key)
		}
	}
	return kr, nil
}

// parseSSHKeyLine parses "ssh-ed25519 AAAA... comment", with an optional
// allowed_signers principal in front.
func parseSSHKeyLine(line string) (ssh.PublicKey, error) {
	if key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line)); err == nil {
		return key, nil
	}
	if _, rest, ok := strings.Cut(line, " "); ok {
		if key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(strings.TrimSpace(rest))); err == nil {
			return key, nil
		}
	}
	return nil, errors.New("not an SSH public key")
}

// Empty reports whether the ring holds no key.
func (k KeyRing) Empty() bool { return len(k.pgp) == 0 && len(k.ssh) == 0 }

// VerifyPolicy says which commits may be applied.
type VerifyPolicy struct {
	// Keys: when not empty, the commit must be signed by one of them.
	Keys KeyRing
	// Paths are stricter rules: when a commit changes a path matching a
	// rule's glob (path.Match, plus "**" for any depth), it must be
	// signed by one of that rule's keys.
	Paths []PathRule
}

// PathRule requires keys for commits touching paths that match Glob.
type PathRule struct {
	Glob string
	Keys KeyRing
}

// Active reports whether the policy checks anything.
func (p VerifyPolicy) Active() bool { return !p.Keys.Empty() || len(p.Paths) > 0 }

// VerificationError says a commit may not be applied, and why.
type VerificationError struct {
	Commit string
	Reason string
}

func (e *VerificationError) Error() string {
	return fmt.Sprintf("commit %s is not trusted: %s", ShortHash(e.Commit), e.Reason)
}

// Verify checks the snapshot's commit against p, given the paths the
// commit (or the commits since the last applied one) changed. It returns
// a description of the signer when the commit is trusted.
func (s *Snapshot) Verify(p VerifyPolicy, changed []string) (string, error) {
	if !p.Active() {
		return "", nil
	}
	fail := func(format string, args ...any) (string, error) {
		return "", &VerificationError{Commit: s.Commit.Hash, Reason: fmt.Sprintf(format, args...)}
	}
	sig := s.commit.PGPSignature
	if sig == "" {
		return fail("it is not signed")
	}
	var payload plumbing.MemoryObject
	if err := s.commit.EncodeWithoutSignature(&payload); err != nil {
		return fail("encoding it: %v", err)
	}
	data, err := readAll(&payload)
	if err != nil {
		return fail("encoding it: %v", err)
	}
	var required []KeyRing
	if !p.Keys.Empty() {
		required = append(required, p.Keys)
	}
	for _, rule := range p.Paths {
		for _, c := range changed {
			if matchGlob(rule.Glob, c) {
				required = append(required, rule.Keys)
				break
			}
		}
	}
	var signer string
	for _, ring := range required {
		who, err := ring.check(data, sig)
		if err != nil {
			return fail("%v", err)
		}
		signer = who
	}
	return signer, nil
}

func readAll(o *plumbing.MemoryObject) ([]byte, error) {
	rd, err := o.Reader()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(rd)
	return b.Bytes(), err
}

// check verifies an OpenPGP or SSH signature over data with the ring.
func (k KeyRing) check(data []byte, sig string) (string, error) {
	switch {
	case strings.HasPrefix(sig, "-----BEGIN PGP SIGNATURE-----"):
		if len(k.pgp) == 0 {
			return "", errors.New("it has an OpenPGP signature, and no OpenPGP key is trusted for it")
		}
		e, err := openpgp.CheckArmoredDetachedSignature(k.pgp, bytes.NewReader(data), strings.NewReader(sig), nil)
		if err != nil {
			return "", fmt.Errorf("its OpenPGP signature does not verify with a trusted key: %v", err)
		}
		return "openpgp:" + fmt.Sprintf("%X", e.PrimaryKey.Fingerprint), nil
	case strings.HasPrefix(sig, "-----BEGIN SSH SIGNATURE-----"):
		key, err := verifySSHSig(data, sig, "git")
		if err != nil {
			return "", fmt.Errorf("its SSH signature is invalid: %v", err)
		}
		for _, allowed := range k.ssh {
			if bytes.Equal(allowed.Marshal(), key.Marshal()) {
				return "ssh:" + ssh.FingerprintSHA256(key), nil
			}
		}
		return "", fmt.Errorf("it is signed by SSH key %s, which is not trusted here", ssh.FingerprintSHA256(key))
	}
	return "", errors.New("its signature is neither OpenPGP nor SSH")
}

// verifySSHSig checks an armored SSH signature (ssh-keygen -Y sign, as
// git writes with gpg.format=ssh) over data in namespace, returning the
// signing key. The format is OpenSSH's PROTOCOL.sshsig.
func verifySSHSig(data []byte, armored, namespace string) (ssh.PublicKey, error) {
	body := strings.TrimSpace(armored)
	body = strings.TrimPrefix(body, "-----BEGIN SSH SIGNATURE-----")
	body = strings.TrimSuffix(body, "-----END SSH SIGNATURE-----")
	blob, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(body), ""))
	if err != nil {
		return nil, fmt.Errorf("decoding: %v", err)
	}
	if !bytes.HasPrefix(blob, []byte("SSHSIG")) {
		return nil, errors.New("no SSHSIG magic")
	}
	var sig struct {
		Version   uint32
		PublicKey []byte
		Namespace string
		Reserved  string
		HashAlg   string
		Signature []byte
	}
	if err := ssh.Unmarshal(blob[6:], &sig); err != nil {
		return nil, fmt.Errorf("parsing: %v", err)
	}
	if sig.Version != 1 {
		return nil, fmt.Errorf("unsupported version %d", sig.Version)
	}
	if sig.Namespace != namespace {
		return nil, fmt.Errorf("namespace %q, want %q", sig.Namespace, namespace)
	}
	key, err := ssh.ParsePublicKey(sig.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("public key: %v", err)
	}
	var h hash.Hash
	switch sig.HashAlg {
	case "sha256":
		h = sha256.New()
	case "sha512":
		h = sha512.New()
	default:
		return nil, fmt.Errorf("unsupported hash %q", sig.HashAlg)
	}
	h.Write(data)
	signed := ssh.Marshal(struct {
		Namespace string
		Reserved  string
		HashAlg   string
		Hash      []byte
	}{sig.Namespace, sig.Reserved, sig.HashAlg, h.Sum(nil)})
	signed = append([]byte("SSHSIG"), signed...)
	var s ssh.Signature
	if err := ssh.Unmarshal(sig.Signature, &s); err != nil {
		return nil, fmt.Errorf("signature: %v", err)
	}
	if err := key.Verify(signed, &s); err != nil {
		return nil, errors.New("does not verify")
	}
	return key, nil
}

// matchGlob matches a slash-separated path against a pattern where "**"
// matches any number of path elements and other elements follow
// path.Match.
func matchGlob(pattern, name string) bool {
	return matchParts(strings.Split(pattern, "/"), strings.Split(name, "/"))
}

func matchParts(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(name); i++ {
				if matchParts(pat[1:], name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], name[0]); !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}
