package spec

// Kind names a spec kind, the value of a spec's `kind` field.
type Kind string

// The spec kinds mlsync knows.
const (
	KindModel    Kind = "Model"
	KindPipeline Kind = "Pipeline"
)

// Kinds lists the spec kinds in the order they are documented.
var Kinds = []Kind{KindModel, KindPipeline}

// Model is one model spec after validation and defaulting.
type Model struct {
	Kind        Kind        `json:"kind"`
	Name        string      `json:"name"`
	Namespace   string      `json:"namespace"`
	Owner       string      `json:"owner,omitempty"`
	Description string      `json:"description,omitempty"`
	Training    *Training   `json:"training,omitempty"`
	Evaluation  *Evaluation `json:"evaluation,omitempty"`
	Stages      []Stage     `json:"stages"`
	Serving     Serving     `json:"serving"`
	Monitoring  *Monitoring `json:"monitoring,omitempty"`

	// Source says where the spec came from. It is not part of the spec.
	Source Source `json:"-"`
}

// Training says which pipeline trains a model, with which params and data.
type Training struct {
	Pipeline string         `json:"pipeline"`
	Params   map[string]any `json:"params,omitempty"`
	Data     Data           `json:"data"`
}

// Data is a training dataset.
type Data struct {
	Source  string `json:"source"`
	Version string `json:"version"`
}

// Directions of an evaluation's primary metric.
const (
	Maximize = "maximize"
	Minimize = "minimize"
)

// Evaluation is the gate a trained version must pass.
type Evaluation struct {
	PrimaryMetric    string               `json:"primaryMetric"`
	Direction        string               `json:"direction"`
	Thresholds       map[string]Threshold `json:"thresholds,omitempty"`
	MustBeatChampion bool                 `json:"mustBeatChampion"`
	Tolerance        float64              `json:"tolerance"`
}

// Threshold bounds one metric; nil bounds are open.
type Threshold struct {
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
}

// Promotion policies of a stage.
const (
	PromotionAuto        = "auto"
	PromotionPullRequest = "pull-request"
	PromotionManual      = "manual"
)

// Stage is one step of a model's promotion path.
type Stage struct {
	Name string `json:"name"`
	// Namespace is filled in by the loader when the spec leaves it out.
	Namespace string  `json:"namespace"`
	Version   string  `json:"version,omitempty"`
	Promotion string  `json:"promotion"`
	Canary    *Canary `json:"canary,omitempty"`
}

// Canary serves a candidate version beside the current one.
type Canary struct {
	Percent  int    `json:"percent"`
	Analysis string `json:"analysis"`
}

// Serving runtimes.
const (
	RuntimeDeployment = "deployment"
	RuntimeKServe     = "kserve"
)

// Serving says how a model version is served.
type Serving struct {
	Runtime     string      `json:"runtime"`
	Image       string      `json:"image,omitempty"`
	ModelFormat string      `json:"modelFormat,omitempty"`
	StorageURI  string      `json:"storageUri,omitempty"`
	Port        int32       `json:"port"`
	Replicas    Replicas    `json:"replicas"`
	Resources   *Resources  `json:"resources,omitempty"`
	Autoscaling Autoscaling `json:"autoscaling"`
	Placement
}

// Replicas bound the model-server pods.
type Replicas struct {
	Min int32 `json:"min"`
	Max int32 `json:"max"`
}

// Autoscaling is the HorizontalPodAutoscaler's target.
type Autoscaling struct {
	TargetCPU int32 `json:"targetCPU"`
}

// Monitoring says how a served model is watched.
type Monitoring struct {
	SLO   *SLO   `json:"slo,omitempty"`
	Drift *Drift `json:"drift,omitempty"`
}

// SLO are service-level objectives.
type SLO struct {
	LatencyP99 string   `json:"latencyP99,omitempty"`
	ErrorRate  *float64 `json:"errorRate,omitempty"`
}

// Drift configures drift checks.
type Drift struct {
	Features       []DriftFeature `json:"features"`
	Window         string         `json:"window"`
	Schedule       string         `json:"schedule"`
	Share          float64        `json:"share"`
	RetrainOnDrift bool           `json:"retrainOnDrift"`
}

// Drift methods.
const (
	DriftPSI = "psi"
	DriftKS  = "ks"
	DriftJS  = "js"
)

// DriftFeature is one watched feature.
type DriftFeature struct {
	Name      string  `json:"name"`
	Method    string  `json:"method"`
	Threshold float64 `json:"threshold"`
}

// Pipeline is a DAG of containerised steps.
type Pipeline struct {
	Kind        Kind             `json:"kind"`
	Name        string           `json:"name"`
	Namespace   string           `json:"namespace"`
	Description string           `json:"description,omitempty"`
	Params      map[string]Param `json:"params,omitempty"`
	Artifacts   ArtifactStore    `json:"artifacts"`
	Schedule    string           `json:"schedule,omitempty"`
	Steps       []Step           `json:"steps"`

	// Source says where the spec came from. It is not part of the spec.
	Source Source `json:"-"`
}

// Param types.
const (
	ParamString = "string"
	ParamInt    = "int"
	ParamFloat  = "float"
	ParamBool   = "bool"
)

// Param declares a pipeline parameter.
type Param struct {
	Type        string `json:"type"`
	Default     any    `json:"default,omitempty"`
	Description string `json:"description,omitempty"`
}

// ArtifactStore is where a pipeline's artifacts live: a PVC or a URI.
type ArtifactStore struct {
	PVC *PVCStore `json:"pvc,omitempty"`
	URI string    `json:"uri,omitempty"`
}

// PVCStore keeps artifacts on a PersistentVolumeClaim.
type PVCStore struct {
	ClaimName string `json:"claimName"`
}

// Step backends.
const (
	BackendJob        = "job"
	BackendPyTorchJob = "pytorchjob"
)

// Step is one containerised step.
type Step struct {
	Name           string            `json:"name"`
	Image          string            `json:"image"`
	Command        []string          `json:"command,omitempty"`
	Args           []string          `json:"args,omitempty"`
	Env            map[string]string `json:"env,omitempty"`
	Resources      *Resources        `json:"resources,omitempty"`
	DependsOn      []string          `json:"dependsOn"`
	Inputs         []string          `json:"inputs"`
	Outputs        []string          `json:"outputs"`
	Retries        int32             `json:"retries"`
	Timeout        string            `json:"timeout"`
	ReportsMetrics bool              `json:"reportsMetrics"`
	Metrics        []string          `json:"metrics"`
	Backend        string            `json:"backend"`
	Replicas       *PyTorchReplicas  `json:"replicas,omitempty"`
	Placement
}

// PyTorchReplicas are a PyTorchJob's master and worker counts.
type PyTorchReplicas struct {
	Master  int32 `json:"master"`
	Workers int32 `json:"workers"`
}

// Resources are a container's requests and limits.
type Resources struct {
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
	GPU    *GPU   `json:"gpu,omitempty"`
}

// GPU asks for accelerators.
type GPU struct {
	Count    int32  `json:"count"`
	Resource string `json:"resource"`
}

// Placement says where pods may run.
type Placement struct {
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	Tolerations  []Toleration      `json:"tolerations,omitempty"`
}

// Toleration tolerates a node taint.
type Toleration struct {
	Key               string `json:"key,omitempty"`
	Operator          string `json:"operator"`
	Value             string `json:"value,omitempty"`
	Effect            string `json:"effect,omitempty"`
	TolerationSeconds *int64 `json:"tolerationSeconds,omitempty"`
}

// Source records the file a spec was loaded from and the hash of its
// defaulted value, which changes exactly when the effective spec changes.
type Source struct {
	File string
	// Doc is the spec's index among the documents of a multi-document
	// YAML file; 0 otherwise.
	Doc  int
	Hash string
	// NamePos is where the spec's name is written.
	NamePos Position
	// positions of fields, by path, for cross-spec errors.
	pos func(path string) Position
}

// Pos returns where the field at path (e.g. "stages[1].name") is written
// in the spec's file, or the nearest enclosing field that is.
func (s Source) Pos(path string) Position {
	if s.pos == nil {
		return Position{File: s.File}
	}
	return s.pos(path)
}

// Set is every spec of a repository revision, each kind sorted by
// namespace and name.
type Set struct {
	Models    []Model
	Pipelines []Pipeline
}

// Pipeline returns the pipeline namespace/name, or nil.
func (s *Set) Pipeline(namespace, name string) *Pipeline {
	for i := range s.Pipelines {
		if p := &s.Pipelines[i]; p.Namespace == namespace && p.Name == name {
			return p
		}
	}
	return nil
}
