package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = mainWith(t.Context(), args, &cmdEnv{stdout: &out, stderr: &errOut})
	return code, out.String(), errOut.String()
}

func specDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const validModel = `kind: "Model"
name: "fraud"
serving: image: "ghcr.io/example/fraud:1"
`

const invalidModel = `kind: "Model"
name: "Fraud"
serving: {
	image: "ghcr.io/example/fraud:1"
	replicas: min: -1
}
`

func TestValidateExitCodes(t *testing.T) {
	good := specDir(t, map[string]string{"models/fraud.cue": validModel})
	bad := specDir(t, map[string]string{"models/fraud.cue": invalidModel})
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout []string
	}{
		{"valid", []string{"validate", good}, exitOK, []string{"valid: 1 model(s), 0 pipeline(s)"}},
		{"invalid", []string{"validate", bad}, exitFailed, []string{
			"models/fraud.cue:2:7: name: must be a DNS-1123 label",
			"models/fraud.cue:5:17: serving.replicas.min: must be >=0; got -1",
		}},
		{"github", []string{"validate", bad, "--format", "github"}, exitFailed, []string{
			"::error file=models/fraud.cue,line=5,col=17,title=mlsync validate::serving.replicas.min: must be >=0; got -1",
		}},
		{"json", []string{"validate", "--format=json", bad}, exitFailed, []string{`"valid": false`, `"line": 5`}},
		{"missing dir", []string{"validate", filepath.Join(good, "nope")}, exitUsage, nil},
		{"bad format", []string{"validate", "--format", "xml", good}, exitUsage, nil},
		{"two dirs", []string{"validate", good, bad}, exitUsage, nil},
		{"unknown command", []string{"frobnicate"}, exitUsage, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.args...)
			if code != tc.wantCode {
				t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, stdout, stderr)
			}
			for _, w := range tc.wantStdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
		})
	}
}

func TestRender(t *testing.T) {
	dir := specDir(t, map[string]string{"models/fraud.cue": validModel})
	code, stdout, stderr := runCLI(t, "render", dir, "--revision", "abc123")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, w := range []string{"kind: Deployment", "kind: Service", "mlsync.io/revision: abc123", "image: ghcr.io/example/fraud:1"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("render output lacks %q:\n%s", w, stdout)
		}
	}
	code, stdout, _ = runCLI(t, "render", "-o", "json", dir)
	if code != exitOK || !strings.Contains(stdout, `"kind": "List"`) {
		t.Errorf("json render: exit %d:\n%s", code, stdout)
	}
	bad := specDir(t, map[string]string{"models/fraud.cue": invalidModel})
	if code, _, stderr := runCLI(t, "render", bad); code != exitFailed || !strings.Contains(stderr, "models/fraud.cue:5:17") {
		t.Errorf("render of invalid specs: exit %d, stderr:\n%s", code, stderr)
	}
}
