#!/usr/bin/env bash
# Usage: hack/image.sh [IMAGE]      (default: $IMAGE or gokv:dev)
#
# Builds the gokv image from the Dockerfile. GO_IMAGE and BASE_IMAGE replace
# the Dockerfile's builder and base when set; unset, hack/image-env.sh picks
# them for this machine (local stand-ins where no registry is reachable).
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$GOKV_HACK_DIR/.."

image=${1:-${IMAGE:-gokv:dev}}
if [[ -z ${GO_IMAGE+set} || -z ${BASE_IMAGE+set} ]]; then
  eval "$("$GOKV_HACK_DIR/image-env.sh")"
fi
version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)

args=(--build-arg "VERSION=$version" --build-arg "GOPROXY=$(go env GOPROXY)")
[[ -n $GO_IMAGE ]] && args+=(--build-arg "GO_IMAGE=$GO_IMAGE")
[[ -n $BASE_IMAGE ]] && args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")

log "building $image (version $version)"
docker build "${args[@]}" -t "$image" . >&2
log "built $image: $(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.1f MB", $1 / 1e6}')"
