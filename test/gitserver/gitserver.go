package gitserver

import (
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// Options configure a Server.
type Options struct {
	// Root holds the bare repositories; a temporary directory when empty.
	Root string
	// Username and Password, when set, require HTTP basic auth.
	Username, Password string
	// Addr to listen on; 127.0.0.1:0 when empty.
	Addr string
}

// Request is one HTTP request the server answered.
type Request struct {
	Method string
	Path   string
	// Service is the Git service asked for: git-upload-pack (fetch) or
	// git-receive-pack (push), from the URL or the query.
	Service string
	Status  int
}

// Server is a running smart-HTTP Git server.
type Server struct {
	opts    Options
	ownRoot bool
	ln      net.Listener
	srv     *http.Server
	backend http.Handler

	mu   sync.Mutex
	reqs []Request
	// down answers every request with 503 while set; hang holds every
	// request until the client gives up.
	down, hang bool
	// beforePush runs before each push is handed to git, e.g. to push
	// a concurrent writer's commit first.
	beforePush func()
}

// SetDown makes the server answer 503 Service Unavailable (true) or
// serve again (false).
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

// SetHang makes the server accept requests and never answer, until the
// client gives up (true), or serve again (false).
func (s *Server) SetHang(hang bool) {
	s.mu.Lock()
	s.hang = hang
	s.mu.Unlock()
}

// BeforePush sets a function run before each push reaches git; nil
// removes it. It runs once per push request.
func (s *Server) BeforePush(fn func()) {
	s.mu.Lock()
	s.beforePush = fn
	s.mu.Unlock()
}

// Start starts a server on loopback.
func Start(opts Options) (*Server, error) {
	s := &Server{opts: opts}
	if s.opts.Root == "" {
		root, err := os.MkdirTemp("", "mlsync-git-")
		if err != nil {
			return nil, err
		}
		s.opts.Root, s.ownRoot = root, true
	}
	gitPath, err := exec.LookPath("git")
	if err != nil {
		return nil, fmt.Errorf("git CLI not found: %w", err)
	}
	s.backend = &cgi.Handler{
		Path: gitPath,
		Args: []string{"http-backend"},
		Env:  []string{"GIT_PROJECT_ROOT=" + s.opts.Root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if s.ln, err = net.Listen("tcp", addr); err != nil {
		return nil, err
	}
	s.srv = &http.Server{Handler: s}
	go s.srv.Serve(s.ln)
	return s, nil
}

// ServeHTTP checks credentials, records the request and hands it to git
// http-backend.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		s.mu.Lock()
		s.reqs = append(s.reqs, Request{Method: r.Method, Path: r.URL.Path, Service: service(r), Status: rec.status})
		s.mu.Unlock()
	}()
	s.mu.Lock()
	down, hang, before := s.down, s.hang, s.beforePush
	s.mu.Unlock()
	switch {
	case hang:
		<-r.Context().Done()
		rec.status = 0
		return
	case down:
		http.Error(rec, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	if s.opts.Username != "" {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(s.opts.Username)) != 1 ||
			subtle.ConstantTimeCompare([]byte(p), []byte(s.opts.Password)) != 1 {
			rec.Header().Set("WWW-Authenticate", `Basic realm="mlsync-test"`)
			http.Error(rec, "authentication required", http.StatusUnauthorized)
			return
		}
	}
	if before != nil && r.Method == http.MethodPost && service(r) == "git-receive-pack" {
		before()
	}
	s.backend.ServeHTTP(rec, r)
}

func service(r *http.Request) string {
	if svc := r.URL.Query().Get("service"); svc != "" {
		return svc
	}
	return filepath.Base(r.URL.Path)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Path returns the bare repository's directory, for ssh:// and file://
// access to the same repository.
func (s *Server) Path(name string) string { return filepath.Join(s.opts.Root, name+".git") }

// URL returns the clone URL of the repository called name.
func (s *Server) URL(name string) string {
	return "http://" + s.ln.Addr().String() + "/" + name + ".git"
}

// Root is the directory holding the bare repositories.
func (s *Server) Root() string { return s.opts.Root }

// Requests returns the requests answered so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// ResetRequests forgets the requests recorded so far.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	s.reqs = nil
	s.mu.Unlock()
}

// CreateRepo creates the bare repository name with a main branch and, when
// seed is a directory, one commit holding its files. It returns the URL.
func (s *Server) CreateRepo(name, seed string) (string, error) {
	bare := filepath.Join(s.opts.Root, name+".git")
	if err := run("", "git", "init", "--bare", "--initial-branch=main", bare); err != nil {
		return "", err
	}
	for _, kv := range [][2]string{{"http.receivepack", "true"}, {"uploadpack.allowReachableSHA1InWant", "true"},
		{"receive.denyNonFastForwards", "false"}} {
		if err := run(bare, "git", "config", kv[0], kv[1]); err != nil {
			return "", err
		}
	}
	if seed == "" {
		return s.URL(name), nil
	}
	work, err := os.MkdirTemp("", "mlsync-seed-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	if err := os.CopyFS(work, os.DirFS(seed)); err != nil {
		return "", fmt.Errorf("copying seed %s: %w", seed, err)
	}
	for _, args := range [][]string{
		{"init", "--initial-branch=main"},
		{"add", "-A"},
		{"commit", "-q", "-m", "Initial specs"},
		{"push", "-q", bare, "main"},
	} {
		if err := run(work, "git", args...); err != nil {
			return "", err
		}
	}
	return s.URL(name), nil
}

// Close stops the server and removes a temporary root.
func (s *Server) Close() error {
	err := s.srv.Close()
	if s.ownRoot {
		os.RemoveAll(s.opts.Root)
	}
	return err
}

// run runs a git command in dir with a fixed identity and no user config.
func run(dir, name string, args ...string) error {
	_, err := output(dir, name, args...)
	return err
}

func output(dir, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), gitEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

var gitEnv = []string{
	"GIT_AUTHOR_NAME=Data Scientist", "GIT_AUTHOR_EMAIL=ds@example.com",
	"GIT_COMMITTER_NAME=Data Scientist", "GIT_COMMITTER_EMAIL=ds@example.com",
	"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
}
