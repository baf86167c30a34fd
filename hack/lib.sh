#!/usr/bin/env bash
# Usage: source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"   (from a hack/ script)
# shellcheck disable=SC2034 # the pins and paths are used by the scripts that source this
#
# Shared helpers and version pins for the hack/ scripts that build the offline
# kind cluster's ingredients. Every pin lives here so a bump is one edit and
# changes every cache key that depends on it.

# Root of the hack/ directory this file lives in (works from a copied tree too).
GOKV_HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Machine-local cache outside the repository: built binaries, saved images, logs.
GOKV_CACHE_DIR=${GOKV_CACHE_DIR:-$HOME/.cache/gokv}
# One clock for a whole run, so nested scripts print elapsed time since the
# outermost script started.
GOKV_T0=${GOKV_T0:-$(date +%s)}
export GOKV_CACHE_DIR GOKV_T0

# Version pins (see hack/offline/README.md for why these).
KIND_VERSION=v0.30.0
HELM_VERSION=v3.19.0
K8S_VERSION=v1.34.4
ETCD_VERSION=v3.6.5
ETCD_IMAGE_TAG=3.6.5-0
COREDNS_VERSION=v1.12.1
PAUSE_VERSION=3.10.1
LOCAL_PATH_PROVISIONER_VERSION=v0.0.30
CRICTL_VERSION=v1.34.0
DEBIAN_SUITE=bookworm

# Made-up registry for images that exist only in the local Docker engine.
GOKV_LOCAL_REGISTRY=gokv.local

# log MESSAGE...: progress line with elapsed seconds, to stderr.
log() {
  printf '[%4ds] %s\n' "$(($(date +%s) - GOKV_T0))" "$*" >&2
}

# die MESSAGE...: log and exit non-zero.
die() {
  log "ERROR: $*"
  exit 1
}

# apt_install PACKAGE...: non-interactive install; refreshes the package
# lists once if the first attempt fails (a new machine has none, or stale ones).
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q --no-install-recommends "$@" >&2; then
    log "apt-get install failed; running apt-get update and retrying"
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "$@" >&2
  fi
}

# inputs_hash FILE|STRING...: a short hash of file contents (for paths that
# exist) and literal strings, used as a cache key so that changing any input
# of a build (script, pin, go.sum, Go version) rebuilds it.
inputs_hash() {
  local arg
  for arg in "$@"; do
    if [[ -f $arg ]]; then
      printf 'file %s\n' "$(basename "$arg")"
      cat "$arg"
    else
      printf 'str %s\n' "$arg"
    fi
  done | sha256sum | cut -c1-12
}

# go_version: the Go toolchain version (part of every binary cache key).
go_version() {
  go env GOVERSION
}

# docker_image_exists REF: true if the local engine has the image.
docker_image_exists() {
  docker image inspect "$1" >/dev/null 2>&1
}

# ensure_image REF TARBALL BUILD_FUNCTION: make REF present in the local
# engine: keep it if present, else `docker load` TARBALL if cached, else run
# BUILD_FUNCTION (which must create REF) and save REF to TARBALL.
ensure_image() {
  local ref=$1 tarball=$2 build=$3
  if docker_image_exists "$ref"; then
    log "image $ref present"
    return 0
  fi
  if [[ -s $tarball ]]; then
    log "loading $ref from $tarball"
    docker load -i "$tarball" >&2
    docker_image_exists "$ref" || die "$tarball did not contain $ref"
    return 0
  fi
  "$build"
  docker_image_exists "$ref" || die "$build did not produce $ref"
  # Drop superseded builds (same name and version, other inputs) from the
  # engine; one still used by a container stays.
  local old
  for old in $(docker images --format '{{.Repository}}:{{.Tag}}' "${ref%%:*}"); do
    if [[ $old != "$ref" && ${old%-*} == "${ref%-*}" ]]; then
      if docker rmi "$old" >/dev/null 2>&1; then log "removed superseded image $old"; fi
    fi
  done
  log "saving $ref to $tarball"
  mkdir -p "$(dirname "$tarball")"
  # Older builds of the same image and version are superseded by this one.
  find "$(dirname "$tarball")" -maxdepth 1 -name '*.tar' ! -name "$(basename "$tarball")" -delete
  docker save -o "$tarball.tmp" "$ref"
  mv "$tarball.tmp" "$tarball"
}

# image_ref NAME VERSION INPUT...: the local tag of an image built from
# INPUTs (files or strings, see inputs_hash): gokv.local/NAME:VERSION-HASH.
# A change to any input gives a new tag, so a stale image is never reused.
image_ref() {
  local name=$1 version=$2
  shift 2
  printf '%s/%s:%s-%s\n' "$GOKV_LOCAL_REGISTRY" "$name" "$version" "$(inputs_hash "$@")"
}

# image_tarball REF: where the `docker save` of REF is cached:
# ${GOKV_CACHE_DIR}/<name>/<version>/image-<hash>.tar.
image_tarball() {
  local ref=$1 name tag
  name=${ref#"$GOKV_LOCAL_REGISTRY"/}
  name=${name%%:*}
  tag=${ref##*:}
  printf '%s/%s/%s/image-%s.tar\n' "$GOKV_CACHE_DIR" "$name" "${tag%-*}" "${tag##*-}"
}

# image_id REF: the engine's ID of REF (an input of images built on it).
image_id() {
  docker image inspect -f '{{.Id}}' "$1"
}

# import_rootfs REF DIR [--change INSTRUCTION]...: make an image from a plain
# directory tree (for scratch-like images: no Dockerfile, exact ownership).
import_rootfs() {
  local ref=$1 dir=$2
  shift 2
  tar --numeric-owner -C "$dir" -c . | docker import "$@" - "$ref" >/dev/null
}
