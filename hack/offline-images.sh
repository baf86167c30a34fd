#!/usr/bin/env bash
# Usage: hack/offline-images.sh
#
# Builds, loads from ${GOKV_CACHE_DIR:-$HOME/.cache/gokv}, or finds already in
# Docker every local image the registry-less e2e path needs, checks the Go
# builder and base images with a project-shaped Dockerfile, and prints as its
# last lines on stdout (all progress goes to stderr):
#   NODE_IMAGE=<kind node image, Kubernetes v1.34.4, for k8s/kind-config.yaml>
#   GO_IMAGE=<Go builder image, stands in for golang:1.26-alpine>
#   BASE_IMAGE=<runtime base, stands in for gcr.io/distroless/static-debian12:nonroot>
#   ETCD_IMAGE=<etcd from its Go module, stands in for the chart's gcr.io/etcd-development/etcd>
# so that `eval "$(hack/offline-images.sh)"` sets them. Needs a running Docker
# engine (hack/docker-up.sh). Measured on 2 cores: cold (empty Go and gokv
# caches) 15 min, mostly Go builds of Kubernetes, CoreDNS, etcd...; warm 6 s,
# or 30 s when the images must be loaded from the cache's tarballs.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

docker info >/dev/null 2>&1 || die "no Docker engine: run hack/docker-up.sh first"
off=$GOKV_HACK_DIR/offline

log "phase: Go builder image"
go_image=$("$off/go-image.sh")
log "phase: runtime base image"
base_image=$("$off/base-image.sh")
log "phase: check both with a project-shaped Dockerfile"
"$off/probe-image.sh" "$go_image" "$base_image" >/dev/null
log "phase: etcd image for the chart's bundled etcd"
etcd_image=$("$off/etcd-image.sh" "$base_image")
log "phase: kind node image (Go builds, component images, node image)"
node_image=$("$off/node-image.sh")
log "done"

printf 'NODE_IMAGE=%s\nGO_IMAGE=%s\nBASE_IMAGE=%s\nETCD_IMAGE=%s\n' "$node_image" "$go_image" "$base_image" "$etcd_image"
