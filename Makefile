# mlsync's build, test and demo entry points. The two commands a new
# machine needs are `make demo` and `make test`; both build what is
# missing first (the control plane once, into $(MLSYNC_CACHE_DIR)).

SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
export MLSYNC_CACHE_DIR ?= $(HOME)/.cache/mlsync
TOOLS := -modfile=test/tools/go.mod
PKGS := ./...
# Packages with txtar golden tests that accept -update.
GOLDEN_PKGS := ./reconciler/render/ ./spec/

.PHONY: all build test test-unit bench bench-apply bench-git fuzz lint verify demo controlplane controlplane-demo clean

all: build

## build: the mlsync binary, in bin/
build:
	$(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o bin/mlsync ./cmd/mlsync

## controlplane: etcd + kube-apiserver for the tests (built once, cached)
controlplane:
	@test/controlplane/build.sh apiserver >/dev/null

## controlplane-demo: also controller-manager, scheduler and kwok
controlplane-demo:
	@test/controlplane/build.sh demo >/dev/null

## test: every test, unit and integration, against a real API server and real Git servers
test: controlplane
	$(GO) test -vet=off -count=1 -timeout 30m $(PKGS)

## test-unit: the tests that need no control plane or servers
test-unit:
	$(GO) test -vet=off -count=1 -short $(PKGS)

## bench: the benchmarks behind BENCHMARKS.md
bench: controlplane
	$(GO) test -vet=off -run '^$$' -bench . -benchmem -count 5 -timeout 60m $(PKGS)

## bench-apply: mlsync's apply engine side by side with kubectl and Flux's (BENCHMARKS.md)
bench-apply: controlplane
	@test -x $(MLSYNC_CACHE_DIR)/bench/fluxssa-v0.78.0 || (echo ">> building Flux's apply engine for the comparison, once" && \
		cd test/bench/fluxssa && $(GO) build -o $(MLSYNC_CACHE_DIR)/bench/fluxssa-v0.78.0 .)
	$(GO) run ./test/bench/apply --runs 5

## bench-git: mlsync's Git source side by side with the git CLI (BENCHMARKS.md)
bench-git:
	$(GO) run ./test/bench/git --runs 5

## fuzz: each fuzz target for a short while
fuzz:
	@for pkg in ./spec/ ./gitsource/webhook/; do \
		for t in $$($(GO) test -list 'Fuzz.*' $$pkg | grep ^Fuzz); do \
			$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime 30s $$pkg || exit 1; done; done

## lint: go vet and staticcheck (pinned in test/tools/go.mod)
lint:
	$(GO) vet $(PKGS)
	$(GO) tool $(TOOLS) staticcheck $(PKGS)

## verify: tidy modules, gofmt, and a clean tree after regenerating golden files
verify:
	$(GO) mod tidy -diff
	cd test/controlplane && $(GO) mod tidy -diff
	cd test/bench/fluxssa && $(GO) mod tidy -diff
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) test -vet=off -count=1 -short -run Golden $(GOLDEN_PKGS) -args -update >/dev/null
	@git diff --exit-code -- . || { echo "regenerating golden files changed the tree"; exit 1; }

## demo: a local cluster and Git server, mlsync run against both, a spec change pushed and applied
demo: build controlplane-demo
	$(GO) run ./test/demo --mlsync bin/mlsync

clean:
	rm -rf bin
