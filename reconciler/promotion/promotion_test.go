package promotion_test

import (
	"strings"
	"testing"

	"github.com/mlsync/mlsync/reconciler/promotion"
	"github.com/mlsync/mlsync/reconciler/registry"
	"github.com/mlsync/mlsync/spec"
)

func TestParseBranch(t *testing.T) {
	tests := []struct {
		branch, model, version, stage string
		ok                            bool
	}{
		{"mlsync/promote/fraud-v8-production", "fraud", "v8", "production", true},
		{"mlsync/promote/fraud-v12-pre-production", "fraud", "v12", "pre-production", true},
		{"mlsync/promote/fraud-eu-v3-staging", "fraud", "", "", false}, // model fraud-eu
		{"mlsync/promote/fraud-eu-v3-staging", "fraud-eu", "v3", "staging", true},
		{"mlsync/promote/fraud-v8", "fraud", "", "", false},
		{"mlsync/promote/fraud-vX-staging", "fraud", "", "", false},
		{"feature/fraud-v8-staging", "fraud", "", "", false},
	}
	for _, tt := range tests {
		v, s, ok := promotion.ParseBranch(tt.branch, tt.model)
		if v != tt.version || s != tt.stage || ok != tt.ok {
			t.Errorf("ParseBranch(%q, %q) = %q, %q, %v; want %q, %q, %v", tt.branch, tt.model, v, s, ok, tt.version, tt.stage, tt.ok)
		}
	}
	p := promotion.Proposal{Model: "fraud", Stage: "production", To: "v8"}
	if v, s, ok := promotion.ParseBranch(p.Branch(), "fraud"); !ok || v != "v8" || s != "production" {
		t.Errorf("ParseBranch(%q) does not read back Branch()", p.Branch())
	}
}

const cueModel = `// Fraud scoring.
kind:      "Model"
name:      "fraud"
namespace: "ml"
training: {pipeline: "tabular", data: {source: "s3://data", version: "1"}}
evaluation: primaryMetric: "auc"
stages: [
	{name: "staging", version: "v3", promotion: "auto"},
	{
		name:      "production" // reviewed
		promotion: "pull-request"
	},
	{name: "shadow", version: "v1", promotion: "manual"},
]
serving: image: "ghcr.io/example/fraud:1"
`

const yamlModel = `# Fraud scoring.
kind: Model
name: fraud
namespace: ml
training:
  pipeline: tabular
  data: {source: "s3://data", version: "1"}
evaluation:
  primaryMetric: auc
stages:
  - name: staging
    version: v3   # keep
    promotion: auto
  - name: production
    promotion: pull-request
  - {name: shadow, version: "v1", promotion: manual}
serving:
  image: ghcr.io/example/fraud:1
`

const pipeline = `kind: "Pipeline"
name: "tabular"
namespace: "ml"
artifacts: uri: "s3://artifacts/tabular"
steps: [{name: "train", image: "train:1", reportsMetrics: true, metrics: ["auc"]}]
`

func load(t *testing.T, path, data string) *spec.Model {
	t.Helper()
	l, err := spec.NewLoader(spec.DefaultLoaderOptions())
	if err != nil {
		t.Fatal(err)
	}
	set, err := l.Load([]spec.File{{Path: path, Data: []byte(data)}, {Path: "pipelines/tabular.cue", Data: []byte(pipeline)}})
	if err != nil {
		t.Fatal(err)
	}
	return &set.Models[0]
}

func TestSetPin(t *testing.T) {
	tests := []struct {
		file, data string
		stage      int
		version    string
		want       string // the line that changed, as it must read after
		unchanged  string // a line that must stay as it was
	}{
		{"models/fraud.cue", cueModel, 0, "v4", `{name: "staging", version: "v4", promotion: "auto"},`, "// Fraud scoring."},
		{"models/fraud.cue", cueModel, 1, "v3", "\t\tname:      \"production\" // reviewed\n\t\tversion: \"v3\"\n", "promotion: \"pull-request\""},
		{"models/fraud.cue", cueModel, 2, "v2", `{name: "shadow", version: "v2", promotion: "manual"},`, `{name: "staging", version: "v3", promotion: "auto"},`},
		{"models/fraud.yaml", yamlModel, 0, "v4", `version: v4   # keep`, "# Fraud scoring."},
		{"models/fraud.yaml", yamlModel, 1, "v3", "  - name: production\n    version: v3\n", "promotion: pull-request"},
		{"models/fraud.yaml", yamlModel, 2, "v2", `- {name: shadow, version: "v2", promotion: manual}`, "version: v3   # keep"},
	}
	for _, tt := range tests {
		m := load(t, tt.file, tt.data)
		out, err := promotion.SetPin([]byte(tt.data), tt.file, m, tt.stage, tt.version)
		if err != nil {
			t.Errorf("%s stage %d: %v", tt.file, tt.stage, err)
			continue
		}
		if !strings.Contains(string(out), tt.want) || !strings.Contains(string(out), tt.unchanged) {
			t.Errorf("%s stage %d: want %q and %q in\n%s", tt.file, tt.stage, tt.want, tt.unchanged, out)
			continue
		}
		// The edit validates and pins exactly that stage.
		after := load(t, tt.file, string(out))
		for i, s := range after.Stages {
			want := m.Stages[i].Version
			if i == tt.stage {
				want = tt.version
			}
			if s.Version != want {
				t.Errorf("%s stage %d: after the edit stage %s pins %q, want %q", tt.file, tt.stage, s.Name, s.Version, want)
			}
		}
	}
}

func TestNextAndManual(t *testing.T) {
	m := load(t, "models/fraud.cue", cueModel)
	reg := &registry.Registry{Model: "fraud"}
	for _, passed := range []bool{true, true, true, true, false} { // v1..v5
		reg.Add(registry.Version{Gate: registry.Verdict{Passed: passed}})
	}
	// staging (auto) pins v3 and v4 is the newest that passed; production
	// (pull-request) pins nothing and staging serves v3; shadow is manual.
	got := promotion.Next(m, reg)
	want := []string{"staging v3->v4 auto", "production ->v3 pull-request"}
	if len(got) != len(want) {
		t.Fatalf("Next = %+v, want %v", got, want)
	}
	for i, p := range got {
		if s := p.Stage + " " + p.From + "->" + p.To + " " + p.Policy; s != want[i] {
			t.Errorf("Next[%d] = %s, want %s", i, s, want[i])
		}
	}
	// shadow follows production, which pins nothing yet.
	if p, err := promotion.Manual(m, reg, "shadow", ""); err == nil || !strings.Contains(err.Error(), "nothing to promote") {
		t.Errorf("Manual(shadow) = %+v, %v; want nothing to promote", p, err)
	}
	if p, err := promotion.Manual(m, reg, "shadow", "v2"); err != nil || p.To != "v2" || p.From != "v1" {
		t.Errorf("Manual(shadow, v2) = %+v, %v", p, err)
	}
	for version, msg := range map[string]string{"v9": "no version v9", "v1": "already serves v1"} {
		if _, err := promotion.Manual(m, reg, "shadow", version); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("Manual(shadow, %s): err = %v, want %q", version, err, msg)
		}
	}
	if _, err := promotion.Manual(m, reg, "canary", ""); err == nil || !strings.Contains(err.Error(), `no stage "canary"`) {
		t.Errorf("Manual(canary): err = %v", err)
	}
}
