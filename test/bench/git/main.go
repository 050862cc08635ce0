package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mlsync/mlsync/gitsource"
	"github.com/mlsync/mlsync/test/bench/stats"
	"github.com/mlsync/mlsync/test/gitserver"
)

func main() {
	runs := flag.Int("runs", 5, "runs of each measurement")
	commits := flag.Int("commits", 5000, "commits in the generated repository")
	files := flag.Int("files", 2000, "files in the generated repository")
	child := flag.String("child", "", "internal: run one measured operation in this process")
	flag.Parse()
	if *child != "" {
		if err := childRun(*child, flag.Args()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if err := run(*runs, *commits, *files); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(runs, commits, files int) error {
	dir, err := os.MkdirTemp("", "mlsync-gitbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := gitserver.Start(gitserver.Options{Root: filepath.Join(dir, "served")})
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(os.Stderr, "generating %d commits over %d files\n", commits, files)
	if err := generate(srv, "big", commits, files); err != nil {
		return err
	}
	url := srv.URL("big")
	work := filepath.Join(dir, "work")
	if err := git("", "clone", "-q", url, work); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	s := stats.Samples{}
	ctx := context.Background()
	rem, err := gitsource.NewRemote(gitsource.Options{URL: url})
	if err != nil {
		return err
	}
	for i := 1; i <= runs; i++ {
		fmt.Fprintf(os.Stderr, "run %d/%d\n", i, runs)
		// Poll with nothing new.
		for range 5 {
			start := time.Now()
			if _, err := rem.Resolve(ctx, gitsource.Ref{Branch: "main"}); err != nil {
				return err
			}
			s.Add("poll mlsync", ms(start))
			start = time.Now()
			if err := git("", "ls-remote", "-q", url, "refs/heads/main"); err != nil {
				return err
			}
			s.Add("poll git", ms(start))
		}
		// Incremental fetch of 10 new commits: prime both caches, push 10
		// commits, fetch them.
		cache := filepath.Join(dir, fmt.Sprintf("cache-%d", i))
		bare := filepath.Join(dir, fmt.Sprintf("bare-%d.git", i))
		if _, _, err := measure(self, "fetch-disk", url, cache); err != nil {
			return err
		}
		if err := git("", "clone", "-q", "--bare", url, bare); err != nil {
			return err
		}
		for c := range 10 {
			p := filepath.Join(work, "models", fmt.Sprintf("m%04d.cue", (i*37+c)%files))
			if err := os.WriteFile(p, fmt.Appendf(nil, "kind: \"Model\"\nname: \"m%d\"\nrun: %d\n", c, i), 0o644); err != nil {
				return err
			}
			if err := git(work, "add", "-A"); err != nil {
				return err
			}
			if err := git(work, "commit", "-q", "-m", fmt.Sprintf("change %d/%d", i, c)); err != nil {
				return err
			}
		}
		if err := git(work, "push", "-q", "origin", "HEAD"); err != nil {
			return err
		}
		t, rss, err := measure(self, "fetch-disk", url, cache)
		if err != nil {
			return err
		}
		s.Add("incr mlsync", t)
		s.Add("incr mlsync rss", rss)
		t, rss, err = measureCmd(exec.Command("git", "-C", bare, "fetch", "-q", "origin", "+refs/heads/main:refs/heads/main"))
		if err != nil {
			return err
		}
		s.Add("incr git", t)
		s.Add("incr git rss", rss)
		// First shallow fetch.
		t, rss, err = measure(self, "fetch-shallow", url)
		if err != nil {
			return err
		}
		s.Add("shallow mlsync", t)
		s.Add("shallow mlsync rss", rss)
		t, rss, err = measureCmd(exec.Command("git", "clone", "-q", "--depth", "1", "--bare", url, filepath.Join(dir, fmt.Sprintf("shallow-%d.git", i))))
		if err != nil {
			return err
		}
		s.Add("shallow git", t)
		s.Add("shallow git rss", rss)
		// Status commit + push of 10 files.
		for k := range 3 {
			filesMap := map[string][]byte{}
			for f := range 10 {
				filesMap[fmt.Sprintf("reports/m%d/runs/r%d.json", f, k)] = fmt.Appendf(nil, "{\"run\": %d, \"i\": %d}\n", k, i)
			}
			start := time.Now()
			if _, err := rem.Commit(ctx, gitsource.CommitRequest{Branch: "mlsync/status", Files: filesMap,
				Message: fmt.Sprintf("status %d.%d", i, k)}); err != nil {
				return err
			}
			s.Add("status mlsync", ms(start))
		}
		statusWork := filepath.Join(dir, fmt.Sprintf("status-%d", i))
		if err := git("", "clone", "-q", "--depth", "1", "-b", "mlsync/status", url, statusWork); err != nil {
			return err
		}
		for k := range 3 {
			start := time.Now()
			for f := range 10 {
				p := filepath.Join(statusWork, "reports", fmt.Sprintf("g%d", f), fmt.Sprintf("r%d-%d.json", i, k))
				os.MkdirAll(filepath.Dir(p), 0o755)
				os.WriteFile(p, []byte("{}\n"), 0o644)
			}
			if err := git(statusWork, "add", "-A"); err != nil {
				return err
			}
			if err := git(statusWork, "commit", "-q", "-m", "status"); err != nil {
				return err
			}
			if err := git(statusWork, "push", "-q", "origin", "HEAD"); err != nil {
				return err
			}
			s.Add("status git", ms(start))
		}
	}
	fmt.Printf("Repository: %d commits, %d files, smart HTTP (git http-backend) on loopback. Medians of %d runs (polls: 5 per run; status commits: 3 per run), range in brackets.\n\n", commits, files, runs)
	fmt.Println("| measurement | target | mlsync | git CLI |")
	fmt.Println("|---|---|---|---|")
	fmt.Printf("| poll, nothing new | < 20 ms | %.1f ms [%s] | %.1f ms [%s] (`git ls-remote`) |\n", s.Median("poll mlsync"), s.Range("poll mlsync", 1), s.Median("poll git"), s.Range("poll git", 1))
	fmt.Printf("| incremental fetch of 10 commits | < 100 ms, < 50 MiB | %.1f ms [%s], %.0f MiB peak RSS | %.1f ms [%s], %.0f MiB (`git fetch`, bare) |\n",
		s.Median("incr mlsync"), s.Range("incr mlsync", 1), s.Median("incr mlsync rss"), s.Median("incr git"), s.Range("incr git", 1), s.Median("incr git rss"))
	fmt.Printf("| first shallow fetch | peak RSS within 2x of git | %.1f ms, %.0f MiB peak RSS [%s] | %.1f ms, %.0f MiB [%s] (`git clone --depth 1 --bare`) |\n",
		s.Median("shallow mlsync"), s.Median("shallow mlsync rss"), s.Range("shallow mlsync rss", 1), s.Median("shallow git"), s.Median("shallow git rss"), s.Range("shallow git rss", 1))
	fmt.Printf("| status commit + push of 10 files | < 100 ms | %.1f ms [%s] | %.1f ms [%s] (worktree `add`, `commit`, `push`) |\n",
		s.Median("status mlsync"), s.Range("status mlsync", 1), s.Median("status git"), s.Range("status git", 1))
	fmt.Printf("\nPeak RSS of the shallow fetch: mlsync / git = %.2fx. mlsync figures are whole processes (a Go binary doing only that operation), like git's.\n",
		s.Median("shallow mlsync rss")/s.Median("shallow git rss"))
	return nil
}

func ms(start time.Time) float64 { return float64(time.Since(start).Microseconds()) / 1000 }

// measure runs one operation in a child process and returns the time the
// child reports and its peak RSS in MiB.
// measure runs one operation in a child process and returns the time the
// child reports and its peak RSS in MiB. Children are started through
// GNU time: a child forked straight from this process would inherit this
// process's RSS high-water mark (Linux keeps it across fork and exec).
func measure(self string, op string, args ...string) (float64, float64, error) {
	cmd := exec.Command("/usr/bin/time", append([]string{"-f", "maxrss=%M", self, "--child", op}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("child %s: %v\n%s", op, err, errOut.String())
	}
	t, err := strconv.ParseFloat(strings.TrimSpace(out.String()), 64)
	if err != nil {
		return 0, 0, fmt.Errorf("child %s printed %q", op, out.String())
	}
	rss, err := maxRSS(errOut.String())
	if err != nil {
		return 0, 0, err
	}
	fmt.Fprintf(os.Stderr, "  mlsync %s: %.1f ms, %.1f MiB\n", op, t, rss)
	return t, rss, nil
}

func maxRSS(timeOutput string) (float64, error) {
	i := strings.LastIndex(timeOutput, "maxrss=")
	if i < 0 {
		return 0, fmt.Errorf("no maxrss in %q", timeOutput)
	}
	kb, err := strconv.ParseFloat(strings.TrimSpace(timeOutput[i+len("maxrss="):]), 64)
	return kb / 1024, err
}

func measureCmd(cmd *exec.Cmd) (float64, float64, error) {
	timed := exec.Command("/usr/bin/time", append([]string{"-f", "maxrss=%M"}, cmd.Args...)...)
	timed.Dir, timed.Env = cmd.Dir, cmd.Env
	var errOut bytes.Buffer
	timed.Stderr = &errOut
	start := time.Now()
	if err := timed.Run(); err != nil {
		return 0, 0, fmt.Errorf("%v: %v\n%s", cmd.Args, err, errOut.String())
	}
	rss, err := maxRSS(errOut.String())
	if err != nil {
		return 0, 0, err
	}
	fmt.Fprintf(os.Stderr, "  %s: %.1f ms, %.1f MiB\n", strings.Join(cmd.Args[:3], " "), ms(start), rss)
	return ms(start), rss, nil
}

func childRun(op string, args []string) error {
	ctx := context.Background()
	opts := gitsource.Options{URL: args[0]}
	if op == "fetch-disk" {
		opts.CacheDir = args[1]
	}
	rem, err := gitsource.NewRemote(opts)
	if err != nil {
		return err
	}
	rev, err := rem.Resolve(ctx, gitsource.Ref{Branch: "main"})
	if err != nil {
		return err
	}
	start := time.Now()
	snap, err := rem.Fetch(ctx, rev)
	if err != nil {
		return err
	}
	took := ms(start)
	if snap.Commit.Hash != rev.Hash {
		return fmt.Errorf("fetched %s, want %s", snap.Commit.Hash, rev.Hash)
	}
	fmt.Println(took)
	return nil
}

func git(dir string, args ...string) error {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=bench", "GIT_AUTHOR_EMAIL=b@example.com",
		"GIT_COMMITTER_NAME=bench", "GIT_COMMITTER_EMAIL=b@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git %v: %v\n%s", args, err, out)
	}
	return nil
}

// generate creates the repository with git fast-import: the first commit
// adds all files, each later one changes one file.
func generate(srv *gitserver.Server, name string, commits, files int) error {
	if _, err := srv.CreateRepo(name, ""); err != nil {
		return err
	}
	var b bytes.Buffer
	mark := 1
	blob := func(content string) int {
		fmt.Fprintf(&b, "blob\nmark :%d\ndata %d\n%s\n", mark, len(content), content)
		mark++
		return mark - 1
	}
	file := func(i int) string {
		switch i % 4 {
		case 0:
			return fmt.Sprintf("models/m%04d.cue", i)
		case 1:
			return fmt.Sprintf("pipelines/p%04d.cue", i)
		case 2:
			return fmt.Sprintf("environments/e%02d/patch%04d.yaml", i%20, i)
		}
		return fmt.Sprintf("docs/d%04d.md", i)
	}
	ts := int64(1_700_000_000)
	for c := range commits {
		var ops []string
		if c == 0 {
			for i := range files {
				m := blob(fmt.Sprintf("kind: \"Model\"\nname: \"m%d\"\n// %s\n", i, strings.Repeat("padding ", 20)))
				ops = append(ops, fmt.Sprintf("M 100644 :%d %s", m, file(i)))
			}
		} else {
			i := (c * 7919) % files
			m := blob(fmt.Sprintf("kind: \"Model\"\nname: \"m%d\"\nrevision: %d\n// %s\n", i, c, strings.Repeat("padding ", 20)))
			ops = append(ops, fmt.Sprintf("M 100644 :%d %s", m, file(i)))
		}
		msg := fmt.Sprintf("commit %d", c)
		fmt.Fprintf(&b, "commit refs/heads/main\nmark :%d\ncommitter bench <b@example.com> %d +0000\ndata %d\n%s\n", mark, ts+int64(c), len(msg), msg)
		mark++
		if c > 0 {
			fmt.Fprintf(&b, "from :%d\n", mark-3)
		}
		b.WriteString(strings.Join(ops, "\n") + "\n\n")
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir = srv.Path(name)
	cmd.Stdin = &b
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("fast-import: %v\n%s", err, out)
	}
	return git(srv.Path(name), "gc", "-q")
}
