package corpus

import (
	"fmt"
	"os"
	"path/filepath"
)

// File is one generated file, its path relative to the repository root.
type File struct {
	Path string
	Data []byte
}

// Specs returns a repository of models model specs (CUE) and pipelines
// pipeline specs, shaped like the fraud-detection example: every model
// has training, a gate, two stages, serving and drift monitoring.
func Specs(models, pipelines int) []File {
	var files []File
	for p := range pipelines {
		files = append(files, File{Path: fmt.Sprintf("pipelines/p%03d.cue", p), Data: fmt.Appendf(nil, `kind: "Pipeline"
name: "pipeline-%03d"
namespace: "team-%d"
params: {
	learning_rate: {type: "float", default: 0.1}
	max_depth: {type: "int", default: 6}
}
artifacts: uri: "s3://artifacts/p%03d"
steps: [{
	name: "preprocess"
	image: "ghcr.io/acme/prep:1"
	args: ["--in", "$(data.source)", "--out", "$(outputs.features)"]
	outputs: ["features"]
}, {
	name: "train"
	image: "ghcr.io/acme/train:1"
	args: ["--lr", "$(params.learning_rate)", "--depth", "$(params.max_depth)", "--out", "$(outputs.model)"]
	dependsOn: ["preprocess"]
	inputs: ["features"]
	outputs: ["model"]
	resources: {cpu: "4", memory: "16Gi"}
	retries: 2
}, {
	name: "evaluate"
	image: "ghcr.io/acme/eval:1"
	dependsOn: ["train"]
	inputs: ["model", "features"]
	reportsMetrics: true
	metrics: ["auc", "precision"]
}]
`, p, p%10, p)})
	}
	for m := range models {
		p := m % pipelines
		files = append(files, File{Path: fmt.Sprintf("models/m%04d.cue", m), Data: fmt.Appendf(nil, `kind: "Model"
name: "model-%04d"
namespace: "team-%d"
owner: "team-%d@example.com"
training: {
	pipeline: "pipeline-%03d"
	params: learning_rate: 0.05
	data: {source: "s3://data/m%04d", version: "2026-11-30"}
}
evaluation: {
	primaryMetric: "auc"
	thresholds: {auc: min: 0.9, precision: min: 0.8}
	mustBeatChampion: true
	tolerance: 0.002
}
stages: [{name: "staging", version: "v3", promotion: "auto"}, {name: "production", version: "v2", promotion: "pull-request"}]
serving: {
	image: "ghcr.io/acme/server:1"
	storageUri: "s3://models/m%04d/{version}"
	replicas: {min: 2, max: 6}
	resources: {cpu: "500m", memory: "1Gi"}
}
monitoring: drift: features: [{name: "amount"}, {name: "hour", method: "ks"}]
`, m, p%10, p%10, p, m, m)})
	}
	return files
}

// WriteDir writes files under dir.
func WriteDir(dir string, files []File) error {
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
