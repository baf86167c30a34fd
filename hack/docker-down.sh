#!/usr/bin/env bash
# Usage: hack/docker-down.sh
#
# Stops the dockerd that hack/docker-up.sh started (and only that one), and
# waits for it to exit. Does nothing if docker-up did not start one.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MARKER=$GOKV_CACHE_DIR/docker/started-by-gokv

main() {
  if [[ ! -f $MARKER ]]; then
    log "no dockerd started by hack/docker-up.sh; nothing to stop"
    exit 0
  fi
  local pid
  pid=$(<"$MARKER")
  # Only signal the process if it still is that dockerd (pids get reused).
  if [[ $pid =~ ^[0-9]+$ ]] && [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == */dockerd ]]; then
    log "stopping dockerd (pid $pid)"
    kill -TERM "$pid"
    local i
    # dockerd gives running containers (kind nodes) 15 s to stop, then kills them.
    for ((i = 0; i < 120; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
      die "dockerd (pid $pid) still running after 60 s"
    fi
    log "dockerd stopped"
  else
    log "dockerd (pid $pid) is not running any more"
  fi
  rm -f "$MARKER"
}

main "$@"
