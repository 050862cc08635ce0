package render

import (
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlsync/mlsync/kube"
	"github.com/mlsync/mlsync/spec"
)

// target is one place a model is served: a stage at its pinned version,
// or, for a model without stages, its own namespace.
type target struct {
	stage     string
	namespace string
	version   string
}

// servingTargets lists where m is served. A stage without a pinned
// version serves nothing yet.
func servingTargets(m *spec.Model) []target {
	if len(m.Stages) == 0 {
		return []target{{namespace: m.Namespace}}
	}
	var ts []target
	for _, s := range m.Stages {
		if s.Version != "" {
			ts = append(ts, target{stage: s.Name, namespace: s.Namespace, version: s.Version})
		}
	}
	return ts
}

// ServedVersionLatest stands for {version} when a model without stages is
// served as written.
const ServedVersionLatest = "latest"

func (t target) expand(s string) string {
	v := t.version
	if v == "" {
		v = ServedVersionLatest
	}
	return strings.ReplaceAll(s, "{version}", v)
}

func servingObjects(m *spec.Model, t target, opts Options) []*unstructured.Unstructured {
	ro, canary, inCanary := canaryFor(m, t, opts)
	if m.Serving.Runtime == spec.RuntimeKServe {
		isvc := inferenceService(m, t, opts)
		if inCanary {
			// KServe keeps serving the previous ready revision for the rest.
			_ = unstructured.SetNestedField(isvc.Object, int64(canary.Percent), "spec", "predictor", "canaryTrafficPercent")
			ann := isvc.GetAnnotations()
			ann[CanarySinceAnnotation] = ro.Since.UTC().Format(time.RFC3339)
			isvc.SetAnnotations(ann)
		} else if held, ok := heldFor(m, t, opts); ok {
			// KServe's rollback: the previous ready revision takes all
			// the traffic.
			_ = unstructured.SetNestedField(isvc.Object, int64(0), "spec", "predictor", "canaryTrafficPercent")
			markHeld(isvc, t, held)
		}
		return []*unstructured.Unstructured{isvc}
	}
	var objs []*unstructured.Unstructured
	if inCanary {
		objs = canaryDeployments(m, t, ro, canary, opts)
	} else if held, ok := heldFor(m, t, opts); ok {
		previous := t
		previous.version = held.From
		main := deployment(m, previous, opts)
		markHeld(main, t, held)
		objs = []*unstructured.Unstructured{main}
	} else {
		objs = []*unstructured.Unstructured{deployment(m, t, opts)}
	}
	objs = append(objs, service(m, t, opts))
	if m.Serving.Replicas.Max > m.Serving.Replicas.Min {
		objs = append(objs, autoscaler(m, t, opts))
	}
	return append(objs, monitoringObjects(m, t, opts)...)
}

// labels are the labels every serving object of m at t carries.
func labels(m *spec.Model, t target) map[string]any {
	l := map[string]any{
		kube.ManagedByLabel: kube.ManagedByValue,
		NameLabel:           m.Name,
		ComponentLabel:      ComponentServing,
		kube.ModelLabel:     m.Name,
	}
	if t.stage != "" {
		l[StageLabel] = t.stage
		l[VersionLabel] = t.version
	}
	return l
}

// selector is the stable subset of labels a Service and Deployment select
// on: never the version, which changes on every promotion.
func selector(m *spec.Model) map[string]any {
	return map[string]any{kube.ModelLabel: m.Name, ComponentLabel: ComponentServing}
}

func annotations(m *spec.Model, opts Options) map[string]any {
	a := map[string]any{
		kube.RevisionAnnotation: opts.Revision,
		kube.SourceAnnotation:   m.Source.File,
	}
	if m.Description != "" {
		a["mlsync.io/description"] = m.Description
	}
	if m.Owner != "" {
		a["mlsync.io/owner"] = m.Owner
	}
	return a
}

func metadata(m *spec.Model, t target, opts Options) map[string]any {
	return map[string]any{
		"name":        m.Name,
		"namespace":   t.namespace,
		"labels":      labels(m, t),
		"annotations": annotations(m, opts),
	}
}

func deployment(m *spec.Model, t target, opts Options) *unstructured.Unstructured {
	s := m.Serving
	env := identityEnv(m, t)
	if s.StorageURI != "" {
		env = append(env, map[string]any{"name": "MODEL_URI", "value": t.expand(s.StorageURI)})
	}
	container := map[string]any{
		"name":  "server",
		"image": t.expand(s.Image),
		"ports": []any{map[string]any{"name": "http", "containerPort": int64(s.Port), "protocol": "TCP"}},
		"env":   env,
		"readinessProbe": map[string]any{
			"tcpSocket":     map[string]any{"port": "http"},
			"periodSeconds": int64(5),
		},
		"livenessProbe": map[string]any{
			"tcpSocket":           map[string]any{"port": "http"},
			"initialDelaySeconds": int64(10),
			"periodSeconds":       int64(10),
		},
	}
	if r := Resources(s.Resources); r != nil {
		container["resources"] = r
	}
	podSpec := map[string]any{"containers": []any{container}}
	Placement(podSpec, s.Placement)
	podLabels := labels(m, t)
	specMap := map[string]any{
		"selector": map[string]any{"matchLabels": selector(m)},
		"template": map[string]any{
			"metadata": map[string]any{
				"labels": podLabels,
				"annotations": map[string]any{
					"prometheus.io/scrape": "true",
					"prometheus.io/port":   itoa(int64(s.Port)),
					"prometheus.io/path":   "/metrics",
				},
			},
			"spec": podSpec,
		},
	}
	// With an autoscaler the HPA owns spec.replicas; setting it here
	// would fight the HPA on every apply.
	if s.Replicas.Max <= s.Replicas.Min {
		specMap["replicas"] = int64(s.Replicas.Min)
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1",
		"kind":       "Deployment",
		"metadata":   metadata(m, t, opts),
		"spec":       specMap,
	}}
}

func service(m *spec.Model, t target, opts Options) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "Service",
		"metadata":   metadata(m, t, opts),
		"spec": map[string]any{
			"selector": selector(m),
			"ports": []any{map[string]any{
				"name": "http", "port": int64(80), "targetPort": "http", "protocol": "TCP",
			}},
		},
	}}
}

func autoscaler(m *spec.Model, t target, opts Options) *unstructured.Unstructured {
	s := m.Serving
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "autoscaling/v2",
		"kind":       "HorizontalPodAutoscaler",
		"metadata":   metadata(m, t, opts),
		"spec": map[string]any{
			"scaleTargetRef": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": m.Name},
			"minReplicas":    int64(max(s.Replicas.Min, 1)),
			"maxReplicas":    int64(s.Replicas.Max),
			"metrics": []any{map[string]any{
				"type": "Resource",
				"resource": map[string]any{
					"name":   "cpu",
					"target": map[string]any{"type": "Utilization", "averageUtilization": int64(s.Autoscaling.TargetCPU)},
				},
			}},
		},
	}}
}

// identityEnv tells a model server which model, version and stage it
// serves, for the labels of the metrics it exports.
func identityEnv(m *spec.Model, t target) []any {
	env := []any{
		map[string]any{"name": "MLSYNC_MODEL", "value": m.Name},
		map[string]any{"name": "MLSYNC_MODEL_VERSION", "value": t.expand("{version}")},
	}
	if t.stage != "" {
		env = append(env, map[string]any{"name": "MLSYNC_STAGE", "value": t.stage})
	}
	return env
}

func inferenceService(m *spec.Model, t target, opts Options) *unstructured.Unstructured {
	s := m.Serving
	model := map[string]any{
		"modelFormat": map[string]any{"name": s.ModelFormat},
		"storageUri":  t.expand(s.StorageURI),
	}
	if r := Resources(s.Resources); r != nil {
		model["resources"] = r
	}
	// The same identity as a Deployment's server, for a predictor that
	// exports mlsync's request metrics (canary analysis reads them).
	model["env"] = identityEnv(m, t)
	predictor := map[string]any{
		"minReplicas": int64(s.Replicas.Min),
		"maxReplicas": int64(max(s.Replicas.Max, s.Replicas.Min)),
		"model":       model,
	}
	Placement(predictor, s.Placement)
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "serving.kserve.io/v1beta1",
		"kind":       "InferenceService",
		"metadata":   metadata(m, t, opts),
		"spec":       map[string]any{"predictor": predictor},
	}}
}

// Resources renders a container's requests with equal limits; GPUs go
// in both. Nil when nothing is asked for.
func Resources(r *spec.Resources) map[string]any {
	if r == nil {
		return nil
	}
	req := map[string]any{}
	if r.CPU != "" {
		req["cpu"] = r.CPU
	}
	if r.Memory != "" {
		req["memory"] = r.Memory
	}
	if r.GPU != nil {
		req[r.GPU.Resource] = itoa(int64(r.GPU.Count))
	}
	if len(req) == 0 {
		return nil
	}
	limits := map[string]any{}
	for k, v := range req {
		limits[k] = v
	}
	return map[string]any{"requests": req, "limits": limits}
}

// Placement adds a node selector and tolerations to a pod spec.
func Placement(podSpec map[string]any, p spec.Placement) {
	if len(p.NodeSelector) > 0 {
		sel := map[string]any{}
		for k, v := range p.NodeSelector {
			sel[k] = v
		}
		podSpec["nodeSelector"] = sel
	}
	if len(p.Tolerations) > 0 {
		tols := make([]any, 0, len(p.Tolerations))
		for _, t := range p.Tolerations {
			tol := map[string]any{"operator": t.Operator}
			if t.Key != "" {
				tol["key"] = t.Key
			}
			if t.Value != "" {
				tol["value"] = t.Value
			}
			if t.Effect != "" {
				tol["effect"] = t.Effect
			}
			if t.TolerationSeconds != nil {
				tol["tolerationSeconds"] = *t.TolerationSeconds
			}
			tols = append(tols, tol)
		}
		podSpec["tolerations"] = tols
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
