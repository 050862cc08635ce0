package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/mlsync/mlsync/spec"
)

var validateCommand = command{
	summary: "check every spec under DIR against mlsync's schema (exit 0 valid, 1 invalid, 2 error)",
	usage:   "mlsync validate [DIR] [--format text|json|github]",
	run:     runValidate,
}

func runValidate(_ context.Context, env *cmdEnv, args []string) int {
	fs := newFlags(env, "validate")
	format := fs.String("format", "text", "output format: text, json, or github (workflow annotations)")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	switch *format {
	case "text", "json", "github":
	default:
		env.errorf("validate: unknown format %q; want text, json or github", *format)
		return exitUsage
	}
	dir, ok := dirArg(env, fs.Args(), "validate")
	if !ok {
		return exitUsage
	}
	set, errs, err := loadDir(dir)
	if err != nil {
		env.errorf("validate: %v", err)
		return exitUsage
	}
	switch *format {
	case "json":
		out := struct {
			Valid     bool          `json:"valid"`
			Models    int           `json:"models"`
			Pipelines int           `json:"pipelines"`
			Errors    []*spec.Error `json:"errors"`
		}{Valid: len(errs) == 0, Errors: errs}
		if out.Errors == nil {
			out.Errors = []*spec.Error{}
		}
		if set != nil {
			out.Models, out.Pipelines = len(set.Models), len(set.Pipelines)
		}
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
	case "github":
		for _, e := range errs {
			fmt.Fprintf(env.stdout, "::error file=%s,line=%d,col=%d,title=mlsync validate::%s\n",
				ghEscapeProp(e.Pos.File), max(e.Pos.Line, 1), max(e.Pos.Column, 1), ghEscape(pathMsg(e)))
		}
	default:
		for _, e := range errs {
			fmt.Fprintln(env.stdout, e.Error())
		}
		if len(errs) == 0 {
			fmt.Fprintf(env.stdout, "valid: %d model(s), %d pipeline(s)\n", len(set.Models), len(set.Pipelines))
		} else {
			fmt.Fprintf(env.stderr, "%d error(s)\n", len(errs))
		}
	}
	if len(errs) > 0 {
		return exitFailed
	}
	return exitOK
}

// dirArg returns the one optional DIR argument, "." by default.
func dirArg(env *cmdEnv, args []string, cmd string) (string, bool) {
	switch len(args) {
	case 0:
		return ".", true
	case 1:
		return args[0], true
	}
	env.errorf("%s: want at most one DIR, got %d arguments", cmd, len(args))
	return "", false
}

// loadDir reads and validates the specs under dir. Spec problems come
// back as errs; err is for problems reading the folder at all.
func loadDir(dir string) (*spec.Set, spec.Errors, error) {
	files, err := spec.ReadDir(dir)
	var one *spec.Error
	if errors.As(err, &one) {
		return nil, spec.Errors{one}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return loadFiles(files)
}

// loadFiles validates files.
func loadFiles(files []spec.File) (*spec.Set, spec.Errors, error) {
	loader, err := spec.NewLoader(spec.DefaultLoaderOptions())
	if err != nil {
		return nil, nil, err
	}
	set, err := loader.Load(files)
	var errs spec.Errors
	if errors.As(err, &errs) {
		return nil, errs, nil
	}
	return set, nil, err
}

func pathMsg(e *spec.Error) string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// ghEscape escapes a workflow command's message.
func ghEscape(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// ghEscapeProp escapes a workflow command's property value.
func ghEscapeProp(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
