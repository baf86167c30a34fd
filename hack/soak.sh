#!/usr/bin/env bash
# Usage: hack/soak.sh [DURATION]
# Soak test (not in CI): runs gokv with its default options under the
# mixed load (90% GETs, 100 B values, 100k keys, 32 connections) for
# DURATION (default 10m) and checks that nothing failed and that memory
# and goroutines stay flat. RSS comes from /proc/PID/status; the goroutine
# count from gokv's opt-in debug endpoint (DEBUG_ADDR, loopback only),
# since only the process itself knows it. "start" is taken after the
# preload and 30 s of load, when caches and memtables have filled, "end"
# 10 s before the load stops.
# Fails on any request error, a goroutine count more than 20 above the
# start, or a peak RSS over SOAK_MAX_RSS_MIB (default 100).
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$GOKV_HACK_DIR/.."

duration=${1:-10m}
max_rss_mib=${SOAK_MAX_RSS_MIB:-100}
case $duration in
  *m) secs=$((${duration%m} * 60)) ;;
  *s) secs=${duration%s} ;;
  *) die "DURATION must be like 10m or 90s, got $duration" ;;
esac
((secs >= 60)) || die "DURATION must be at least 60s: start and end are taken 30 s and 10 s into and before its end"
for tool in go curl; do
  command -v "$tool" >/dev/null || die "$tool is needed"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/gokv-soak.XXXXXX")
pid=
load_pid=
cleanup() {
  local p
  for p in $load_pid $pid; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

export JWT_SECRET
JWT_SECRET=$(head -c 32 /dev/urandom | base64)

log "building gokv and gokv-bench"
CGO_ENABLED=0 go build -trimpath -o "$work/bin/" ./cmd/gokv ./cmd/gokv-bench

DB_PATH="$work/db" PORT=0 GIN_MODE=release LOG_FORMAT=json DEBUG_ADDR=127.0.0.1:0 \
  "$work/bin/gokv" 2>"$work/gokv.log" &
pid=$!
for _ in $(seq 300); do
  grep -q '"gokv is serving"' "$work/gokv.log" && break
  kill -0 "$pid" 2>/dev/null || die "gokv exited: $(cat "$work/gokv.log")"
  sleep 0.1
done
addr_of() { grep -m1 "\"msg\":\"$1\"" "$work/gokv.log" | sed 's/.*"addr":"\([^"]*\)".*/\1/'; }
url="http://127.0.0.1:$(addr_of 'gokv is serving' | sed 's/.*://')"
debug="http://$(addr_of 'debug endpoints serving')"
[[ $url != "http://127.0.0.1:" && $debug != "http://" ]] || die "gokv did not log its addresses: $(cat "$work/gokv.log")"
log "gokv pid $pid on $url, debug endpoints on $debug"

rss_kib() { awk "/^$1:/ {print \$2}" "/proc/$pid/status"; }
goroutines() { curl -fs "$debug/debug/pprof/goroutine?debug=1" | sed -n 's/^goroutine profile: total //p'; }

log "soak: preload, then mixed load for $duration"
"$work/bin/gokv-bench" -url "$url" -workload mixed -read-ratio 0.9 -value-size 100 -keys 100000 \
  -concurrency 32 -duration "$duration" -progress 30s >"$work/result.txt" 2>"$work/progress.txt" &
load_pid=$!
# The first progress line comes 30 s into the measured phase: the preload
# is done and the warm-up is over.
until [[ -s $work/progress.txt ]]; do
  kill -0 "$load_pid" 2>/dev/null || die "gokv-bench ended early: $(cat "$work/result.txt")"
  sleep 1
done
start_rss=$(rss_kib VmRSS)
start_g=$(goroutines)
log "start: RSS $((start_rss / 1024)) MiB, $start_g goroutines"

# "end" is taken 10 s before the load stops, under the same load as start.
sleep $((secs - 40))
end_rss=$(rss_kib VmRSS)
end_g=$(goroutines)
status=0
wait "$load_pid" || status=$?
load_pid=
peak_rss=$(rss_kib VmHWM)
idle_g=$(goroutines)
cat "$work/progress.txt" "$work/result.txt"
log "end:   RSS $((end_rss / 1024)) MiB (peak $((peak_rss / 1024)) MiB), $end_g goroutines ($idle_g once idle)"

printf '\n| soak %s, mixed 90/10, 100k keys x 100 B | start | end |\n|---|---:|---:|\n' "$duration"
printf '| RSS (MiB) | %d | %d (peak %d) |\n| goroutines | %d | %d (%d once idle) |\n' \
  $((start_rss / 1024)) $((end_rss / 1024)) $((peak_rss / 1024)) "$start_g" "$end_g" "$idle_g"

failed=0
if [[ $status -ne 0 ]]; then
  log "FAIL: gokv-bench reported failed requests (exit $status)"
  failed=1
fi
if ((end_g > start_g + 20)); then
  log "FAIL: goroutines grew from $start_g to $end_g"
  failed=1
fi
if ((peak_rss > max_rss_mib * 1024)); then
  log "FAIL: peak RSS $((peak_rss / 1024)) MiB is over $max_rss_mib MiB"
  failed=1
fi
[[ $failed -eq 0 ]] || exit 1
log "soak passed"
