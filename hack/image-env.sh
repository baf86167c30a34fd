#!/usr/bin/env bash
# Usage: eval "$(hack/image-env.sh)"
#
# Prints the images this machine builds and runs gokv's cluster with, as
# shell assignments (progress on stderr):
#   NODE_IMAGE   kind node image; empty means kind's own default
#   GO_IMAGE     Dockerfile builder image; empty means the Dockerfile default
#   BASE_IMAGE   Dockerfile runtime base; empty means the Dockerfile default
#   ETCD_IMAGE   image to load as the chart's bundled etcd image; empty: the
#                cluster pulls the chart's default
# With a registry they are all empty: stock kind, golang:alpine, distroless.
# Without one (GOKV_OFFLINE=1, or auto-detected when the distroless base can
# neither be found nor pulled) they are the local stand-ins that
# hack/offline-images.sh builds. Variables already set in the environment win.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"

default_base=gcr.io/distroless/static-debian12:nonroot

# registry_reachable: the registry's name resolves and the base pulls. The
# name is checked first so that a machine without a network makes no
# connection attempt at all.
registry_reachable() {
  getent hosts "${default_base%%/*}" >/dev/null 2>&1 && docker pull -q "$default_base" >/dev/null 2>&1
}

offline=${GOKV_OFFLINE:-auto}
if [[ $offline == auto ]]; then
  if docker_image_exists "$default_base" || registry_reachable; then
    offline=0
  else
    log "cannot pull $default_base: using locally built images (GOKV_OFFLINE=0 forces the registry)"
    offline=1
  fi
fi

node=${NODE_IMAGE:-} go_image=${GO_IMAGE:-} base=${BASE_IMAGE:-} etcd=${ETCD_IMAGE:-}
if [[ $offline == 1 || $offline == true ]]; then
  eval "$("$GOKV_HACK_DIR/offline-images.sh")"
  node=${node:-$NODE_IMAGE} go_image=${go_image:-$GO_IMAGE} base=${base:-$BASE_IMAGE} etcd=${etcd:-$ETCD_IMAGE}
fi
printf 'NODE_IMAGE=%q\nGO_IMAGE=%q\nBASE_IMAGE=%q\nETCD_IMAGE=%q\n' "$node" "$go_image" "$base" "$etcd"
