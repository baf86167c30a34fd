#!/usr/bin/env bash
# Usage: hack/offline/cleanup-cgroups.sh [--force]
#
# Removes the kubelet.slice and kubelet cgroup trees that offline kind nodes
# create (hack/offline/node/kubelet-cgroup-v1.sh) in cgroup v1 hierarchies
# the host itself does not mount (seen: hugetlb, net_cls/net_prio,
# perf_event), where they outlive the cluster in the host's root cgroup. Run
# it after the last kind cluster is deleted; it refuses while kind nodes run
# (their kubelets use those cgroups) unless --force. Nothing to do on cgroup
# v2 or when every hierarchy is mounted by the host.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"

force=false
[[ ${1:-} != --force ]] || force=true

tmp=$(mktemp -d)
mounted=()
cleanup() {
  local m
  for m in "${mounted[@]}"; do umount "$m" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# host_mounts SUBSYSTEM: true if the host mounts a v1 hierarchy with SUBSYSTEM.
host_mounts() {
  awk -v s="$1" -F ' - ' '{ split($2, f, " "); if (f[1] == "cgroup") { n = split(f[3], o, ","); for (i = 1; i <= n; i++) if (o[i] == s) found = 1 } } END { exit !found }' /proc/self/mountinfo
}

main() {
  if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
    log "cgroup v2: nothing to clean"
    return 0
  fi
  if ! $force && command -v docker >/dev/null && docker info >/dev/null 2>&1 &&
    [[ -n $(docker ps -q --filter label=io.x-k8s.kind.cluster) ]]; then
    log "kind nodes are still running; not touching their cgroups (use --force to override)"
    return 0
  fi
  # Hierarchy id -> its subsystems, for hierarchies that exist (id != 0) and
  # are not mounted on the host.
  local -A subsystems=()
  local name id enabled
  while read -r name id _ enabled; do
    [[ $name != \#* && $id != 0 && $enabled == 1 ]] || continue
    host_mounts "$name" && continue
    subsystems[$id]+=${subsystems[$id]:+,}$name
  done </proc/cgroups
  local removed=0 left=0 dir d
  for id in "${!subsystems[@]}"; do
    dir=$tmp/h$id
    mkdir -p "$dir"
    mount -t cgroup -o "${subsystems[$id]}" gokv-cgroup-cleanup "$dir"
    mounted+=("$dir")
    for d in kubelet.slice kubelet; do
      [[ -d $dir/$d ]] || continue
      # Deepest first: a cgroup directory can only go once it has no children.
      while IFS= read -r -d '' sub; do
        if rmdir "$sub" 2>/dev/null; then removed=$((removed + 1)); else left=$((left + 1)); fi
      done < <(find "$dir/$d" -depth -type d -print0)
    done
    umount "$dir"
    mounted=("${mounted[@]/$dir/}")
  done
  log "cgroup cleanup (${subsystems[*]:-no unmounted hierarchies}): removed $removed directories, $left left"
  ((left == 0)) || die "$left cgroup directories could not be removed (still in use?)"
}

main "$@"
