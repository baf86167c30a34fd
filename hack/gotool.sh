#!/usr/bin/env bash
# Usage: hack/gotool.sh kind|helm|kubectl
#
# Prints the path of a tool binary built from the Go module proxy at the
# version pinned in hack/lib.sh, building it once into
# ${GOKV_CACHE_DIR:-$HOME/.cache/gokv}/bin/ (kubectl: the v1.34.4 kubectl of
# the offline Kubernetes build, hack/offline/build-binaries.sh). Progress goes
# to stderr, so use it as: KIND=$(hack/gotool.sh kind).
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# go_install PACKAGE VERSION NAME [LDFLAGS]: build PACKAGE@VERSION as
# bin/NAME-VERSION.
go_install() {
  local pkg=$1 version=$2 name=$3 ldflags=${4:-}
  local out=$GOKV_CACHE_DIR/bin/$name-$version key
  # The stamp beside the binary rebuilds it when the flags or Go change.
  key=$(inputs_hash "$pkg" "$version" "$ldflags" "$(go_version)")
  if [[ ! -x $out || ! -f $out.inputs || $(<"$out.inputs") != "$key" ]]; then
    log "building $name $version"
    local tmp
    tmp=$(mktemp -d)
    # shellcheck disable=SC2064 # expand now: tmp is local
    trap "rm -rf '$tmp'" EXIT
    (cd "$tmp" && CGO_ENABLED=0 GOTOOLCHAIN=local GOBIN=$tmp go install -trimpath -ldflags="-s -w $ldflags" "$pkg@$version") >&2
    mkdir -p "$(dirname "$out")"
    mv "$tmp/$(basename "${pkg%/v[0-9]*}")" "$out"
    printf '%s\n' "$key" >"$out.inputs"
  fi
  printf '%s\n' "$out"
}

case ${1:-} in
  kind) go_install sigs.k8s.io/kind "$KIND_VERSION" kind ;;
  helm)
    # As helm's Makefile does: its version, and the Kubernetes version that
    # `helm template` and `helm lint` assume (that of its k8s.io modules).
    h=helm.sh/helm/v3
    go_install $h/cmd/helm "$HELM_VERSION" helm "-X $h/internal/version.version=$HELM_VERSION \
      -X $h/pkg/chartutil.k8sVersionMajor=1 -X $h/pkg/chartutil.k8sVersionMinor=34 \
      -X $h/pkg/lint/rules.k8sVersionMajor=1 -X $h/pkg/lint/rules.k8sVersionMinor=34"
    ;;
  kubectl)
    "$GOKV_HACK_DIR/offline/build-binaries.sh" k8s
    printf '%s\n' "$GOKV_CACHE_DIR/k8s/$K8S_VERSION/bin/kubectl"
    ;;
  *) die "usage: $0 kind|helm|kubectl" ;;
esac
