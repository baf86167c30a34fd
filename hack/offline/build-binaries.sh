#!/usr/bin/env bash
# Usage: hack/offline/build-binaries.sh [COMPONENT...]
#   COMPONENT: k8s | etcd | coredns | pause | local-path-provisioner | crictl
#   (default: all)
#
# Builds the static Go binaries of the offline kind node image from the Go
# module proxy with this machine's Go, into
#   ${GOKV_CACHE_DIR:-$HOME/.cache/gokv}/<component>/<version>/bin/
# Each directory carries an .inputs stamp (hash of the pins, go.mod/go.sum,
# build commands and flags, Go version); a matching stamp means the build is skipped, a
# different one means it is redone. Prints nothing on stdout.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"
OFFLINE_DIR=$GOKV_HACK_DIR/offline

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# GOWORK=off: a go.work the project may add must not pull these tool modules in.
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false GOWORK=off

# build_cached NAME VERSION BUILD_FUNCTION INPUT...: run BUILD_FUNCTION OUTDIR
# unless NAME/VERSION/bin already holds a build of the same inputs.
build_cached() {
  local name=$1 version=$2 build=$3
  shift 3
  local dir=$GOKV_CACHE_DIR/$name/$version key
  # The build function's own text is an input too: changing how a component
  # is built rebuilds it.
  key=$(inputs_hash "$@" "$(go_version)" "$name" "$version" "$(declare -f "$build")")
  if [[ -f $dir/.inputs && $(<"$dir/.inputs") == "$key" && -d $dir/bin ]]; then
    log "$name $version: cached in $dir/bin"
    return 0
  fi
  log "building $name $version"
  local out=$tmp/$name-bin
  rm -rf "$out"
  mkdir -p "$out"
  "$build" "$out"
  # Replace the whole directory only after a complete build.
  rm -rf "$dir"
  mkdir -p "$dir"
  mv "$out" "$dir/bin"
  printf '%s\n' "$key" >"$dir/.inputs"
  log "built $name $version: $(cd "$dir/bin" && echo *)"
}

K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet kubeadm kubectl)
K8S_MINOR=${K8S_VERSION#v1.}
K8S_MINOR=${K8S_MINOR%%.*}
# Flags of Kubernetes' own release build (hack/lib/golang.sh): the version
# stamps make `kubeadm version` and /version report v1.34.4, which kind and
# kubeadm check; the tags drop test-only and tracing code.
K8S_LDFLAGS="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$K8S_MINOR -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$K8S_MINOR"
K8S_TAGS=selinux,notest,grpcnotrace

build_k8s() {
  local pkgs=() cmd
  for cmd in "${K8S_CMDS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$cmd"); done
  # One `go build` for all commands so the shared packages compile once.
  (cd "$OFFLINE_DIR/k8s" && go build -trimpath -tags="$K8S_TAGS" -ldflags="$K8S_LDFLAGS" -o "$1/" "${pkgs[@]}")
}

build_etcd() {
  (cd "$OFFLINE_DIR/etcd" && go build -trimpath -ldflags="-s -w" -o "$1/etcd" go.etcd.io/etcd/server/v3)
}

build_coredns() {
  # CoreDNS's go.mod has no replace directives, so `go install @version` works.
  (cd "$tmp" && GOBIN=$1 go install -trimpath -ldflags="-s -w" "github.com/coredns/coredns@$COREDNS_VERSION")
}

build_pause() {
  (cd "$OFFLINE_DIR/pause" && go build -trimpath -ldflags="-s -w" -o "$1/pause" .)
}

build_local_path_provisioner() {
  (cd "$tmp" && GOBIN=$1 go install -trimpath -ldflags="-s -w -X main.VERSION=$LOCAL_PATH_PROVISIONER_VERSION" \
    "github.com/rancher/local-path-provisioner@$LOCAL_PATH_PROVISIONER_VERSION")
}

build_crictl() {
  # kind runs crictl in its nodes (image lookups in `kind load`, log export).
  (cd "$tmp" && GOBIN=$1 go install -trimpath -ldflags="-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION" \
    "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION")
}

build_component() {
  case $1 in
    k8s) build_cached k8s "$K8S_VERSION" build_k8s \
      "$OFFLINE_DIR/k8s/go.mod" "$OFFLINE_DIR/k8s/go.sum" "$K8S_LDFLAGS" "$K8S_TAGS" "${K8S_CMDS[*]}" ;;
    etcd) build_cached etcd "$ETCD_VERSION" build_etcd "$OFFLINE_DIR/etcd/go.mod" "$OFFLINE_DIR/etcd/go.sum" ;;
    coredns) build_cached coredns "$COREDNS_VERSION" build_coredns ;;
    pause) build_cached pause "$PAUSE_VERSION" build_pause "$OFFLINE_DIR/pause/main.go" "$OFFLINE_DIR/pause/go.mod" ;;
    local-path-provisioner) build_cached local-path-provisioner "$LOCAL_PATH_PROVISIONER_VERSION" build_local_path_provisioner ;;
    crictl) build_cached crictl "$CRICTL_VERSION" build_crictl ;;
    *) die "unknown component $1 (want k8s, etcd, coredns, pause, local-path-provisioner or crictl)" ;;
  esac
}

main() {
  local components=("$@")
  if ((${#components[@]} == 0)); then
    components=(pause crictl etcd local-path-provisioner coredns k8s)
  fi
  local c
  for c in "${components[@]}"; do build_component "$c"; done
}

main "$@"
