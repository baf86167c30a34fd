#!/usr/bin/env bash
# Usage: hack/docker-up.sh
#
# Ensures a running Docker engine. If `docker info` already works, does
# nothing. Otherwise installs Debian's docker.io if /usr/sbin/dockerd is
# missing, works around a missing CAP_SYS_RESOURCE with an OCI runtime wrapper
# (only where the capability is missing), starts dockerd in the background
# with its log and pidfile under ${GOKV_CACHE_DIR:-$HOME/.cache/gokv}/docker/,
# and waits until it answers. hack/docker-down.sh stops only a dockerd that
# this script started.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STATE_DIR=$GOKV_CACHE_DIR/docker
PIDFILE=$STATE_DIR/dockerd.pid
MARKER=$STATE_DIR/started-by-gokv
LOGFILE=$STATE_DIR/dockerd.log

# has_cap_sys_resource: true if bit 24 of this process's bounding set is set.
has_cap_sys_resource() {
  local bnd
  bnd=$(awk '/^CapBnd:/ {print $2}' /proc/self/status)
  (((16#$bnd >> 24) & 1))
}

# write_daemon_json FILE: dockerd config: the machine's /etc/docker/daemon.json
# (if any) plus, when CAP_SYS_RESOURCE is missing, the runtime wrapper as the
# default runtime. A separate file so /etc/docker stays untouched.
write_daemon_json() {
  local out=$1 base='{}'
  [[ -s /etc/docker/daemon.json ]] && base=$(cat /etc/docker/daemon.json)
  if has_cap_sys_resource; then
    printf '%s\n' "$base" >"$out"
    return 0
  fi
  log "CAP_SYS_RESOURCE missing from the bounding set: using the runc wrapper"
  command -v jq >/dev/null || apt_install jq
  local wrapper=$STATE_DIR/runc-wrapper
  install -m 0755 "$GOKV_HACK_DIR/offline/runc-wrapper.sh" "$wrapper"
  jq --arg path "$wrapper" \
    '.runtimes["gokv-runc"] = {path: $path} | ."default-runtime" = "gokv-runc"' \
    <<<"$base" >"$out"
}

main() {
  if docker info >/dev/null 2>&1; then
    log "docker engine already running"
    # Someone else's engine: leave it alone, but say why kind would fail on it.
    if ! has_cap_sys_resource && [[ $(docker info --format '{{.DefaultRuntime}}') == runc ]]; then
      log "WARNING: CAP_SYS_RESOURCE is missing and dockerd runs plain runc: privileged" \
        "containers (kind nodes) will fail; stop that dockerd and rerun $0"
    fi
    exit 0
  fi
  mkdir -p "$STATE_DIR"

  if [[ ! -x /usr/sbin/dockerd ]]; then
    log "installing docker.io"
    # Recommends would pull in extras (e.g. apparmor, git) that nothing here uses.
    apt_install docker.io
  fi

  local config=$STATE_DIR/daemon.json
  write_daemon_json "$config"

  log "starting dockerd (log: $LOGFILE)"
  # setsid: the engine must outlive this script and not get its signals.
  setsid /usr/sbin/dockerd --config-file "$config" --pidfile "$PIDFILE" \
    >>"$LOGFILE" 2>&1 </dev/null &
  local pid=$!
  printf '%s\n' "$pid" >"$MARKER"

  local i
  for ((i = 0; i < 120; i++)); do
    if docker info >/dev/null 2>&1; then break; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$MARKER"
      tail -n 20 "$LOGFILE" >&2
      die "dockerd exited during startup"
    fi
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || die "dockerd not ready after 60 s (see $LOGFILE)"

  # The machine's docker CLI may be much newer than Debian's engine; it
  # negotiates the API version down by itself. Check that it did.
  local client server
  client=$(docker version --format '{{.Client.Version}} (API {{.Client.APIVersion}})')
  server=$(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')
  log "docker ready: client $client, engine $server"
}

main "$@"
