package kube

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// LoadConfig returns the client configuration of a kubeconfig file and
// context. An empty path follows kubectl's rules ($KUBECONFIG, then
// ~/.kube/config, then the in-cluster service account); an empty context
// means the file's current context.
func LoadConfig(path, context string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	overrides := &clientcmd.ConfigOverrides{CurrentContext: context}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		where := path
		if where == "" {
			where = "default kubeconfig"
		}
		return nil, fmt.Errorf("loading %s: %w", where, err)
	}
	return cfg, nil
}
