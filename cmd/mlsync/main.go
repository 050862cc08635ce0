package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"

	"k8s.io/klog/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes shared by the commands.
const (
	exitOK      = 0
	exitFailed  = 1 // invalid specs, or a diff found changes
	exitUsage   = 2 // bad flags, unreadable input, unreachable systems
	exitSignals = 130
)

// command is one mlsync subcommand.
type command struct {
	summary string
	usage   string
	run     func(ctx context.Context, env *cmdEnv, args []string) int
}

// cmdEnv is what a command writes to.
type cmdEnv struct {
	stdout, stderr io.Writer
}

func (e *cmdEnv) errorf(format string, args ...any) {
	fmt.Fprintf(e.stderr, "mlsync: "+format+"\n", args...)
}

// commands is filled in init: the commands' bodies look their own usage
// up here, which a package-level initializer could not allow.
var commands map[string]command

func init() {
	commands = map[string]command{
		"run":      runCommand,
		"validate": validateCommand,
		"render":   renderCommand,
		"diff":     diffCommand,
		"schema":   schemaCommand,
		"status":   statusCommand,
		"promote":  promoteCommand,
		"version": {
			summary: "print the version",
			usage:   "mlsync version",
			run: func(_ context.Context, env *cmdEnv, _ []string) int {
				fmt.Fprintf(env.stdout, "mlsync %s\n", version)
				return exitOK
			},
		},
	}
}

// Garbage-collector defaults, unless GOGC or GOMEMLIMIT say otherwise:
// CUE evaluation allocates a lot of short-lived memory, so collecting
// less often saves a quarter of validation time, and a soft memory limit
// keeps the heap bounded when it grows.
const (
	defaultGCPercent   = 400
	defaultMemoryLimit = 128 << 20
)

func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}

func main() {
	tuneGC()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(mainWith(ctx, os.Args[1:], &cmdEnv{stdout: os.Stdout, stderr: os.Stderr}))
}

func mainWith(ctx context.Context, args []string, env *cmdEnv) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				fmt.Fprintf(env.stdout, "%s\n\n%s\n", c.usage, c.summary)
				return exitOK
			}
		}
		printHelp(env.stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	c, ok := commands[args[0]]
	if !ok {
		env.errorf("unknown command %q; run `mlsync help`", args[0])
		return exitUsage
	}
	return c.run(ctx, env, args[1:])
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "mlsync keeps ML pipelines and models on Kubernetes in step with CUE specs in Git.")
	fmt.Fprintln(w, "\nUsage: mlsync COMMAND [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun `mlsync COMMAND -h` for a command's flags.")
}

// newFlags returns a flag set that prints usage to env.stderr.
func newFlags(env *cmdEnv, name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	c := commands[name]
	fs.Usage = func() {
		fmt.Fprintf(env.stderr, "Usage: %s\n\n%s\n\nFlags:\n", c.usage, c.summary)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, allowing flags after positional arguments
// (`mlsync render DIR -o json`), and reports the exit code to return when
// parsing ended the command (help asked for, or bad flags). The
// positional arguments are left in fs.Args().
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return exitOK, true
			}
			return exitUsage, true
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if rest[0] == "--" && len(rest) > 0 {
			positional = append(positional, rest[1:]...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	// Leave the positional arguments where callers look for them.
	_ = fs.Parse(append([]string{"--"}, positional...))
	return 0, false
}

// newLogger returns the daemon's structured logger and routes client-go's
// klog output into it.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	switch strings.ToLower(format) {
	case "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("log format %q: want text or json", format)
	}
	logger := slog.New(h)
	klog.SetSlogLogger(logger.With("component", "client-go"))
	return logger, nil
}
