#!/bin/sh
# Usage: ExecStartPre of containerd.service in the offline node image
# (drop-in 10-gokv-restrict-oom.conf); no arguments.
#
# Why: where the node lacks CAP_SYS_RESOURCE (some CI machines' root does),
# a pod sandbox cannot lower its oom_score_adj (pause asks for -998) and every
# sandbox fails with "can't get final child's PID from pipe: EOF".
# containerd's restrict_oom_score_adj clamps the value instead. Decided at
# every start, so the same image behaves like stock kind elsewhere.
set -eu
config=/etc/containerd/config.toml
bnd=$(awk '/^CapBnd:/ {print $2}' /proc/self/status)
if [ $(((0x$bnd >> 24) & 1)) -eq 0 ]; then
  sed -i 's/^\([[:space:]]*restrict_oom_score_adj[[:space:]]*=[[:space:]]*\)false/\1true/' "$config"
else
  sed -i 's/^\([[:space:]]*restrict_oom_score_adj[[:space:]]*=[[:space:]]*\)true/\1false/' "$config"
fi
