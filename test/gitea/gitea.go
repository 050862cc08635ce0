package gitea

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mlsync/mlsync/test/proc"
)

// Version is the Gitea build.sh builds.
const Version = "v1.27.3"

// Dir is where build.sh keeps Gitea.
func Dir() string {
	cache := os.Getenv("MLSYNC_CACHE_DIR")
	if cache == "" {
		if d, err := os.UserCacheDir(); err == nil {
			cache = filepath.Join(d, "mlsync")
		}
	}
	return filepath.Join(cache, "gitea", Version)
}

// Available reports whether the Gitea binary is built.
func Available() bool {
	_, err := os.Stat(filepath.Join(Dir(), "gitea"))
	return err == nil
}

// Server is a running Gitea.
type Server struct {
	URL      string
	User     string
	Password string
	Token    string
	dir      string
	cmd      *exec.Cmd
	done     chan struct{}
}

// Start configures and starts Gitea with data under dir.
func Start(dir string) (*Server, error) {
	bin := filepath.Join(Dir(), "gitea")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	u, err := user.Current()
	if err != nil {
		return nil, err
	}
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), User: "mlsync-admin", Password: "mlsync-Passw0rd!",
		dir: dir, done: make(chan struct{})}
	ini := fmt.Sprintf(`APP_NAME = mlsync test forge
RUN_USER = %s
RUN_MODE = prod
I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true
WORK_PATH = %s

[database]
DB_TYPE = sqlite3
PATH = %s/gitea.db

[repository]
ROOT = %s/repos
DEFAULT_BRANCH = main

[server]
HTTP_ADDR = 127.0.0.1
HTTP_PORT = %d
ROOT_URL = %s/
DISABLE_SSH = true
OFFLINE_MODE = true
STATIC_ROOT_PATH = %s/src
APP_DATA_PATH = %s/data
LFS_START_SERVER = false

[security]
INSTALL_LOCK = true
SECRET_KEY = mlsync-test-secret-key-0123456789abcdef
INTERNAL_TOKEN = eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJuYmYiOjE3MDAwMDAwMDB9.mlsynctestinternaltoken000000000000000
PASSWORD_COMPLEXITY = off
MIN_PASSWORD_LENGTH = 6

[oauth2]
JWT_SECRET = mlsynctestjwtsecret0123456789abcdefghijklmno

[service]
DISABLE_REGISTRATION = true
REQUIRE_SIGNIN_VIEW = false

[log]
MODE = file
LEVEL = Warn
ROOT_PATH = %s/log

[mailer]
ENABLED = false

[indexer]
REPO_INDEXER_ENABLED = false

[cron]
ENABLED = false

; No runners here: Actions would only read every pushed commit's tree
; for workflows (about 0.1 s a push or pull request on 2 cores).
[actions]
ENABLED = false
`, u.Username, dir, dir, dir, port, s.URL, Dir(), dir, dir)
	conf := filepath.Join(dir, "app.ini")
	if err := os.WriteFile(conf, []byte(ini), 0o600); err != nil {
		return nil, err
	}
	run := func(args ...string) (string, error) {
		cmd := exec.Command(bin, append(args, "--config", conf)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GITEA_WORK_DIR="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("gitea %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out), nil
	}
	if _, err := run("migrate"); err != nil {
		return nil, err
	}
	out, err := run("admin", "user", "create", "--admin", "--username", s.User, "--password", s.Password,
		"--email", "admin@example.com", "--must-change-password=false", "--access-token", "--access-token-scopes", "all")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "Access token was successfully created") {
			if f := strings.Fields(line); len(f) > 0 {
				s.Token = f[len(f)-1]
			}
		}
	}
	if s.Token == "" {
		return nil, fmt.Errorf("gitea printed no access token:\n%s", out)
	}
	logFile, err := os.Create(filepath.Join(dir, "web.log"))
	if err != nil {
		return nil, err
	}
	s.cmd = exec.Command(bin, "web", "--config", conf)
	s.cmd.Dir = dir
	s.cmd.Env = append(os.Environ(), "GITEA_WORK_DIR="+dir)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = s.cmd.Wait(); logFile.Close(); close(s.done) }()
	if err := proc.WaitHealthy("gitea", s.URL+"/api/healthz", s.done, filepath.Join(dir, "web.log"), time.Minute, 200*time.Millisecond); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close stops Gitea.
func (s *Server) Close() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.done
		}
	}
}

// API calls the REST API as the admin and decodes the answer into out.
func (s *Server) API(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, _ := json.Marshal(in)
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL+"/api/v1"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "token "+s.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("gitea %s %s: %d: %s", method, path, resp.StatusCode, data)
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

// CreateRepo creates the admin's repository name and pushes the seed
// directory's files to main. It returns the clone URL with credentials
// (for the git CLI and mlsync) and the owner/name path.
func (s *Server) CreateRepo(ctx context.Context, name, seed string) (cloneURL, repo string, err error) {
	if err := s.API(ctx, http.MethodPost, "/user/repos", map[string]any{"name": name, "default_branch": "main"}, nil); err != nil {
		return "", "", err
	}
	u, _ := url.Parse(s.URL)
	u.User = url.UserPassword(s.User, s.Token)
	u.Path = "/" + s.User + "/" + name + ".git"
	cloneURL = u.String()
	work, err := os.MkdirTemp("", "mlsync-gitea-seed-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(work)
	if err := os.CopyFS(work, os.DirFS(seed)); err != nil {
		return "", "", err
	}
	for _, args := range [][]string{{"init", "-q", "--initial-branch=main"}, {"add", "-A"}, {"commit", "-q", "-m", "Initial specs"},
		{"push", "-q", cloneURL, "main"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Data Scientist", "GIT_AUTHOR_EMAIL=ds@example.com",
			"GIT_COMMITTER_NAME=Data Scientist", "GIT_COMMITTER_EMAIL=ds@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("git %v: %v\n%s", args, err, out)
		}
	}
	// Gitea processes a push in a queue: until it has, the repository
	// counts as empty and its pull-request API answers 404.
	repo = s.User + "/" + name
	deadline := time.Now().Add(30 * time.Second)
	for {
		var info struct {
			Empty bool `json:"empty"`
		}
		if err := s.API(ctx, http.MethodGet, "/repos/"+repo, nil, &info); err != nil {
			return "", "", err
		}
		if !info.Empty {
			return cloneURL, repo, nil
		}
		if time.Now().After(deadline) {
			return "", "", fmt.Errorf("gitea: %s still empty 30s after the push", repo)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Merge merges a pull request once Gitea says it is mergeable.
func (s *Server) Merge(ctx context.Context, repo string, number int) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var pr struct {
			Mergeable bool `json:"mergeable"`
		}
		if err := s.API(ctx, http.MethodGet, "/repos/"+repo+"/pulls/"+strconv.Itoa(number), nil, &pr); err != nil {
			return err
		}
		if pr.Mergeable {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("pull request not mergeable after 30s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	return s.API(ctx, http.MethodPost, "/repos/"+repo+"/pulls/"+strconv.Itoa(number)+"/merge", map[string]any{"Do": "merge"}, nil)
}
