package kube

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// stage is a step of a staged apply.
type stage int

// The apply stages, in order.
const (
	// stageDefinitions: CustomResourceDefinitions and Namespaces, which
	// everything else may need.
	stageDefinitions stage = iota
	// stageCluster: other cluster-scoped objects (ClusterRoles, ...).
	stageCluster
	// stageConfig: namespaced configuration workloads refer to.
	stageConfig
	// stageWorkloads: workloads, services and custom resources.
	stageWorkloads
	numStages
)

var clusterKinds = map[string]bool{
	"ClusterRole": true, "ClusterRoleBinding": true, "StorageClass": true, "PriorityClass": true,
	"PersistentVolume": true, "IngressClass": true, "RuntimeClass": true,
	"MutatingWebhookConfiguration": true, "ValidatingWebhookConfiguration": true,
	"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true, "APIService": true,
}

var configKinds = map[string]bool{
	"ServiceAccount": true, "Role": true, "RoleBinding": true, "ConfigMap": true, "Secret": true,
	"PersistentVolumeClaim": true, "LimitRange": true, "ResourceQuota": true, "NetworkPolicy": true,
}

// stageOf returns the stage an object is applied in.
func stageOf(o *unstructured.Unstructured) stage {
	kind := o.GetKind()
	switch {
	case kind == "CustomResourceDefinition" || kind == "Namespace":
		return stageDefinitions
	case clusterKinds[kind]:
		return stageCluster
	case configKinds[kind]:
		return stageConfig
	}
	return stageWorkloads
}

// waitEstablished waits until every CustomResourceDefinition that was just
// created or changed reports Established, and marks those that do not as
// failed. It reports whether any CRD was created or changed, which calls
// for a fresh look at the kinds the cluster serves.
func (m *ResourceManager) waitEstablished(ctx context.Context, objs []*unstructured.Unstructured, idx []int, changes ChangeSet) bool {
	deadline := time.Now().Add(m.opts.CRDTimeout)
	changed := false
	for _, i := range idx {
		if objs[i].GetKind() != "CustomResourceDefinition" ||
			(changes[i].Action != ActionCreated && changes[i].Action != ActionConfigured) {
			continue
		}
		changed = true
		ref := RefOf(objs[i])
		for {
			live, err := m.getLive(ctx, ref)
			if err == nil && live != nil {
				if c, ok := condition(live, "Established"); ok && c.status == "True" {
					break
				}
			}
			if ctx.Err() != nil {
				return changed
			}
			if time.Now().After(deadline) {
				changes[i] = Change{Object: ref, Action: ActionFailed,
					Reason: fmt.Sprintf("not Established after %s", m.opts.CRDTimeout)}
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return changed
}
