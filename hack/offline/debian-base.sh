#!/usr/bin/env bash
# Usage: hack/offline/debian-base.sh
#
# Makes the Debian base image (minbase debootstrap of $DEBIAN_SUITE from this
# machine's own Debian mirror, imported into Docker) that the Go builder,
# kube-proxy, helper and node images build on, since no registry can supply
# debian:bookworm here. Prints the image reference on stdout.
# Cached as ${GOKV_CACHE_DIR}/debian-base/<suite>/image.tar.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"

REF=$GOKV_LOCAL_REGISTRY/debian-base:$DEBIAN_SUITE
TARBALL=$GOKV_CACHE_DIR/debian-base/$DEBIAN_SUITE/image.tar

tmp=''
cleanup() { [[ -z $tmp ]] || rm -rf "$tmp"; }
trap cleanup EXIT

# debian_mirror: the Debian archive URI this machine's apt already uses
# (deb822 sources first, then the one-line format), so nothing is hard-coded.
debian_mirror() {
  local uri=''
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    uri=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [[ -z $uri ]]; then
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk '$1 == "deb" && $2 !~ /^\[/ && $2 !~ /security/ {print $2; exit}')
  fi
  [[ -n $uri ]] || die "cannot find a Debian mirror in /etc/apt/sources.list*"
  printf '%s\n' "$uri"
}

build() {
  command -v debootstrap >/dev/null || apt_install debootstrap
  local mirror
  mirror=$(debian_mirror)
  tmp=$(mktemp -d)
  log "debootstrap --variant=minbase $DEBIAN_SUITE (takes ~1.5 min)"
  debootstrap --variant=minbase "$DEBIAN_SUITE" "$tmp/rootfs" "$mirror" >"$tmp/debootstrap.log" 2>&1 ||
    { tail -n 30 "$tmp/debootstrap.log" >&2; die "debootstrap failed"; }
  # Keep the image small: downloaded packages are in the apt cache.
  rm -rf "$tmp/rootfs/var/cache/apt/archives/"*.deb "$tmp/rootfs/var/lib/apt/lists/"*
  log "importing $REF"
  tar -C "$tmp/rootfs" -c . |
    docker import --change 'CMD ["/bin/bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$REF" >/dev/null
}

ensure_image "$REF" "$TARBALL" build
printf '%s\n' "$REF"
