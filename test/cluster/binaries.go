package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// KubernetesVersion is the version of the control plane build.sh builds.
const KubernetesVersion = "v1.37.2"

// CacheDir is where build.sh keeps the control-plane binaries:
// $MLSYNC_CACHE_DIR, else the user cache directory's mlsync folder.
func CacheDir() string {
	if d := os.Getenv("MLSYNC_CACHE_DIR"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "mlsync")
	}
	return filepath.Join(os.TempDir(), "mlsync-cache")
}

// BinDir returns the directory holding the control-plane binaries for
// the given set ("apiserver" or "demo"). Missing binaries are built by
// test/controlplane/build.sh, which prints its progress to stderr.
func BinDir(set string) (string, error) {
	dir := filepath.Join(CacheDir(), "controlplane", KubernetesVersion)
	want := []string{"etcd", "kube-apiserver"}
	if set == "demo" {
		want = append(want, "kube-controller-manager", "kube-scheduler", "kwok")
	}
	missing := false
	for _, b := range want {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			missing = true
		}
	}
	if !missing {
		return dir, nil
	}
	script, err := buildScript()
	if err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "cluster: control-plane binaries missing in %s; building them once with %s\n", dir, script)
	var out bytes.Buffer
	cmd := exec.Command("bash", script, set)
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building control plane: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	return lines[len(lines)-1], nil
}

// buildScript finds test/controlplane/build.sh from the working directory
// upwards, or next to this source file.
func buildScript() (string, error) {
	const rel = "test/controlplane/build.sh"
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, rel)); err == nil {
				return filepath.Join(d, rel), nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		p := filepath.Join(filepath.Dir(file), "..", "controlplane", "build.sh")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("cannot find " + rel + " (run from inside the mlsync repository)")
}
