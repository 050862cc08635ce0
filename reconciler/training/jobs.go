package training

import (
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlsync/mlsync/kube"
	"github.com/mlsync/mlsync/reconciler/render"
	"github.com/mlsync/mlsync/spec"
)

// Labels on training objects.
const (
	RunLabel      = "mlsync.io/run"
	StepLabel     = "mlsync.io/step"
	PipelineLabel = "mlsync.io/pipeline"
	// StepKeyAnnotation holds the step's key.
	StepKeyAnnotation = "mlsync.io/step-key"
	// ComponentTraining is the app.kubernetes.io/component of step Jobs.
	ComponentTraining = "training"
)

// JobTTL is how long finished step Jobs stay in the cluster; their
// results live on in the registry on the status branch.
const JobTTL = 7 * 24 * time.Hour

// JobName is the name of a step's Job: model, step and the first 8
// characters of its key, so a step whose inputs change gets a new Job
// instead of a patch to an immutable pod template.
func JobName(run *Run, st Step) string {
	suffix := "-" + st.Key[:8]
	base := run.Model + "-" + st.Name
	if len(base)+len(suffix) > 63 {
		base = strings.TrimRight(base[:63-len(suffix)], "-")
	}
	return base + suffix
}

// Job renders the object that runs step st: a batch/v1 Job, or a
// kubeflow.org/v1 PyTorchJob for backend "pytorchjob".
func Job(run *Run, st Step) *unstructured.Unstructured {
	labels := map[string]any{
		kube.ManagedByLabel:           kube.ManagedByValue,
		kube.ModelLabel:               run.Model,
		PipelineLabel:                 run.Pipeline,
		RunLabel:                      run.ID,
		StepLabel:                     st.Name,
		"app.kubernetes.io/component": ComponentTraining,
	}
	meta := map[string]any{
		"name":      JobName(run, st),
		"namespace": run.Namespace,
		"labels":    labels,
		"annotations": map[string]any{
			StepKeyAnnotation:       st.Key,
			kube.RevisionAnnotation: run.Revision,
			kube.SpecHashAnnotation: st.Key,
			"mlsync.io/trigger":     run.Trigger,
		},
	}
	timeout, _ := time.ParseDuration(st.Spec.Timeout)
	if st.Spec.Backend == spec.BackendPyTorchJob {
		return pytorchJob(run, st, meta, labels, timeout)
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "batch/v1",
		"kind":       "Job",
		"metadata":   meta,
		"spec": map[string]any{
			"backoffLimit":            int64(st.Spec.Retries),
			"activeDeadlineSeconds":   int64(timeout.Seconds()),
			"ttlSecondsAfterFinished": int64(JobTTL.Seconds()),
			"template": map[string]any{
				"metadata": map[string]any{"labels": copyMap(labels)},
				"spec":     podSpec(run, st, "step", "Never"),
			},
		},
	}}
}

func pytorchJob(run *Run, st Step, meta, labels map[string]any, timeout time.Duration) *unstructured.Unstructured {
	workers := int64(1)
	if st.Spec.Replicas != nil {
		workers = int64(st.Spec.Replicas.Workers)
	}
	replica := func(n int64) map[string]any {
		return map[string]any{
			"replicas":      n,
			"restartPolicy": "OnFailure",
			"template": map[string]any{
				"metadata": map[string]any{"labels": copyMap(labels)},
				// The training operator finds the container named "pytorch".
				"spec": podSpec(run, st, "pytorch", "OnFailure"),
			},
		}
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kubeflow.org/v1",
		"kind":       "PyTorchJob",
		"metadata":   meta,
		"spec": map[string]any{
			"runPolicy": map[string]any{
				"backoffLimit":            int64(st.Spec.Retries),
				"activeDeadlineSeconds":   int64(timeout.Seconds()),
				"ttlSecondsAfterFinished": int64(JobTTL.Seconds()),
				"cleanPodPolicy":          "Running",
			},
			"pytorchReplicaSpecs": map[string]any{
				"Master": replica(1),
				"Worker": replica(workers),
			},
		},
	}}
}

// podSpec is the pod of a step: its container with the artifact
// locations in the environment, resources, placement and the PVC store.
func podSpec(run *Run, st Step, container, restart string) map[string]any {
	s := st.Spec
	env := []any{
		envVar("MLSYNC_MODEL", run.Model),
		envVar("MLSYNC_RUN", run.ID),
		envVar("MLSYNC_STEP", st.Name),
		envVar("MLSYNC_DATA_SOURCE", run.Data.Source),
		envVar("MLSYNC_DATA_VERSION", run.Data.Version),
	}
	for _, name := range sortedKeys(st.Inputs) {
		env = append(env, envVar("MLSYNC_INPUT_"+strings.ToUpper(name), st.Inputs[name]))
	}
	for _, name := range sortedKeys(st.Outputs) {
		env = append(env, envVar("MLSYNC_OUTPUT_"+strings.ToUpper(name), st.Outputs[name]))
	}
	for _, name := range sortedKeys(s.Env) {
		env = append(env, envVar(name, s.Env[name]))
	}
	c := map[string]any{
		"name":                     container,
		"image":                    s.Image,
		"env":                      env,
		"terminationMessagePolicy": "File",
	}
	if len(s.Command) > 0 {
		c["command"] = toAny(s.Command)
	}
	if len(s.Args) > 0 {
		c["args"] = toAny(s.Args)
	}
	if r := render.Resources(s.Resources); r != nil {
		c["resources"] = r
	}
	pod := map[string]any{"restartPolicy": restart}
	if run.Artifacts.PVC != nil {
		c["volumeMounts"] = []any{map[string]any{"name": "artifacts", "mountPath": ArtifactMount}}
		pod["volumes"] = []any{map[string]any{
			"name":                  "artifacts",
			"persistentVolumeClaim": map[string]any{"claimName": run.Artifacts.PVC.ClaimName},
		}}
	}
	pod["containers"] = []any{c}
	render.Placement(pod, s.Placement)
	return pod
}

func envVar(name, value string) map[string]any { return map[string]any{"name": name, "value": value} }

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
