#!/usr/bin/env bash
# build.sh builds Gitea, the real Git forge mlsync's pull-request tests
# run against, once, into a cache directory keyed by version.
#
#   test/gitea/build.sh
#
# The cache lives in $MLSYNC_CACHE_DIR (default ~/.cache/mlsync): the
# binary lands in $MLSYNC_CACHE_DIR/gitea/<version>/gitea beside a copy of
# Gitea's source tree, which it serves templates and options from
# (STATIC_ROOT_PATH). The script prints that directory on its last line.
set -euo pipefail

GITEA_VERSION=v1.27.3
cache="${MLSYNC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlsync}"
out="$cache/gitea/$GITEA_VERSION"
mkdir -p "$out"
exec 9>"$out/.lock"
flock 9

if [[ ! -x "$out/gitea" ]]; then
	echo ">> building gitea $GITEA_VERSION, about 10 minutes on 2 cores (400 MB of module downloads), once (cached in $out)" >&2
	start=$SECONDS
	# `go install` refuses modules with replace directives: build inside a
	# writable copy of the module instead.
	dir="$(go mod download -json "code.gitea.io/gitea@$GITEA_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
	rm -rf "$out/src"
	cp -r "$dir" "$out/src"
	chmod -R u+w "$out/src"
	(cd "$out/src" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/gitea.tmp" .)
	mv "$out/gitea.tmp" "$out/gitea"
	echo ">> built gitea in $((SECONDS - start))s" >&2
fi
echo "$out"
