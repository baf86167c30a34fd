#!/usr/bin/env bash
# Usage: hack/kind-up.sh [IMAGE]     (default: $IMAGE or gokv:dev)
#
# Creates the kind cluster $KIND_CLUSTER (default gokv) from
# k8s/kind-config.yaml unless it exists, and loads IMAGE into it (build it
# first with `make image`). The node image is kind's default, or the local
# one hack/image-env.sh picks where no registry is reachable.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$GOKV_HACK_DIR/.."

image=${1:-${IMAGE:-gokv:dev}}
cluster=${KIND_CLUSTER:-gokv}
kind=$("$GOKV_HACK_DIR/gotool.sh" kind)

docker_image_exists "$image" || die "no image $image: run make image first"
if "$kind" get clusters 2>/dev/null | grep -qx "$cluster"; then
  log "kind cluster $cluster exists"
else
  [[ -n ${NODE_IMAGE+set} ]] || eval "$("$GOKV_HACK_DIR/image-env.sh")"
  log "creating kind cluster $cluster${NODE_IMAGE:+ from $NODE_IMAGE}"
  "$kind" create cluster --name "$cluster" --config k8s/kind-config.yaml \
    ${NODE_IMAGE:+--image "$NODE_IMAGE"} --wait 3m
fi
log "loading $image into $cluster"
"$kind" load docker-image "$image" --name "$cluster"
log "kubectl context: kind-$cluster"
