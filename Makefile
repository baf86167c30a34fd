# gokv — run `make help` for the targets.

# Throwaway secret for local development only; `make run` and `make token`
# agree on it. Never use it anywhere else.
DEV_SECRET ?= gokv-dev-secret-do-not-use-in-production
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
FUZZTIME   ?= 100000x
SOAK_DURATION ?= 10m
FAULTS_DURATION ?= 2m
BIN        ?= bin
IMAGE      ?= gokv:dev
# Scope of `make token`, e.g. SCOPE=admin for backups; empty: read and write.
SCOPE      ?=
LDFLAGS    := -s -w -X main.version=$(VERSION)

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: run
run: ## Run gokv on :8080 with ./data and the dev secret
	JWT_SECRET='$(DEV_SECRET)' go run ./cmd/gokv

.PHONY: token
token: ## Print a 1h token for the dev secret (for `make run`; SCOPE=admin for backups)
	@JWT_SECRET='$(DEV_SECRET)' go run ./cmd/jwt-gen --expires-in 1h $(if $(SCOPE),--scope '$(SCOPE)')

.PHONY: build
build: ## Build the commands into ./bin: gokv, jwt-gen and gokvctl as the image has them, and gokv-bench
	CGO_ENABLED=0 go build -trimpath -tags nomsgpack -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

.PHONY: test
test: lint unit chart fuzz ## Everything CI runs before the cluster tests: lint, unit and chart tests, fuzzing

.PHONY: lint
lint: ## gofmt and go vet
	@unformatted=$$(gofmt -l .); \
	  if [ -n "$$unformatted" ]; then echo "not gofmt-formatted:"; echo "$$unformatted"; exit 1; fi
	go vet ./...
	cd test && go vet -tags e2e ./...

.PHONY: lint-sh
lint-sh: ## shellcheck the scripts (needs Debian's shellcheck package)
	shellcheck -x $$(git ls-files '*.sh' .ci/run)

.PHONY: unit
unit: ## Unit, HTTP and binary tests with the race detector
	go test -race -count=1 ./...

.PHONY: chart
chart: ## Chart tests: lint, render every scenario, strict decoding, k8s/ in sync, skaffold.yaml
	cd test && go test -count=1 ./chart/...

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME executions or duration (default 100000x)
	hack/fuzz.sh $(FUZZTIME)

.PHONY: faults
faults: ## Fault tests for FAULTS_DURATION each: SIGKILL gokv on Badger, kill etcd members under gokv; no acknowledged write lost, histories linearizable
	GOKV_FAULTS_DURATION=$(FAULTS_DURATION) go test -race -count=1 -v -timeout 60m ./internal/faults/

.PHONY: bench
bench: ## gokv vs the ceiling with gokv-bench and wrk: throughput, p99, durable writes, RSS, cold start, API v1 (~13 min)
	hack/bench.sh

.PHONY: bench-go
bench-go: ## Go benchmarks of the hot paths (auth, routing, storage, listing 1M keys, transactions, whole stack)
	go test -run '^$$' -bench . -benchmem ./...

.PHONY: soak
soak: ## 10 minutes of mixed load: no errors, flat RSS and goroutines (SOAK_DURATION=10m)
	hack/soak.sh $(SOAK_DURATION)

.PHONY: image
image: ## Build the container image $(IMAGE)
	hack/image.sh $(IMAGE)

.PHONY: manifests
manifests: ## Render k8s/ from the chart
	hack/render-manifests.sh

.PHONY: kind-up
kind-up: ## Create the kind cluster (if needed) and load $(IMAGE) into it
	hack/kind-up.sh $(IMAGE)

.PHONY: deploy
deploy: ## helm upgrade --install the chart with $(IMAGE) into the current context
	hack/deploy.sh $(IMAGE)

.PHONY: e2e
e2e: ## End-to-end tests on a real kind cluster (needs Docker; see hack/e2e.sh)
	hack/e2e.sh $(E2E_ARGS)

.PHONY: kind-down
kind-down: ## Delete the kind cluster
	hack/kind-down.sh

.PHONY: clean
clean: ## Remove build outputs and the local ./data
	rm -rf $(BIN) data
