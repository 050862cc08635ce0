#!/usr/bin/env bash
# build.sh builds the real control plane mlsync's tests and demo run against,
# once, into a cache directory keyed by version, and reuses it afterwards.
#
#   test/controlplane/build.sh [apiserver|demo]   (default: apiserver)
#
# "apiserver" builds etcd and kube-apiserver (what the tests need); "demo"
# also builds kube-controller-manager, kube-scheduler and kwok.
# The cache lives in $MLSYNC_CACHE_DIR (default ~/.cache/mlsync); the binaries
# land in $MLSYNC_CACHE_DIR/controlplane/v1.37.2 and the script prints that path
# on its last line.
set -euo pipefail

K8S_VERSION=v1.37.2
ETCD_VERSION=v3.7.0
KWOK_VERSION=v0.8.0
here="$(cd "$(dirname "$0")" && pwd)"
cache="${MLSYNC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlsync}"
out="$cache/controlplane/$K8S_VERSION"
mkdir -p "$out"

what="${1:-apiserver}"
case "$what" in
apiserver) targets=(etcd kube-apiserver) ;;
demo) targets=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok) ;;
*) echo "usage: $0 [apiserver|demo]" >&2; exit 2 ;;
esac

ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37"
export CGO_ENABLED=0

# Serialise concurrent builds (two make targets, a test and the demo).
exec 9>"$out/.lock"
flock 9

estimate() {
	case "$1" in
	kube-apiserver) echo "about 6-15 minutes" ;;
	etcd) echo "about 1-2 minutes" ;;
	kwok) echo "about 4 minutes" ;;
	*) echo "about 2-4 minutes" ;;
	esac
}

for t in "${targets[@]}"; do
	if [[ -x "$out/$t" ]]; then
		continue
	fi
	case "$t" in
	kwok) v=$KWOK_VERSION ;;
	etcd) v=$ETCD_VERSION ;;
	*) v=$K8S_VERSION ;;
	esac
	echo ">> building $t $v, $(estimate "$t") on 2 cores, once (cached in $out)" >&2
	start=$SECONDS
	case "$t" in
	etcd)
		(cd "$here" && go build -trimpath -ldflags "-s -w" -o "$out/$t.tmp" ./cmd/etcd) ;;
	kwok)
		tmpbin="$(mktemp -d)"
		GOBIN="$tmpbin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
		mv "$tmpbin/kwok" "$out/$t.tmp"
		rmdir "$tmpbin" ;;
	*)
		(cd "$here" && go build -trimpath -ldflags "$ldflags" -o "$out/$t.tmp" "k8s.io/kubernetes/cmd/$t") ;;
	esac
	mv "$out/$t.tmp" "$out/$t"
	echo ">> built $t in $((SECONDS - start))s" >&2
done
echo "$out"
