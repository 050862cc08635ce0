package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mlsync/mlsync/gitsource"
	"github.com/mlsync/mlsync/reconciler/registry"
	"github.com/mlsync/mlsync/reconciler/report"
)

var statusCommand = command{
	summary: "print models, stages, runs in progress and versions from the status branch",
	usage:   "mlsync status (--repo URL [--status-branch mlsync/status] [--git-password-file F ...] | DIR) [-o text|json]",
	run:     runStatus,
}

func runStatus(ctx context.Context, env *cmdEnv, args []string) int {
	fs := newFlags(env, "status")
	repo := fs.String("repo", "", "URL of the spec repository, to read its status branch")
	branch := fs.String("status-branch", "mlsync/status", "the status branch")
	output := fs.String("o", "text", "output format: text or json")
	var auth gitsource.AuthOptions
	fs.StringVar(&auth.Username, "git-username", "", "HTTPS username, or SSH user")
	fs.StringVar(&auth.PasswordFile, "git-password-file", "", "file holding the HTTPS password or token")
	fs.StringVar(&auth.BearerTokenFile, "git-token-file", "", "file holding an HTTPS bearer token")
	fs.StringVar(&auth.SSHKeyFile, "ssh-key-file", "", "private key for ssh:// remotes")
	fs.StringVar(&auth.KnownHostsFile, "known-hosts-file", "", "known_hosts for ssh:// remotes")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	var files map[string][]byte
	var err error
	switch {
	case *repo != "" && fs.NArg() == 0:
		files, err = statusFromRemote(ctx, *repo, *branch, auth)
	case *repo == "" && fs.NArg() == 1:
		files, err = statusFromDir(fs.Arg(0))
	default:
		env.errorf("status: give --repo URL or one DIR (a checkout of the status branch)")
		return exitUsage
	}
	if err != nil {
		env.errorf("status: %v", err)
		return exitUsage
	}
	var st report.Status
	if data, ok := files[report.JSONPath]; !ok {
		env.errorf("status: no %s on the status branch (has mlsync run yet?)", report.JSONPath)
		return exitUsage
	} else if err := json.Unmarshal(data, &st); err != nil {
		env.errorf("status: %s: %v", report.JSONPath, err)
		return exitUsage
	}
	regs := map[string]*registry.Registry{}
	for p, data := range files {
		if model, ok := strings.CutPrefix(p, "registry/"); ok && strings.HasSuffix(model, ".json") {
			model = strings.TrimSuffix(model, ".json")
			if reg, err := registry.Decode(model, data); err == nil {
				regs[model] = reg
			}
		}
	}
	if *output == "json" {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		_ = enc.Encode(map[string]any{"status": st, "registries": regs})
		return exitOK
	}
	printStatus(env.stdout, &st, regs)
	return exitOK
}

func statusFromRemote(ctx context.Context, url, branch string, auth gitsource.AuthOptions) (map[string][]byte, error) {
	method, err := auth.Method(url)
	if err != nil {
		return nil, err
	}
	rem, err := gitsource.NewRemote(gitsource.Options{URL: url, Auth: method})
	if err != nil {
		return nil, err
	}
	snap, err := rem.Checkout(ctx, branch)
	if err != nil {
		return nil, err
	}
	list, err := snap.Files("", func(p string) bool {
		return p == report.JSONPath || strings.HasPrefix(p, "registry/")
	})
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for _, f := range list {
		files[f.Path] = f.Data
	}
	return files, nil
}

func statusFromDir(dir string) (map[string][]byte, error) {
	files := map[string][]byte{}
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(report.JSONPath)))
	if err != nil {
		return nil, err
	}
	files[report.JSONPath] = data
	regs, _ := filepath.Glob(filepath.Join(dir, "registry", "*.json"))
	for _, p := range regs {
		if data, err := os.ReadFile(p); err == nil {
			files["registry/"+filepath.Base(p)] = data
		}
	}
	return files, nil
}

func printStatus(w io.Writer, st *report.Status, regs map[string]*registry.Registry) {
	fmt.Fprintf(w, "Source:   %s ref %s path %s\n", st.Source.URL, st.Source.Ref, st.Source.Path)
	fmt.Fprintf(w, "Applied:  %s", revLine(st.Applied))
	if st.Latest != nil && (st.Applied == nil || st.Latest.Commit != st.Applied.Commit) {
		fmt.Fprintf(w, "   (latest %s not applied)", st.Latest.Short())
	}
	fmt.Fprintf(w, "\nReady:    %s (%s) %s\n", st.Ready.Status, st.Ready.Reason, st.Ready.Message)
	for _, e := range st.Errors {
		fmt.Fprintf(w, "Error:    %s\n", e.String())
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nMODEL\tSTAGE\tNAMESPACE\tVERSION\tREPLICAS\tHEALTH")
	for _, m := range st.Models {
		for _, s := range m.Serving {
			health := s.Health
			if s.Message != "" {
				health += ": " + s.Message
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, orDash(s.Stage), s.Namespace, orDash(s.Version), s.Replicas, health)
		}
	}
	tw.Flush()
	if len(st.Runs) > 0 {
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "\nTRAINING\tRUN\tPHASE\tTRIGGER\tSTEPS")
		for _, r := range st.Runs {
			phase := r.Phase
			if r.Message != "" {
				phase += ": " + r.Message
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Model, r.Run, phase, r.Trigger, strings.Join(r.Steps, " "))
		}
		tw.Flush()
	}
	if len(st.Canaries) > 0 {
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "\nCANARY\tSTAGE\tVERSION\tSINCE\tSTATE")
		for _, c := range st.Canaries {
			state := c.State
			if c.Verdict != "" {
				state += ": " + c.Verdict
			}
			fmt.Fprintf(tw, "%s\t%s\t%s -> %s\t%s\t%s\n", c.Model, c.Stage, orDash(c.From), c.Version, c.Since, state)
		}
		tw.Flush()
	}
	models := make([]string, 0, len(regs))
	for m := range regs {
		models = append(models, m)
	}
	sort.Strings(models)
	if len(models) > 0 {
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "\nVERSIONS\tVERSION\tGATE\tMETRICS\tDATA\tFINISHED")
		for _, m := range models {
			vs := regs[m].Versions
			for i := max(0, len(vs)-5); i < len(vs); i++ {
				v := vs[i]
				gate := "passed"
				if !v.Gate.Passed {
					gate = "failed: " + strings.Join(v.Gate.Reasons, "; ")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m, v.Version, gate, metricsLine(v.Metrics), v.DataVersion,
					v.Finished.UTC().Format(time.RFC3339))
			}
		}
		tw.Flush()
	}
}

func revLine(r *report.Revision) string {
	if r == nil {
		return "none"
	}
	return fmt.Sprintf("%s %s", r.Short(), r.Subject)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func metricsLine(m map[string]float64) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s=%.4g", n, m[n])
	}
	return strings.Join(parts, " ")
}
