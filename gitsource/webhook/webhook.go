package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// DefaultMaxBody is the largest payload accepted (GitHub caps its own at
// 25 MB; push payloads are far smaller).
const DefaultMaxBody = 5 << 20

// Provider names a Git host's webhook dialect.
type Provider string

// The providers the handler understands.
const (
	GitHub Provider = "github"
	GitLab Provider = "gitlab"
	Gitea  Provider = "gitea"
)

// Event is a parsed, verified webhook delivery.
type Event struct {
	Provider Provider
	// Kind is the host's event name ("push", "Push Hook", ...).
	Kind string
	// Push is true for a push (of commits or tags).
	Push bool
	// Ref is the pushed ref, e.g. refs/heads/main.
	Ref string
	// After is the new commit of the ref.
	After string
}

// Handler is the webhook endpoint.
type Handler struct {
	// Secret is the shared secret: HMAC key for GitHub and Gitea, token
	// for GitLab. It must not be empty.
	Secret []byte
	// Ref is the ref whose pushes trigger a reconcile; empty for any.
	Ref string
	// OnPush is called for each valid push to Ref.
	OnPush func(Event)
	// MaxBody bounds the payload; DefaultMaxBody when zero.
	MaxBody int64
}

// Errors of Parse, by the HTTP status they map to.
var (
	ErrUnauthorized = errors.New("signature or token missing or wrong")
	ErrTooLarge     = errors.New("payload too large")
	ErrUnknown      = errors.New("not a GitHub, GitLab or Gitea webhook")
)

// ServeHTTP verifies and handles one delivery.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	ev, err := h.Parse(r)
	switch {
	case errors.Is(err, ErrUnauthorized):
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	case errors.Is(err, ErrTooLarge):
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if ev.Push && (h.Ref == "" || ev.Ref == h.Ref) {
		if h.OnPush != nil {
			h.OnPush(ev)
		}
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, "reconcile triggered by push to %s\n", ev.Ref)
		return
	}
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintln(w, "event accepted; nothing to do")
}

// Parse reads, verifies and decodes a delivery.
func (h *Handler) Parse(r *http.Request) (Event, error) {
	if len(h.Secret) == 0 {
		return Event{}, fmt.Errorf("%w: no secret configured", ErrUnauthorized)
	}
	limit := h.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return Event{}, err
	}
	if int64(len(body)) > limit {
		return Event{}, ErrTooLarge
	}
	return Verify(r.Header, body, h.Secret)
}

// Verify checks a delivery's signature or token against secret and
// decodes it.
func Verify(header http.Header, body, secret []byte) (Event, error) {
	var ev Event
	switch {
	case header.Get("X-Gitea-Event") != "" || header.Get("X-Gogs-Event") != "":
		ev.Provider, ev.Kind = Gitea, header.Get("X-Gitea-Event")
		if !hmacOK(body, secret, header.Get("X-Gitea-Signature"), "") {
			return ev, ErrUnauthorized
		}
		ev.Push = ev.Kind == "push"
	case header.Get("X-GitHub-Event") != "":
		ev.Provider, ev.Kind = GitHub, header.Get("X-GitHub-Event")
		if !hmacOK(body, secret, header.Get("X-Hub-Signature-256"), "sha256=") {
			return ev, ErrUnauthorized
		}
		ev.Push = ev.Kind == "push"
	case header.Get("X-Gitlab-Event") != "":
		ev.Provider, ev.Kind = GitLab, header.Get("X-Gitlab-Event")
		token := header.Get("X-Gitlab-Token")
		if token == "" || subtle.ConstantTimeCompare([]byte(token), secret) != 1 {
			return ev, ErrUnauthorized
		}
		ev.Push = ev.Kind == "Push Hook" || ev.Kind == "Tag Push Hook"
	default:
		return ev, ErrUnknown
	}
	if !ev.Push {
		return ev, nil
	}
	var payload struct {
		Ref   string `json:"ref"`
		After string `json:"after"`
	}
	if err := json.Unmarshal(body, &payload); err != nil {
		return ev, fmt.Errorf("decoding %s push payload: %w", ev.Provider, err)
	}
	if !strings.HasPrefix(payload.Ref, "refs/") {
		return ev, fmt.Errorf("%s push payload has no ref", ev.Provider)
	}
	ev.Ref, ev.After = payload.Ref, payload.After
	return ev, nil
}

// hmacOK checks a hex HMAC-SHA256 of body, after an optional prefix.
func hmacOK(body, secret []byte, got, prefix string) bool {
	hexSig, ok := strings.CutPrefix(got, prefix)
	if !ok || hexSig == "" {
		return false
	}
	sig, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal(sig, mac.Sum(nil))
}

// Sign returns the hex HMAC-SHA256 of body, as GitHub ("sha256=" prefix)
// and Gitea (none) send it; for tests and tools that deliver hooks.
func Sign(body, secret []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}
