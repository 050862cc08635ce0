// Command fluxssa applies a YAML file of objects with Flux's apply engine
// (github.com/fluxcd/pkg/ssa, ResourceManager.ApplyAllStaged, as
// kustomize-controller runs it), so mlsync's apply benchmark can put the
// two side by side in one run. It prints "<seconds> <objects>" and
// nothing else on success.
//
//	fluxssa --kubeconfig K --file objects.yaml
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/pkg/ssa"
	ssautils "github.com/fluxcd/pkg/ssa/utils"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file")
	file := flag.String("file", "", "YAML file of objects")
	// The same client rate limit as mlsync's defaults, so the engines are
	// compared, not the limits (kustomize-controller's own defaults,
	// --kube-api-qps=50 --kube-api-burst=300, make a cold apply of 5,010
	// objects take about five minutes).
	qps := flag.Float64("qps", 300, "client QPS")
	burst := flag.Int("burst", 600, "client burst")
	flag.Parse()
	if err := run(*kubeconfig, *file, float32(*qps), *burst); err != nil {
		fmt.Fprintln(os.Stderr, "fluxssa:", err)
		os.Exit(1)
	}
}

func run(kubeconfig, file string, qps float32, burst int) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = qps, burst
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return err
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	objs, err := ssautils.ReadObjects(f)
	if err != nil {
		return err
	}
	poller := polling.NewStatusPoller(c, c.RESTMapper(), polling.Options{})
	m := ssa.NewResourceManager(c, poller, ssa.Owner{Field: "flux", Group: "kustomize.toolkit.fluxcd.io"})
	opts := ssa.DefaultApplyOptions()
	start := time.Now()
	if _, err := m.ApplyAllStaged(context.Background(), objs, opts); err != nil {
		return err
	}
	fmt.Printf("%.3f %d\n", time.Since(start).Seconds(), len(objs))
	return nil
}
