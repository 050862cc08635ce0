package cluster

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

//go:embed kwok-stages.yaml
var kwokStages []byte

// Options choose what to start.
type Options struct {
	// Full also starts kube-controller-manager, kube-scheduler and kwok
	// with one simulated node, so workloads get (simulated) pods.
	Full bool
	// Dir keeps data, certificates and logs; a temporary directory when
	// empty. It is removed by Stop only when it was temporary.
	Dir string
}

// Cluster is a running local control plane.
type Cluster struct {
	dir        string
	ownDir     bool
	config     *rest.Config
	kubeconfig string
	procs      []*process

	stopOnce sync.Once
	nsMu     sync.Mutex
	nsSeq    int
}

// Start starts etcd and kube-apiserver (and, with Options.Full, the rest
// of a small cluster) and waits until the API server is ready.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	set := "apiserver"
	if opts.Full {
		set = "demo"
	}
	bin, err := BinDir(set)
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: opts.Dir}
	if c.dir == "" {
		sweepStale()
		if c.dir, err = os.MkdirTemp("", tempPrefix); err != nil {
			return nil, err
		}
		c.ownDir = true
		if err := os.WriteFile(filepath.Join(c.dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			return nil, err
		}
	}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	p, err := newPKI(c.dir)
	if err != nil {
		return nil, fmt.Errorf("generating certificates: %w", err)
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	if err := c.startEtcd(bin, ports[0], ports[1]); err != nil {
		return nil, err
	}
	if err := c.startAPIServer(ctx, bin, p, ports[0], ports[2], opts.Full); err != nil {
		return nil, err
	}
	if opts.Full {
		if err := c.startNodes(ctx, bin, p); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *Cluster) startEtcd(bin string, clientPort, peerPort int) error {
	client := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peer := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	p, err := startProcess(c.dir, "etcd", filepath.Join(bin, "etcd"),
		"--name=mlsync", "--data-dir="+filepath.Join(c.dir, "etcd"),
		"--listen-client-urls="+client, "--advertise-client-urls="+client,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer,
		"--initial-cluster=mlsync="+peer,
		"--unsafe-no-fsync", "--log-level=warn", "--quota-backend-bytes=4294967296")
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	return nil
}

func (c *Cluster) startAPIServer(ctx context.Context, bin string, p *pki, etcdPort, port int, full bool) error {
	admission := "--disable-admission-plugins=ServiceAccount"
	if full {
		admission = "--enable-admission-plugins=ServiceAccount"
	}
	proc, err := startProcess(c.dir, "kube-apiserver", filepath.Join(bin, "kube-apiserver"),
		"--etcd-servers=http://127.0.0.1:"+strconv.Itoa(etcdPort),
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none",
		"--secure-port="+strconv.Itoa(port),
		"--cert-dir="+filepath.Join(c.dir, "apiserver-certs"),
		"--tls-cert-file="+p.path("apiserver.crt"), "--tls-private-key-file="+p.path("apiserver.key"),
		"--client-ca-file="+p.path("ca.crt"),
		"--service-account-key-file="+p.path("sa.pub"),
		"--service-account-signing-key-file="+p.path("sa.key"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-cluster-ip-range=10.0.0.0/16",
		"--authorization-mode=RBAC", "--allow-privileged=true",
		admission, "--v=0")
	if err != nil {
		return err
	}
	c.procs = append(c.procs, proc)
	c.config = &rest.Config{
		Host: "https://127.0.0.1:" + strconv.Itoa(port),
		TLSClientConfig: rest.TLSClientConfig{
			CAData: p.caCert, CertData: p.adminCert, KeyData: p.adminKey,
		},
		QPS: 200, Burst: 400,
	}
	if err := c.writeKubeconfig(p); err != nil {
		return err
	}
	hc, err := rest.HTTPClientFor(c.config)
	if err != nil {
		return err
	}
	return waitFor(90*time.Second, c.procs, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.config.Host+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			return fmt.Errorf("/readyz: %s: %s", resp.Status, body)
		}
		return nil
	})
}

func (c *Cluster) writeKubeconfig(p *pki) error {
	c.kubeconfig = filepath.Join(c.dir, "kubeconfig")
	kc := clientcmdapi.NewConfig()
	kc.Clusters["local"] = &clientcmdapi.Cluster{Server: c.config.Host, CertificateAuthorityData: p.caCert}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: p.adminCert, ClientKeyData: p.adminKey}
	kc.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "admin"}
	kc.CurrentContext = "local"
	return clientcmd.WriteToFile(*kc, c.kubeconfig)
}

// startNodes starts kube-controller-manager, kube-scheduler and kwok, and
// registers one simulated node.
func (c *Cluster) startNodes(ctx context.Context, bin string, p *pki) error {
	cm, err := startProcess(c.dir, "kube-controller-manager", filepath.Join(bin, "kube-controller-manager"),
		"--kubeconfig="+c.kubeconfig, "--leader-elect=false", "--secure-port=0",
		"--controllers=*", "--use-service-account-credentials=false",
		"--service-account-private-key-file="+p.path("sa.key"),
		"--root-ca-file="+p.path("ca.crt"),
		"--cluster-signing-cert-file="+p.path("ca.crt"), "--cluster-signing-key-file="+p.path("ca.key"))
	if err != nil {
		return err
	}
	c.procs = append(c.procs, cm)
	sched, err := startProcess(c.dir, "kube-scheduler", filepath.Join(bin, "kube-scheduler"),
		"--kubeconfig="+c.kubeconfig, "--leader-elect=false", "--secure-port=0")
	if err != nil {
		return err
	}
	c.procs = append(c.procs, sched)
	stages := filepath.Join(c.dir, "kwok-stages.yaml")
	if err := os.WriteFile(stages, kwokStages, 0o644); err != nil {
		return err
	}
	kwok, err := startProcess(c.dir, "kwok", filepath.Join(bin, "kwok"),
		"--kubeconfig="+c.kubeconfig, "--manage-all-nodes=true", "--config="+stages,
		"--server-address=", "--node-lease-duration-seconds=40")
	if err != nil {
		return err
	}
	c.procs = append(c.procs, kwok)
	client, err := dynamic.NewForConfig(c.config)
	if err != nil {
		return err
	}
	node := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Node",
		"metadata": map[string]any{
			"name":        "kwok-node-0",
			"annotations": map[string]any{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
			"labels":      map[string]any{"kubernetes.io/hostname": "kwok-node-0", "type": "kwok"},
		},
	}}
	nodes := client.Resource(schema.GroupVersionResource{Version: "v1", Resource: "nodes"})
	if _, err := nodes.Create(ctx, node, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating simulated node: %w", err)
	}
	// Ready when the node is Ready and the default service account exists
	// (pods are refused without it).
	sa := client.Resource(schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}).Namespace("default")
	return waitFor(90*time.Second, c.procs, func() error {
		n, err := nodes.Get(ctx, "kwok-node-0", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !nodeReady(n) {
			return errors.New("simulated node is not Ready yet")
		}
		_, err = sa.Get(ctx, "default", metav1.GetOptions{})
		return err
	})
}

func nodeReady(n *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(n.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == "Ready" && m["status"] == "True" {
			return true
		}
	}
	return false
}

const tempPrefix = "mlsync-cluster-"

// sweepStale removes temporary cluster directories whose owning process
// is gone (a test binary that panicked or was killed cannot clean up; its
// processes died with it through the parent-death signal).
func sweepStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), tempPrefix+"*"))
	for _, d := range dirs {
		data, err := os.ReadFile(filepath.Join(d, "owner.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(string(data))
		if err != nil || pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue
		}
		os.RemoveAll(d)
	}
}

// Config returns a client configuration with cluster-admin rights.
func (c *Cluster) Config() *rest.Config { return rest.CopyConfig(c.config) }

// Kubeconfig returns the path of a kubeconfig file for the cluster, for
// kubectl and for mlsync run as a separate process.
func (c *Cluster) Kubeconfig() string { return c.kubeconfig }

// Dir is the directory with the cluster's data, certificates and logs.
func (c *Cluster) Dir() string { return c.dir }

// Stop stops every process the cluster started, newest first, and removes
// its temporary directory. It is safe to call more than once.
func (c *Cluster) Stop() {
	c.stopOnce.Do(func() {
		for i := len(c.procs) - 1; i >= 0; i-- {
			c.procs[i].stop(2 * time.Second) // ephemeral data: no need to drain
		}
		if c.ownDir {
			os.RemoveAll(c.dir)
		}
	})
}
