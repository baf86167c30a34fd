#!/bin/sh
# Usage: ExecStartPre of kubelet.service in the offline node image
# (drop-in 12-gokv-cgroup-v1.conf); no arguments.
#
# Why: on cgroup v1 hosts that do not mount some hierarchies (seen: hugetlb,
# net_cls/net_prio, perf_event), kind's entrypoint creates the kubelet's
# cgroups only in the hierarchies the host mounts, and kubelet crash-loops with
# `cgroup ["kubelet"] has some missing paths: /sys/fs/cgroup/hugetlb/kubelet.slice`.
# Creating kubelet.slice and kubelet in every v1 hierarchy fixes that. Those
# directories land in the host's root cgroup of the unmounted hierarchies;
# hack/offline/cleanup-cgroups.sh removes them after the cluster is deleted.
set -eu

# cgroup v2: kind's own ExecStartPre (11-kind.conf) handles it.
[ ! -f /sys/fs/cgroup/cgroup.controllers ] || exit 0

for h in /sys/fs/cgroup/*; do
  # Skip the cpu/cpuacct style symlinks, the v2 "unified" mount and non-mounts.
  [ ! -L "$h" ] || continue
  [ "$(stat -f -c %T "$h" 2>/dev/null)" = cgroupfs ] || continue
  for d in kubelet.slice kubelet; do
    [ ! -d "$h/$d" ] || continue
    mkdir -p "$h/$d"
    # A new cpuset cgroup has no CPUs or memory nodes until given its parent's.
    if [ -f "$h/cpuset.cpus" ]; then
      cat "$h/cpuset.cpus" >"$h/$d/cpuset.cpus"
      cat "$h/cpuset.mems" >"$h/$d/cpuset.mems"
    fi
  done
done
