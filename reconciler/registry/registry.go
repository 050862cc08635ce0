package registry

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mlsync/mlsync/reconciler/report"
)

// Path returns a model's registry file on the status branch.
func Path(model string) string { return "registry/" + model + ".json" }

// Registry is one model's versions and step cache.
type Registry struct {
	Model    string    `json:"model"`
	Versions []Version `json:"versions"`
	// Steps remembers succeeded steps by key (the newest MaxSteps).
	Steps map[string]Step `json:"steps,omitempty"`
	// LastTick is the last schedule tick that started a run.
	LastTick time.Time `json:"lastTick,omitzero"`
}

// MaxSteps bounds the step cache kept per model.
const MaxSteps = 500

// Version is one trained model version.
type Version struct {
	Version      string             `json:"version"`
	Run          string             `json:"run"`
	Trigger      string             `json:"trigger"`
	Metrics      map[string]float64 `json:"metrics"`
	SpecRevision string             `json:"specRevision"`
	DataSource   string             `json:"dataSource"`
	DataVersion  string             `json:"dataVersion"`
	Images       []string           `json:"images"`
	Started      time.Time          `json:"started"`
	Finished     time.Time          `json:"finished"`
	Gate         Verdict            `json:"gate"`
}

// Step is a succeeded step's result.
type Step struct {
	Run      string             `json:"run"`
	Name     string             `json:"name"`
	Metrics  map[string]float64 `json:"metrics,omitempty"`
	Outputs  map[string]string  `json:"outputs,omitempty"`
	Finished time.Time          `json:"finished"`
}

// Decode reads a registry file; nil data is an empty registry.
func Decode(model string, data []byte) (*Registry, error) {
	r := &Registry{Model: model}
	if len(data) == 0 {
		return r, nil
	}
	if err := json.Unmarshal(data, r); err != nil {
		return nil, fmt.Errorf("registry of %s: %w", model, err)
	}
	if r.Model != model {
		return nil, fmt.Errorf("registry of %s: the file is the registry of %q", model, r.Model)
	}
	return r, nil
}

// Encode writes the registry file.
func (r *Registry) Encode() ([]byte, error) {
	return report.JSON(r)
}

// Add records a new version, numbered after the newest, and returns it.
func (r *Registry) Add(v Version) Version {
	v.Version = "v" + strconv.Itoa(r.newest()+1)
	r.Versions = append(r.Versions, v)
	return v
}

func (r *Registry) newest() int {
	n := 0
	for _, v := range r.Versions {
		if k, err := strconv.Atoi(strings.TrimPrefix(v.Version, "v")); err == nil && k > n {
			n = k
		}
	}
	return n
}

// Get returns version v, or nil.
func (r *Registry) Get(v string) *Version {
	for i := range r.Versions {
		if r.Versions[i].Version == v {
			return &r.Versions[i]
		}
	}
	return nil
}

// ByRun returns the version a run produced, or nil.
func (r *Registry) ByRun(run string) *Version {
	for i := range r.Versions {
		if r.Versions[i].Run == run {
			return &r.Versions[i]
		}
	}
	return nil
}

// Latest returns the newest version, or nil.
func (r *Registry) Latest() *Version {
	if len(r.Versions) == 0 {
		return nil
	}
	return &r.Versions[len(r.Versions)-1]
}

// RememberStep caches a succeeded step, dropping the oldest beyond
// MaxSteps.
func (r *Registry) RememberStep(key string, s Step) {
	if r.Steps == nil {
		r.Steps = map[string]Step{}
	}
	r.Steps[key] = s
	if len(r.Steps) <= MaxSteps {
		return
	}
	keys := make([]string, 0, len(r.Steps))
	for k := range r.Steps {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return r.Steps[keys[i]].Finished.Before(r.Steps[keys[j]].Finished) })
	for _, k := range keys[:len(keys)-MaxSteps] {
		delete(r.Steps, k)
	}
}
