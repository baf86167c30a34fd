#!/usr/bin/env bash
# Usage: hack/offline/node-image.sh
#
# Makes the offline kind node image for Kubernetes $K8S_VERSION without any
# registry, the way `kind build node-image` does: a base image with systemd,
# containerd and kind's base files (from the sigs.k8s.io/kind module), the
# Kubernetes binaries, /kind/version, the default CNI and storage manifests in
# /kind/manifests/, and every image the cluster runs preloaded into the node's
# containerd under the names kubeadm and those manifests use. A stock kind
# config works with it unchanged. Prints the image reference on stdout.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"

NODE_DIR=$GOKV_HACK_DIR/offline/node
tmp=$(mktemp -d)
cid=''
cleanup() {
  [[ -z $cid ]] || docker rm -f "$cid" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# Only the references here: the images themselves are needed only when the
# node image has to be built (see build).
images=$("$GOKV_HACK_DIR/offline/component-images.sh" --refs-only)
base=$("$GOKV_HACK_DIR/offline/debian-base.sh")
(cd "$tmp" && GOFLAGS=-mod=mod go mod download "sigs.k8s.io/kind@$KIND_VERSION") >&2
kind_dir=$(cd "$tmp" && go list -m -f '{{.Dir}}' "sigs.k8s.io/kind@$KIND_VERSION" 2>/dev/null ||
  printf '%s/sigs.k8s.io/kind@%s' "$(go env GOMODCACHE)" "$KIND_VERSION")
[[ -d $kind_dir/images/base/files ]] || die "kind base files not found in $kind_dir"

stamp() { cat "$GOKV_CACHE_DIR/$1/$2/.inputs"; }
REF=$(image_ref kind-node "$K8S_VERSION" "${BASH_SOURCE[0]}" "$NODE_DIR"/* \
  "$KIND_VERSION" "$(image_id "$base")" "$(stamp k8s "$K8S_VERSION")" "$(stamp crictl "$CRICTL_VERSION")" "$images")

# node_name_of PREFIX: the in-node name of the component image whose local
# reference starts with gokv.local/PREFIX: (for the manifests).
node_name_of() {
  awk -v p="$GOKV_LOCAL_REGISTRY/$1:" 'index($1, p) == 1 {print $2}' <<<"$images"
}

# storage_manifest PROVISIONER HELPER: kind v0.30.0's own default storage
# manifest (local-path-provisioner, StorageClass "standard"), taken from the
# kind module's source, with our images in place of kind's.
storage_manifest() {
  awk '/^const defaultStorageManifest = `/ {on = 1; next} on && /^`/ {exit} on {print}' \
    "$kind_dir/pkg/build/nodeimage/const_storage.go" |
    sed -e "s|\` + storageProvisionerImage + \`|$1|g" -e "s|\` + storageHelperImage + \`|$2|g"
}

assemble_context() {
  local ctx=$tmp/ctx
  mkdir -p "$ctx/node"
  cp "$NODE_DIR/Dockerfile" "$ctx/"
  # kind's base files, with the modes kind's Dockerfile gives them (the module
  # cache is read-only).
  cp -r "$kind_dir/images/base/files" "$ctx/kind-base"
  chmod -R u+w "$ctx/kind-base"
  find "$ctx/kind-base" -type d -exec chmod 0755 {} +
  find "$ctx/kind-base" -type f -exec chmod 0644 {} +
  chmod 0755 "$ctx/kind-base"/usr/local/bin/* "$ctx/kind-base"/kind/bin/*

  local n=$ctx/node k8s_bin=$GOKV_CACHE_DIR/k8s/$K8S_VERSION/bin
  mkdir -p "$n/usr/bin" "$n/usr/local/bin" "$n/kind/bin" "$n/kind/manifests" \
    "$n/etc/systemd/system/kubelet.service.d" "$n/etc/systemd/system/containerd.service.d"
  install -m 0755 "$k8s_bin/kubeadm" "$k8s_bin/kubelet" "$k8s_bin/kubectl" "$n/usr/bin/"
  install -m 0755 "$GOKV_CACHE_DIR/crictl/$CRICTL_VERSION/bin/crictl" "$n/usr/local/bin/"
  install -m 0755 "$NODE_DIR/kubelet-cgroup-v1.sh" "$n/kind/bin/gokv-kubelet-cgroup-v1.sh"
  install -m 0755 "$NODE_DIR/containerd-restrict-oom.sh" "$n/kind/bin/gokv-containerd-restrict-oom.sh"
  install -m 0755 "$NODE_DIR/service-cidr-guard.sh" "$n/kind/bin/gokv-service-cidr-guard.sh"
  install -m 0644 "$NODE_DIR/12-gokv-cgroup-v1.conf" "$NODE_DIR/13-gokv-service-cidr-guard.conf" \
    "$n/etc/systemd/system/kubelet.service.d/"
  install -m 0644 "$NODE_DIR/10-gokv-restrict-oom.conf" "$n/etc/systemd/system/containerd.service.d/"
  printf '%s' "$K8S_VERSION" >"$n/kind/version"

  local helper provisioner
  helper=$(node_name_of local-path-helper)
  provisioner=$(node_name_of local-path-provisioner)
  [[ -n $helper && -n $provisioner ]] || die "helper or provisioner image missing from: $images"
  sed "s|@HELPER_IMAGE@|$helper|g" "$NODE_DIR/default-cni.yaml" >"$n/kind/manifests/default-cni.yaml"
  storage_manifest "$provisioner" "$helper" >"$n/kind/manifests/default-storage.yaml"
  grep -q "$provisioner" "$n/kind/manifests/default-storage.yaml" ||
    die "could not extract kind's storage manifest from $kind_dir"
  find "$n/kind/manifests" "$n/kind/version" -type f -exec chmod 0644 {} +
}

# preload: import every component image into the node's containerd, as
# `kind build node-image` does, under its in-node name.
preload() {
  local stage=$1
  cid=$(docker run -d --privileged --entrypoint sleep "$stage" infinity)
  docker exec -d "$cid" sh -c 'containerd >/tmp/preload-containerd.log 2>&1 & echo $! >/tmp/preload-containerd.pid; wait'
  local i
  for ((i = 0; i < 60; i++)); do
    docker exec "$cid" ctr version >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker exec "$cid" ctr version >/dev/null 2>&1 || die "containerd did not start in the build container"
  local host node
  while read -r host node; do
    log "preloading $node"
    docker save "$host" | docker exec -i "$cid" ctr -n k8s.io images import \
      --label=io.cri-containerd.pinned=pinned --all-platforms --no-unpack - >/dev/null
    if [[ $node != "$host" ]]; then
      docker exec "$cid" ctr -n k8s.io images tag --force "$host" "$node" >/dev/null
      docker exec "$cid" ctr -n k8s.io images rm "$host" >/dev/null
    fi
  done <<<"$images"
  docker exec "$cid" ctr -n k8s.io images ls -q | sed 's/^/    /' >&2
  docker exec "$cid" sh -c 'kill "$(cat /tmp/preload-containerd.pid)"'
  for ((i = 0; i < 60; i++)); do
    docker exec "$cid" sh -c 'kill -0 "$(cat /tmp/preload-containerd.pid)" 2>/dev/null' || break
    sleep 0.5
  done
  docker exec "$cid" rm -rf /tmp/preload-containerd.pid /tmp/preload-containerd.log /run/containerd
}

build() {
  local built
  built=$("$GOKV_HACK_DIR/offline/component-images.sh")
  [[ $built == "$images" ]] || die "component images differ from their computed references"
  log "assembling the node image context"
  assemble_context
  local stage=$REF-stage pause
  pause=$(node_name_of pause)
  log "building $stage (Debian packages: ~2-3 min)"
  docker build -q -t "$stage" --build-arg BASE_IMAGE="$base" --build-arg PAUSE_IMAGE="$pause" "$tmp/ctx" >&2
  preload "$stage"
  log "committing $REF"
  docker commit \
    --change 'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]' \
    --change 'CMD []' \
    "$cid" "$REF" >/dev/null
  docker rm -f "$cid" >/dev/null
  cid=''
  docker rmi "$stage" >/dev/null
}

ensure_image "$REF" "$(image_tarball "$REF")" build
printf '%s\n' "$REF"
