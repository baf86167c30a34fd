#!/usr/bin/env bash
# Usage: hack/offline/etcd-image.sh BASE_IMAGE
#
# Makes the stand-in for the official etcd image the chart's bundled etcd
# runs (gcr.io/etcd-development/etcd:$ETCD_VERSION) when no registry is
# reachable: like upstream's Dockerfile, the distroless-like BASE_IMAGE
# (hack/offline/base-image.sh) with the etcd server at /usr/local/bin/etcd,
# WORKDIR /var/lib/etcd and CMD etcd; without etcdctl and etcdutl, which
# the chart never runs. The binary is the one hack/offline/build-binaries.sh
# builds from etcd's Go module for the kind node image, so a warm cache
# adds only this image (a few seconds). Prints the image reference.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"

base=${1:?usage: hack/offline/etcd-image.sh BASE_IMAGE}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$GOKV_HACK_DIR/offline/build-binaries.sh" etcd
bin=$GOKV_CACHE_DIR/etcd/$ETCD_VERSION/bin/etcd
REF=$(image_ref etcd-official "$ETCD_VERSION" "${BASH_SOURCE[0]}" "$(sha256sum <"$bin")" "$(image_id "$base")")

build() {
  log "building $REF"
  cp "$bin" "$tmp/etcd"
  cat >"$tmp/Dockerfile" <<DOCKERFILE
FROM $base
COPY etcd /usr/local/bin/etcd
WORKDIR /var/etcd/
WORKDIR /var/lib/etcd/
EXPOSE 2379 2380
CMD ["/usr/local/bin/etcd"]
DOCKERFILE
  docker build -q -t "$REF" "$tmp" >&2
}

ensure_image "$REF" "$(image_tarball "$REF")" build
printf '%s\n' "$REF"
