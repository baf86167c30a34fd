#!/usr/bin/env bash
# Usage: hack/offline/component-images.sh [--refs-only]
#
# Makes the container images a kind node runs, from the binaries of
# hack/offline/build-binaries.sh (which it runs first): the control plane
# (kube-apiserver, kube-controller-manager, kube-scheduler, etcd), kube-proxy,
# CoreDNS, pause, local-path-provisioner and a busybox helper (used by
# local-path-provisioner's helper pods and by the node's CNI installer).
# Prints one line per image on stdout: "<local ref> <name inside the node>",
# where the name inside the node is the one kubeadm v1.34 and the node's
# manifests ask for (registry.k8s.io/... for upstream images). With
# --refs-only it only computes those lines (the binaries must be built), so
# that a cached node image needs none of these images.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

refs_only=false
[[ ${1:-} != --refs-only ]] || refs_only=true

"$GOKV_HACK_DIR/offline/build-binaries.sh"
base=$("$GOKV_HACK_DIR/offline/debian-base.sh")
SELF=${BASH_SOURCE[0]}

# ensure REF BUILD_FUNCTION: make REF present unless only refs are wanted.
ensure() {
  $refs_only || ensure_image "$1" "$(image_tarball "$1")" "$2"
}

# bin_dir COMPONENT VERSION / bin_stamp COMPONENT VERSION: where
# build-binaries.sh put a component, and the stamp of that build.
bin_dir() { printf '%s/%s/%s/bin\n' "$GOKV_CACHE_DIR" "$1" "$2"; }
bin_stamp() { cat "$GOKV_CACHE_DIR/$1/$2/.inputs"; }

# scratch_image NAME VERSION NODE_NAME BINARY DEST [--change ...]: an image
# holding just one static binary at DEST (plus /tmp), like upstream's
# distroless-based images.
scratch_image() {
  local name=$1 version=$2 node_name=$3 binary=$4 dest=$5
  shift 5
  local ref changes=("$@")
  ref=$(image_ref "$name" "$version" "$SELF" "$(sha256sum <"$binary")" "$dest" "${changes[*]}")
  build_scratch() {
    log "building $ref"
    local root=$tmp/$name
    rm -rf "$root"
    mkdir -p "$root/tmp" "$root$(dirname "$dest")"
    chmod 1777 "$root/tmp"
    install -m 0755 "$binary" "$root$dest"
    import_rootfs "$ref" "$root" --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' "${changes[@]}"
  }
  ensure "$ref" build_scratch
  printf '%s %s\n' "$ref" "$node_name"
}

# kube_proxy_image: Debian with the packet-filter tools kube-proxy calls
# (iptables/nftables/conntrack/ipset) and the iptables backend wrapper.
kube_proxy_image() {
  local bin ref
  bin=$(bin_dir k8s "$K8S_VERSION")/kube-proxy
  ref=$(image_ref kube-proxy "$K8S_VERSION" "$SELF" "$GOKV_HACK_DIR/offline/iptables-wrapper.sh" \
    "$(sha256sum <"$bin")" "$(image_id "$base")")
  build_kube_proxy() {
    log "building $ref"
    local ctx=$tmp/kube-proxy
    mkdir -p "$ctx"
    cp "$bin" "$ctx/kube-proxy"
    cp "$GOKV_HACK_DIR/offline/iptables-wrapper.sh" "$ctx/iptables-wrapper"
    cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM $base
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \\
      iptables nftables conntrack ipset kmod \\
    && rm -rf /var/lib/apt/lists/*
COPY iptables-wrapper /usr/sbin/iptables-wrapper
RUN chmod 0755 /usr/sbin/iptables-wrapper \\
    && for t in iptables ip6tables; do \\
         update-alternatives --install /usr/sbin/\$t \$t /usr/sbin/iptables-wrapper 100 \\
           --slave /usr/sbin/\$t-restore \$t-restore /usr/sbin/iptables-wrapper \\
           --slave /usr/sbin/\$t-save \$t-save /usr/sbin/iptables-wrapper \\
         && update-alternatives --set \$t /usr/sbin/iptables-wrapper; \\
       done
COPY kube-proxy /usr/local/bin/kube-proxy
RUN chmod 0755 /usr/local/bin/kube-proxy
DOCKERFILE
    docker build -q -t "$ref" "$ctx" >&2
  }
  ensure "$ref" build_kube_proxy
  printf '%s %s\n' "$ref" "registry.k8s.io/kube-proxy:$K8S_VERSION"
}

# helper_image: Debian's static busybox with its applet links, nothing else.
# local-path-provisioner runs `sh` scripts in it to create and delete volume
# directories (kind uses a busybox-like image the same way).
helper_image() {
  local ref
  ref=$(image_ref local-path-helper "busybox-$DEBIAN_SUITE" "$SELF" "$(image_id "$base")")
  build_helper() {
    log "building $ref"
    local root=$tmp/helper
    mkdir -p "$root/bin" "$root/tmp"
    chmod 1777 "$root/tmp"
    docker run --rm "$base" sh -c 'apt-get update -qq >/dev/null &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends busybox-static >/dev/null &&
      cat /bin/busybox' >"$root/bin/busybox"
    chmod 0755 "$root/bin/busybox"
    local applet
    for applet in $("$root/bin/busybox" --list); do
      [[ $applet == busybox ]] || ln -s busybox "$root/bin/$applet"
    done
    import_rootfs "$ref" "$root" --change 'ENV PATH=/bin' --change 'CMD ["sh"]'
  }
  ensure "$ref" build_helper
  printf '%s %s\n' "$ref" "$ref"
}

main() {
  local k8s_bin lpp
  k8s_bin=$(bin_dir k8s "$K8S_VERSION")
  local c
  for c in kube-apiserver kube-controller-manager kube-scheduler; do
    scratch_image "$c" "$K8S_VERSION" "registry.k8s.io/$c:$K8S_VERSION" "$k8s_bin/$c" "/usr/local/bin/$c"
  done
  kube_proxy_image
  scratch_image etcd "$ETCD_IMAGE_TAG" "registry.k8s.io/etcd:$ETCD_IMAGE_TAG" \
    "$(bin_dir etcd "$ETCD_VERSION")/etcd" /usr/local/bin/etcd
  # Root, unlike upstream's nonroot image: upstream gives /coredns the file
  # capability NET_BIND_SERVICE, which an imported tar does not carry; kubeadm's
  # Deployment adds that capability to root and drops all others.
  scratch_image coredns "$COREDNS_VERSION" "registry.k8s.io/coredns/coredns:$COREDNS_VERSION" \
    "$(bin_dir coredns "$COREDNS_VERSION")/coredns" /coredns --change 'ENTRYPOINT ["/coredns"]'
  scratch_image pause "$PAUSE_VERSION" "registry.k8s.io/pause:$PAUSE_VERSION" \
    "$(bin_dir pause "$PAUSE_VERSION")/pause" /pause --change 'ENTRYPOINT ["/pause"]' --change 'USER 65535:65535'
  lpp=$(scratch_image local-path-provisioner "$LOCAL_PATH_PROVISIONER_VERSION" "" \
    "$(bin_dir local-path-provisioner "$LOCAL_PATH_PROVISIONER_VERSION")/local-path-provisioner" \
    /usr/local/bin/local-path-provisioner --change 'ENTRYPOINT ["/usr/local/bin/local-path-provisioner"]')
  # Inside the node it keeps its local name; the storage manifest refers to it.
  printf '%s %s\n' "${lpp%% *}" "${lpp%% *}"
  helper_image
}

main "$@"
