#!/usr/bin/env bash
# Usage: hack/bench.sh
# Measures gokv against the ceiling (bench/ceiling: Gin, the same HS256
# check, a map instead of Badger) and prints the tables of
# docs/performance.md: the standard matrix (get / put / 90-10 mix x 100 B
# and 4 KiB values x 10k keys), each cell measured twice, by gokv-bench and
# by wrk (an independent load generator, bench/wrk.lua), with p99 beside the
# ceiling's; durable writes (SYNC_WRITES=true) against the ceiling, with
# fsyncs per second next to the disk's own rate; group commit (1 vs 32
# clients); RSS at 100k keys under the mixed load; cold start to ready;
# and API v1: listing pages of a 1M-key bucket and the full walk of it (Go
# benchmarks of internal/badgerstore), 1000 watchers of one bucket under a
# steady PUT load (every event to every watcher, in order; gokv's RSS),
# transactions of 128 puts against single PUTs; and gokv on etcd against
# etcd's own JSON gateway on the same one-member etcd, and 1 against 3
# gokv replicas on it. First, what the machine charges for a page fault
# and for a flush (bench/probe), which bound the write path.
#
# Servers run on CPU 0 and the load generators on CPU 1 (taskset). With one
# core both share it: ratios still compare like with like, absolute numbers
# are lower. Every cell gets a fresh server and database.
# Environment: BENCH_DURATION (10s a cell), BENCH_CONCURRENCY (32),
# BENCH_OUT (a directory to keep every result and log in), BENCH_PARTS
# (which tables: "matrix sync group rss cold list watch txn etcd"; with 6 s
# cells list takes about 20 s, watch 30 s, txn 1 min, etcd 2 min), BENCH_CELLS (matrix cells,
# "get-100 get-4096 put-100 put-4096 mixed-100 mixed-4096"), BENCH_TOOLS
# ("gokv-bench wrk"), BENCH_GOKV (a gokv binary to measure instead of this
# tree's, e.g. one built from an earlier commit for a before/after),
# BENCH_WATCHERS (1000) and BENCH_WATCH_RATES ("50 200" PUT/s) for the watch part,
# BENCH_LIST_KEYS (1000000) for the list part.
# Needs go, jq, curl, taskset (util-linux), wrk and perf (installed from apt
# when missing). Measure on a quiet machine.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$GOKV_HACK_DIR/.."

duration=${BENCH_DURATION:-10s}
concurrency=${BENCH_CONCURRENCY:-32}
parts=${BENCH_PARTS:-matrix sync group rss cold list watch txn etcd}
cells=${BENCH_CELLS:-get-100 get-4096 put-100 put-4096 mixed-100 mixed-4096}
tools=${BENCH_TOOLS:-gokv-bench wrk}
for tool in go jq curl taskset; do
  command -v "$tool" >/dev/null || die "$tool is needed (Debian: apt-get install jq curl util-linux)"
done
# wrk measures the matrix only.
if [[ " $parts " == *" matrix "* && " $tools " == *" wrk "* ]]; then
  command -v wrk >/dev/null || apt_install wrk
fi
command -v perf >/dev/null || apt_install linux-perf

# part NAME: whether BENCH_PARTS asks for the table NAME.
part() { [[ " $parts " == *" $1 "* ]]; }

work=$(mktemp -d "${TMPDIR:-/tmp}/gokv-bench.XXXXXX")
out=${BENCH_OUT:-$work/out}
mkdir -p "$out"
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

export JWT_SECRET
JWT_SECRET=$(head -c 32 /dev/urandom | base64)

if [[ $(nproc) -ge 2 ]]; then
  server_cpu=(taskset -c 0)
  client_cpu=(taskset -c 1)
  pinning="servers on CPU 0, load generators on CPU 1"
else
  server_cpu=()
  client_cpu=()
  pinning="1 core: servers and load generators share it (no pinning)"
fi

log "building gokv, ceiling, gokv-bench and jwt-gen"
CGO_ENABLED=0 go build -trimpath -o "$work/bin/" ./cmd/gokv ./cmd/gokv-bench ./cmd/jwt-gen ./bench/ceiling ./bench/probe
if [[ -n ${BENCH_GOKV:-} ]]; then
  cp "$BENCH_GOKV" "$work/bin/gokv"
  log "measuring $BENCH_GOKV instead of this tree's gokv"
fi
# wrk reads its token from the environment, never from the command line.
GOKV_TOKEN=$("$work/bin/jwt-gen" --expires-in 6h)
export GOKV_TOKEN

# wait_line FILE PATTERN: wait (up to 30 s) for PATTERN in FILE; print the line.
wait_line() {
  local file=$1 pattern=$2 i
  for ((i = 0; i < 3000; i++)); do
    if grep -m1 "$pattern" "$file" 2>/dev/null; then return 0; fi
    sleep 0.01
  done
  cat "$file" >&2
  die "no '$pattern' in $file after 30 s"
}

read -ra gokv_env <<<"${BENCH_GOKV_ENV:-}"

# start_gokv NAME DB [VAR=VALUE...]: start gokv; sets pid and url.
start_gokv() {
  local name=$1 db=$2 line port
  shift 2
  env DB_PATH="$db" PORT=0 GIN_MODE=release LOG_FORMAT=json GC_INTERVAL=1h "${gokv_env[@]}" "$@" \
    "${server_cpu[@]}" "$work/bin/gokv" 2>"$out/$name.log" &
  pid=$!
  pids+=("$pid")
  line=$(wait_line "$out/$name.log" '"gokv is serving"')
  port=$(jq -r '.addr' <<<"$line")
  url="http://127.0.0.1:${port##*:}"
}

# start_ceiling NAME: start the ceiling; sets pid and url.
start_ceiling() {
  local name=$1 line
  "${server_cpu[@]}" "$work/bin/ceiling" -addr 127.0.0.1:0 2>"$out/$name.log" &
  pid=$!
  pids+=("$pid")
  line=$(wait_line "$out/$name.log" 'ceiling is serving on')
  url="http://${line##* }"
}

# start_server SERVER NAME [VAR=VALUE...]: start gokv (on a fresh database
# in $work/db-NAME, with the variables) or the ceiling; sets pid and url.
start_server() {
  local server=$1 name=$2
  shift 2
  if [[ $server == gokv ]]; then
    start_gokv "$name" "$work/db-$name" "$@"
  else
    start_ceiling "$name"
  fi
}

# stop PID: SIGTERM and wait.
stop() {
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# cpu_ticks PID: user+system clock ticks the process has used.
cpu_ticks() {
  awk '{print $14 + $15}' "/proc/$1/stat"
}

# preload URL SIZE KEYS: write every key once (gokv-bench's preload).
preload() {
  "${client_cpu[@]}" "$work/bin/gokv-bench" -url "$1" -json -progress 0 -concurrency "$concurrency" \
    -workload put -value-size "$2" -keys "$3" -preload -requests 1 >/dev/null || die "preload of $1 failed"
}

# run_tool TOOL NAME URL WORKLOAD SIZE [GOKV-BENCH FLAG...]: measure with
# gokv-bench or wrk; the result goes to $out/NAME.json in gokv-bench's shape
# (requests_per_second, latency_ms.p50/p99, errors).
run_tool() {
  local tool=$1 name=$2 url=$3 workload=$4 size=$5
  shift 5
  if [[ $tool == gokv-bench ]]; then
    "${client_cpu[@]}" "$work/bin/gokv-bench" -url "$url" -json -progress 0 -concurrency "$concurrency" \
      -duration "$duration" -workload "$workload" -value-size "$size" -keys 10000 -preload=false "$@" \
      >"$out/$name.raw.json" || die "gokv-bench $name failed: $(cat "$out/$name.raw.json")"
    return
  fi
  # The issue's wrk run: two threads, on the load generator's core.
  WRK_WORKLOAD=$workload WRK_VALUE_SIZE=$size WRK_KEYS=10000 WRK_READ_RATIO=0.9 \
    "${client_cpu[@]}" wrk -t2 -c"$concurrency" -d"$duration" --timeout 10s --latency \
    -s bench/wrk.lua "$url" >"$out/$name.wrk.txt" || die "wrk $name failed: $(cat "$out/$name.wrk.txt")"
  sed -n 's/^wrk-json //p' "$out/$name.wrk.txt" >"$out/$name.raw.json"
  [[ $(jq -r .errors "$out/$name.raw.json") == 0 ]] || die "wrk $name: errors: $(jq -c .errors_by "$out/$name.raw.json")"
}

# measure TOOL NAME PID URL WORKLOAD SIZE [FLAG...]: run_tool, adding the
# server's CPU use (percent of one core) as server_cpu_percent and, for
# gokv, its fsync-type system calls (msync, fsync, fdatasync) per second as
# syncs_per_second, counted by perf.
measure() {
  local tool=$1 name=$2 spid=$3 t0 t1 c0 c1 perf_pid syncs=0
  shift 3
  perf stat -x, -o "$out/$name.perf" -p "$spid" \
    -e syscalls:sys_enter_msync,syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync &
  perf_pid=$!
  sleep 0.2
  c0=$(cpu_ticks "$spid")
  t0=$(date +%s%N)
  run_tool "$tool" "$name" "$@"
  t1=$(date +%s%N)
  c1=$(cpu_ticks "$spid")
  kill -INT "$perf_pid" 2>/dev/null || true
  wait "$perf_pid" 2>/dev/null || true
  syncs=$(awk -F, '/syscalls:sys_enter/ {n += $1} END {print n + 0}' "$out/$name.perf")
  jq --argjson ticks $((c1 - c0)) --argjson hz "$(getconf CLK_TCK)" --argjson wall $((t1 - t0)) \
    --argjson syncs "$syncs" \
    '. + {server_cpu_percent: (100 * $ticks / $hz / ($wall / 1e9)), syncs_per_second: ($syncs / ($wall / 1e9))}' \
    "$out/$name.raw.json" >"$out/$name.json"
}

# cell SERVER TOOL WORKLOAD SIZE TAG [VAR=VALUE...]: a fresh server, the 10k
# keys preloaded, one measurement; the result is $out/SERVER-TOOL-TAG.json.
cell() {
  local server=$1 tool=$2 workload=$3 size=$4 tag=$5 name
  shift 5
  name=$server-$tool-$tag
  log "$name"
  start_server "$server" "$name" "$@"
  preload "$url" "$size" 10000
  measure "$tool" "$name" "$pid" "$url" "$workload" "$size"
  stop "$pid"
  rm -rf "$work/db-$name"
}

field() { jq -r "$2" "$out/$1.json"; }

# verdict VALUE OP TARGET: "OP TARGET ok" or "OP TARGET MISSED".
verdict() {
  jq -rn --argjson v "$1" --arg op "$2" --argjson t "$3" \
    'if ($op == "≥" and $v >= $t) or ($op == "≤" and $v <= $t) then "\($op) \($t) ok" else "\($op) \($t) MISSED" end'
}

log "load: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min); $pinning"
printf '# gokv bench: %s, %s cores, Go %s, %s\n' "$(date -u +%FT%TZ)" "$(nproc)" "$(go env GOVERSION)" "$pinning"
printf '# %s per cell, %s connections, 10000 keys; gokv: %s %s; load before: %s\n' "$duration" "$concurrency" \
  "${BENCH_GOKV:-$(git describe --always --dirty 2>/dev/null || echo 'this tree')}" "${BENCH_GOKV_ENV:-}" "$(cut -d' ' -f1-3 /proc/loadavg)"
log "the machine: page faults and flushes (bench/probe)"
"${server_cpu[@]}" "$work/bin/probe" -dir "$work" -duration 1s | sed 's/^/# /'

if part matrix; then
  printf '\n| workload | value | generator | gokv req/s | ceiling req/s | ratio | target | gokv p50 / p99 ms | ceiling p50 / p99 ms | p99 / ceiling p99 | gokv CPU |\n'
  printf '|---|---|---|---:|---:|---:|---|---|---|---|---:|\n'
  for c in $cells; do
    workload=${c%-*}
    size=${c#*-}
    for tool in $tools; do
      cell gokv "$tool" "$workload" "$size" "$c" SYNC_WRITES=false
      cell ceiling "$tool" "$workload" "$size" "$c"
      g=$(field "gokv-$tool-$c" .requests_per_second)
      k=$(field "ceiling-$tool-$c" .requests_per_second)
      gp99=$(field "gokv-$tool-$c" .latency_ms.p99)
      kp99=$(field "ceiling-$tool-$c" .latency_ms.p99)
      # Issues 5 and 9: GET ≥ 1.0 and PUT ≥ 0.8 of the ceiling's rate;
      # p99 ≤ 1.5 × the ceiling's for GET and PUT. The mix is reported.
      case $workload in
        get) target=$(verdict "$(jq -n "$g / $k")" ≥ 1.0) ;;
        put) target=$(verdict "$(jq -n "$g / $k")" ≥ 0.8) ;;
        *) target=none ;;
      esac
      p99=$(printf '%.2f' "$(jq -n "$gp99 / $kp99")")
      if [[ $workload != mixed ]]; then
        p99="$p99 ($(verdict "$(jq -n "$gp99 / $kp99")" ≤ 1.5))"
      fi
      printf '| %s | %s B | %s | %.0f | %.0f | %.2f | %s | %.2f / %.2f | %.2f / %.2f | %s | %.0f%% |\n' \
        "$workload" "$size" "$tool" "$g" "$k" "$(jq -n "$g / $k")" "$target" \
        "$(field "gokv-$tool-$c" .latency_ms.p50)" "$gp99" \
        "$(field "ceiling-$tool-$c" .latency_ms.p50)" "$kp99" "$p99" \
        "$(field "gokv-$tool-$c" .server_cpu_percent)"
    done
  done
fi

# disk_fsyncs DIR: how many 4 KiB write + fdatasync pairs the disk under DIR
# does per second (dd with oflag=dsync, 2 s worth: 1000 appends).
disk_fsyncs() {
  local f=$1/fsync-probe s
  s=$(dd if=/dev/zero of="$f" bs=4k count=1000 oflag=dsync 2>&1 | sed -n 's/.* copied, \([0-9.]*\) s.*/\1/p')
  rm -f "$f"
  jq -n "1000 / $s"
}

if part sync; then
  disk=$(disk_fsyncs "$work")
  printf '\n| SYNC_WRITES=true, %s connections | gokv req/s | ceiling req/s | ratio | target | gokv p50 / p99 ms | fsyncs/s | writes per fsync | gokv CPU |\n' "$concurrency"
  printf '|---|---:|---:|---:|---|---|---:|---:|---:|\n'
  for c in put-100 put-4096 mixed-100 mixed-4096; do
    workload=${c%-*}
    size=${c#*-}
    cell gokv gokv-bench "$workload" "$size" "sync-$c" SYNC_WRITES=true
    # The ceiling never syncs; measure it unless the matrix just did.
    [[ -f $out/ceiling-gokv-bench-$c.json ]] || cell ceiling gokv-bench "$workload" "$size" "$c"
    g=$(field "gokv-gokv-bench-sync-$c" .requests_per_second)
    k=$(field "ceiling-gokv-bench-$c" .requests_per_second)
    syncs=$(field "gokv-gokv-bench-sync-$c" .syncs_per_second)
    writes=$(field "gokv-gokv-bench-sync-$c" '.writes / .seconds')
    printf '| %s %s B | %.0f | %.0f | %.2f | %s | %.2f / %.2f | %.0f | %.1f | %.0f%% |\n' \
      "$workload" "$size" "$g" "$k" "$(jq -n "$g / $k")" "$(verdict "$(jq -n "$g / $k")" ≥ 0.7)" \
      "$(field "gokv-gokv-bench-sync-$c" .latency_ms.p50)" "$(field "gokv-gokv-bench-sync-$c" .latency_ms.p99)" \
      "$syncs" "$(jq -n "if $syncs > 0 then $writes / $syncs else 0 end")" \
      "$(field "gokv-gokv-bench-sync-$c" .server_cpu_percent)"
  done
  # gokv syncs the memtable's log once per flush, and the value log
  # before it when a value went there (internal/badgerstore/durable.go).
  printf '\nThe disk: %.0f synchronous 4 KiB appends/s (dd oflag=dsync in %s). A flush is 1 fdatasync, 2 when values went to the value log.\n' "$disk" "$work"
fi

if part group; then
  log "group commit: SYNC_WRITES=true, PUT 100 B, 1 and 32 clients"
  start_gokv gokv-sync "$work/db-sync" SYNC_WRITES=true
  measure gokv-bench gokv-sync-1 "$pid" "$url" put 100 -concurrency 1
  measure gokv-bench gokv-sync-32 "$pid" "$url" put 100 -concurrency 32
  stop "$pid"
  rm -rf "$work/db-sync"
  s1=$(field gokv-sync-1 .requests_per_second)
  s32=$(field gokv-sync-32 .requests_per_second)
  printf '\n| SYNC_WRITES=true, PUT 100 B | req/s | p50 / p99 ms |\n|---|---:|---|\n'
  printf '| 1 client | %.0f | %.2f / %.2f |\n' "$s1" "$(field gokv-sync-1 .latency_ms.p50)" "$(field gokv-sync-1 .latency_ms.p99)"
  printf '| 32 clients | %.0f | %.2f / %.2f |\n' "$s32" "$(field gokv-sync-32 .latency_ms.p50)" "$(field gokv-sync-32 .latency_ms.p99)"
  printf '| ratio | %.1fx (target ≥ 10x: %s) | |\n' "$(jq -n "$s32 / $s1")" \
    "$(jq -rn --argjson a "$s32" --argjson b "$s1" 'if $a / $b >= 10 then "ok" else "MISSED" end')"
fi

if part rss; then
  log "memory: 100k keys of 100 B, mixed load, default options"
  start_gokv gokv-rss "$work/db-rss"
  measure gokv-bench gokv-rss "$pid" "$url" mixed 100 -keys 100000 -preload -duration 30s
  hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
  stop "$pid"
  rm -rf "$work/db-rss"
  printf '\n| memory, 100k keys x 100 B, 30 s mixed after preload | MiB |\n|---|---:|\n'
  printf '| VmHWM (peak RSS) | %.1f (target ≤ 100: %s) |\n| VmRSS at the end | %.1f |\n' \
    "$(jq -n "$hwm / 1024")" "$( ((hwm <= 100 * 1024)) && echo ok || echo MISSED)" "$(jq -n "$rss / 1024")"
fi

# time_to_ready DB NAME: start gokv on DB; sets pid, url and ready_ms, the
# milliseconds from exec until /readyz answered 200 (polled every 5 ms).
time_to_ready() {
  local db=$1 name=$2 t0 t1 i line
  t0=$(date +%s%N)
  env DB_PATH="$db" PORT=0 GIN_MODE=release LOG_FORMAT=json "${server_cpu[@]}" "$work/bin/gokv" 2>"$out/$name.log" &
  pid=$!
  pids+=("$pid")
  for ((i = 0; i < 6000; i++)); do
    if line=$(grep -m1 '"gokv is serving"' "$out/$name.log" 2>/dev/null); then
      url="http://127.0.0.1:$(jq -r '.addr' <<<"$line" | sed 's/.*://')"
      if curl -fs -o /dev/null "$url/readyz"; then break; fi
    fi
    sleep 0.005
  done
  t1=$(date +%s%N)
  ready_ms=$(((t1 - t0) / 1000000))
}

if part cold; then
  log "cold start: empty database"
  time_to_ready "$work/db-cold" gokv-cold-empty
  empty_ms=$ready_ms
  stop "$pid"
  log "cold start: writing 1M keys of 100 B"
  start_gokv gokv-fill "$work/db-cold" SYNC_WRITES=false
  "${client_cpu[@]}" "$work/bin/gokv-bench" -url "$url" -json -progress 0 -workload put -value-size 100 \
    -keys 1000000 -preload -requests 1 -concurrency 32 >"$out/gokv-fill.json"
  stop "$pid"
  time_to_ready "$work/db-cold" gokv-cold-1m
  full_ms=$ready_ms
  log "cold start: 1M keys after kill -9"
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null || true
  time_to_ready "$work/db-cold" gokv-cold-1m-crash
  crash_ms=$ready_ms
  stop "$pid"
  printf '\n| cold start to ready | ms | target |\n|---|---:|---|\n'
  printf '| empty database | %d | < 1000: %s |\n' "$empty_ms" "$( ((empty_ms < 1000)) && echo ok || echo MISSED)"
  printf '| 1M keys of 100 B, after a clean shutdown | %d | < 3000: %s |\n' "$full_ms" "$( ((full_ms < 3000)) && echo ok || echo MISSED)"
  printf '| 1M keys of 100 B, after kill -9 | %d | |\n' "$crash_ms"
fi
# bench_field LINE UNIT: the number before UNIT in a line of go test -bench.
bench_field() {
  awk -v unit="$2" '{for (i = 2; i <= NF; i++) if ($i == unit) print $(i - 1)}' <<<"$1"
}

# go_bench NAME PATTERN [GO TEST FLAG...]: run internal/badgerstore's
# benchmarks matching PATTERN on the servers' CPU; output in $out/NAME.txt.
go_bench() {
  local name=$1 pattern=$2
  shift 2
  "${server_cpu[@]}" go test -run '^$' -bench "$pattern" -benchmem "$@" ./internal/badgerstore \
    >"$out/$name.txt" 2>&1 || die "go test -bench $pattern failed: $(tail -20 "$out/$name.txt")"
}

if part list; then
  list_keys=${BENCH_LIST_KEYS:-1000000}
  log "listing: Go benchmarks, a bucket of $list_keys keys of 100 B, pages of 1000"
  GOKV_BENCH_LIST_KEYS=$list_keys go_bench list '^BenchmarkList' -benchtime 2s
  printf '\n| listing, %s keys of 100 B, pages of 1000 (Go benchmark, one core) | ms per page | keys/s | allocs per page |\n' "$list_keys"
  printf '|---|---:|---:|---:|\n'
  for at in start middle end; do
    line=$(grep "^BenchmarkListPage/$at" "$out/list.txt")
    printf '| one page, cursor at the %s | %.3f | %.0f | %s |\n' "$at" \
      "$(jq -n "$(bench_field "$line" ns/op) / 1e6")" "$(bench_field "$line" keys/s)" "$(bench_field "$line" allocs/op)"
  done
  line=$(grep '^BenchmarkListWalk' "$out/list.txt")
  pages=$(((list_keys + 999) / 1000))
  printf '| full walk, %d pages: the mean page | %.3f | %.0f | %.0f |\n' "$pages" \
    "$(jq -n "$(bench_field "$line" ns/page) / 1e6")" "$(bench_field "$line" keys/s)" \
    "$(jq -n "$(bench_field "$line" allocs/op) / $pages")"
  first=$(bench_field "$line" first-tenth-ns/page)
  last=$(bench_field "$line" last-tenth-ns/page)
  printf '| full walk: the first / last tenth of the pages | %.3f / %.3f | | |\n' \
    "$(jq -n "$first / 1e6")" "$(jq -n "$last / 1e6")"
  printf '\nThe full walk took %.2f s. A deep page costing at most 1.5x a first one: %s.\n' \
    "$(jq -n "$(bench_field "$line" ns/op) / 1e9")" \
    "$(jq -rn --argjson f "$first" --argjson l "$last" 'if $l <= 1.5 * $f then "ok" else "MISSED" end')"
fi

if part watch; then
  watchers=${BENCH_WATCHERS:-1000}
  printf '\n| watch: %s watchers of one bucket, PUT 100 B for %s at | PUTs answered | events delivered | watchers with every event in order / missed / reset | PUT sent to event received, p50 / p99 ms | gokv VmHWM MiB | gokv VmRSS at the end MiB | gokv CPU |\n' "$watchers" "$duration"
  printf '|---|---:|---:|---|---|---:|---:|---:|\n'
  for rate in ${BENCH_WATCH_RATES:-50 200}; do
    name=gokv-watch-$rate
    log "$name: $watchers watchers, PUTs of 100 B at $rate/s for $duration"
    # Every watch holds a connection: MAX_CONNS must let them all in.
    start_gokv "$name" "$work/db-watch" SYNC_WRITES=false MAX_CONNS=$((watchers + 64))
    c0=$(cpu_ticks "$pid")
    t0=$(date +%s%N)
    "${client_cpu[@]}" "$work/bin/gokv-bench" -url "$url" -json -progress 0 -workload watch -watchers "$watchers" \
      -rate "$rate" -value-size 100 -duration "$duration" >"$out/$name.json" ||
      log "gokv-bench watch reported a failure (the table shows it)"
    [[ -s $out/$name.json ]] || die "gokv-bench watch gave no result"
    t1=$(date +%s%N)
    c1=$(cpu_ticks "$pid")
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
    stop "$pid"
    rm -rf "$work/db-watch"
    printf '| %s/s | %s in %.1f s: %.0f/s | %.0f/s | %s / %s / %s (%s) | %.1f / %.1f | %.1f (≤ 150 %s) | %.1f | %.0f%% |\n' "$rate" \
      "$(field "$name" .writes)" "$(field "$name" .write_seconds)" "$(field "$name" .writes_per_second)" \
      "$(field "$name" .events_per_second)" \
      "$(field "$name" .watchers_complete)" "$(field "$name" .watchers_missed)" "$(field "$name" .watchers_reset)" \
      "$(field "$name" 'if .watchers_complete == .watchers and .write_errors == 0 then "ok" else "MISSED" end')" \
      "$(field "$name" .delivery_latency_ms.p50)" "$(field "$name" .delivery_latency_ms.p99)" \
      "$(jq -n "$hwm / 1024")" "$( ((hwm <= 150 * 1024)) && echo ok || echo MISSED)" "$(jq -n "$rss / 1024")" \
      "$(jq -n "100 * $((c1 - c0)) / $(getconf CLK_TCK) / ($((t1 - t0)) / 1e9)")"
  done
  printf '\nOne writer pipelines its PUTs on one connection at the rate, whether or not gokv keeps up; "PUTs answered" is the rate gokv took them at.\n'
  for rate in ${BENCH_WATCH_RATES:-50 200}; do
    field "gokv-watch-$rate" '.problems // [] | .[] | "problem: " + .'
  done
fi

if part txn; then
  printf '\n| %s connections unless said, 100 B values, random keys of 10k | SYNC_WRITES | req/s | puts/s | p50 / p99 ms | gokv CPU |\n' "$concurrency"
  printf '|---|---|---:|---:|---|---:|\n'
  for sync in false true; do
    cell gokv gokv-bench put 100 "single-sync=$sync" SYNC_WRITES=$sync
    cell gokv gokv-bench txn 100 "txn-sync=$sync" SYNC_WRITES=$sync
    # One client with batches to write, one connection.
    log "gokv-gokv-bench-txn1-sync=$sync"
    start_gokv "gokv-txn1-sync=$sync" "$work/db-txn1" SYNC_WRITES=$sync
    measure gokv-bench "gokv-gokv-bench-txn1-sync=$sync" "$pid" "$url" txn 100 -concurrency 1
    stop "$pid"
    rm -rf "$work/db-txn1"
    for c in single txn txn1; do
      n=gokv-gokv-bench-$c-sync=$sync
      case $c in
        single) what="single PUTs" ;;
        txn) what="POST /_txn, 128 puts each" ;;
        txn1) what="POST /_txn, 128 puts each, 1 connection" ;;
      esac
      printf '| %s | %s | %.0f | %.0f | %.2f / %.2f | %.0f%% |\n' "$what" "$sync" \
        "$(field "$n" .requests_per_second)" "$(field "$n" .ops_per_second)" \
        "$(field "$n" .latency_ms.p50)" "$(field "$n" .latency_ms.p99)" "$(field "$n" .server_cpu_percent)"
    done
    printf '| ratio, puts/s of txn / single PUTs, both %s connections | %s | | %.2fx | | |\n' "$concurrency" "$sync" \
      "$(jq -n "$(field "gokv-gokv-bench-txn-sync=$sync" .ops_per_second) / $(field "gokv-gokv-bench-single-sync=$sync" .ops_per_second)")"
  done
  log "transactions: Go benchmarks, 128 puts as one Apply or as 128 concurrent Applies"
  go_bench txn '^Benchmark(Apply128|Put128Singles)$'
  printf '\n| in-process, 100 B values (Go benchmark, one core) | SYNC_WRITES | µs per 128 puts | puts/s |\n|---|---|---:|---:|\n'
  for b in Apply128 Put128Singles; do
    for sync in false true; do
      line=$(grep "^Benchmark$b/sync=$sync" "$out/txn.txt")
      printf '| %s | %s | %.0f | %.0f |\n' "$([[ $b == Apply128 ]] && echo "one Apply of 128 puts" || echo "128 concurrent single-put Applies")" \
        "$sync" "$(jq -n "$(bench_field "$line" ns/op) / 1000")" "$(bench_field "$line" puts/s)"
    done
  done
fi

# free_port: a loopback TCP port nothing listens on now.
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 20000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || break
  done
  echo "$p"
}

# start_etcd NAME: a one-member etcd on loopback, on a fresh data
# directory, syncing its log as in production; sets etcd_pid and etcd_url.
# Its client URL serves the gRPC API and the JSON gateway alike.
start_etcd() {
  local name=$1 client peer i
  client=$(free_port)
  peer=$(free_port)
  etcd_url=http://127.0.0.1:$client
  "${server_cpu[@]}" "$etcd_bin" --name "$name" --data-dir "$work/etcd-$name" --log-level warn \
    --listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "$name=http://127.0.0.1:$peer" 2>"$out/$name.log" &
  etcd_pid=$!
  pids+=("$etcd_pid")
  for ((i = 0; i < 3000; i++)); do
    if curl -fs -o /dev/null "$etcd_url/health"; then return 0; fi
    sleep 0.01
  done
  cat "$out/$name.log" >&2
  die "etcd $name not healthy after 30 s"
}

# start_gokv_etcd NAME: gokv on the etcd at $etcd_url; sets pid and url.
start_gokv_etcd() {
  local name=$1 line port
  env STORAGE_BACKEND=etcd ETCD_ENDPOINTS="$etcd_url" PORT=0 METRICS_PORT=0 GIN_MODE=release LOG_FORMAT=json \
    "${server_cpu[@]}" "$work/bin/gokv" 2>"$out/$name.log" &
  pid=$!
  pids+=("$pid")
  line=$(wait_line "$out/$name.log" '"gokv is serving"')
  port=$(jq -r '.addr' <<<"$line")
  url="http://127.0.0.1:${port##*:}"
}

# etcd_measure NAME SERVER-PID URL WORKLOAD SIZE [GOKV-BENCH FLAG...]:
# preload and measure with gokv-bench, adding etcd's CPU use as
# etcd_cpu_percent to $out/NAME.json.
etcd_measure() {
  local name=$1 spid=$2 url=$3 workload=$4 size=$5 c0 c1 t0 t1
  shift 5
  "${client_cpu[@]}" "$work/bin/gokv-bench" -url "$url" -json -progress 0 -concurrency "$concurrency" \
    -workload put -value-size "$size" -keys 10000 -preload -requests 1 "$@" >/dev/null || die "preload of $name failed"
  c0=$(cpu_ticks "$etcd_pid")
  t0=$(date +%s%N)
  measure gokv-bench "$name" "$spid" "$url" "$workload" "$size" "$@"
  t1=$(date +%s%N)
  c1=$(cpu_ticks "$etcd_pid")
  jq --argjson ticks $((c1 - c0)) --argjson hz "$(getconf CLK_TCK)" --argjson wall $((t1 - t0)) \
    '. + {etcd_cpu_percent: (100 * $ticks / $hz / ($wall / 1e9))}' "$out/$name.json" >"$out/$name.tmp"
  mv "$out/$name.tmp" "$out/$name.json"
}

if part etcd; then
  # The etcd the offline kind image ships, built from etcd's Go module.
  hack/offline/build-binaries.sh etcd
  etcd_bin=$GOKV_CACHE_DIR/etcd/$ETCD_VERSION/bin/etcd
  printf '\n| etcd %s, one member, fsync on, %s connections | value | gokv on etcd req/s | etcd gateway req/s | ratio | target | gokv p50 / p99 ms | gateway p50 / p99 ms | gokv CPU | etcd CPU under gokv / gateway |\n' "$ETCD_VERSION" "$concurrency"
  printf '|---|---|---:|---:|---:|---|---|---|---:|---|\n'
  for c in get-100 get-4096 put-100 put-4096; do
    workload=${c%-*}
    size=${c#*-}
    log "etcd-gateway-$c"
    start_etcd "etcd-gw-$c"
    etcd_measure "etcd-gateway-$c" "$etcd_pid" "$etcd_url" "$workload" "$size" -target etcd-gateway
    stop "$etcd_pid"
    log "gokv-etcd-$c"
    start_etcd "etcd-gokv-$c"
    start_gokv_etcd "gokv-etcd-$c"
    etcd_measure "gokv-etcd-$c" "$pid" "$url" "$workload" "$size"
    stop "$pid"
    stop "$etcd_pid"
    g=$(field "gokv-etcd-$c" .requests_per_second)
    k=$(field "etcd-gateway-$c" .requests_per_second)
    printf '| %s | %s B | %.0f | %.0f | %.2f | %s | %.2f / %.2f | %.2f / %.2f | %.0f%% | %.0f%% / %.0f%% |\n' \
      "$workload" "$size" "$g" "$k" "$(jq -n "$g / $k")" "$(verdict "$(jq -n "$g / $k")" ≥ 1.0)" \
      "$(field "gokv-etcd-$c" .latency_ms.p50)" "$(field "gokv-etcd-$c" .latency_ms.p99)" \
      "$(field "etcd-gateway-$c" .latency_ms.p50)" "$(field "etcd-gateway-$c" .latency_ms.p99)" \
      "$(field "gokv-etcd-$c" .server_cpu_percent)" \
      "$(field "gokv-etcd-$c" .etcd_cpu_percent)" "$(field "etcd-gateway-$c" .etcd_cpu_percent)"
  done

  printf '\n| gokv replicas on one etcd, %s connections spread over them | 1 replica req/s | 3 replicas req/s | ratio | 1 / 3 replicas p99 ms | etcd CPU 1 / 3 |\n' "$concurrency"
  printf '|---|---:|---:|---:|---|---|\n'
  for c in get-100 put-100; do
    workload=${c%-*}
    size=${c#*-}
    log "gokv replicas: $c"
    start_etcd "etcd-replicas-$c"
    replicas=()
    replica_pids=()
    for r in 1 2 3; do
      start_gokv_etcd "gokv-replica-$r-$c"
      replicas+=("$url")
      replica_pids+=("$pid")
    done
    etcd_measure "gokv-replicas1-$c" "${replica_pids[0]}" "${replicas[0]}" "$workload" "$size"
    etcd_measure "gokv-replicas3-$c" "${replica_pids[0]}" "$(IFS=,; echo "${replicas[*]}")" "$workload" "$size"
    for r in "${replica_pids[@]}"; do stop "$r"; done
    stop "$etcd_pid"
    one=$(field "gokv-replicas1-$c" .requests_per_second)
    three=$(field "gokv-replicas3-$c" .requests_per_second)
    printf '| %s %s B | %.0f | %.0f | %.2f | %.2f / %.2f | %.0f%% / %.0f%% |\n' "$workload" "$size" "$one" "$three" \
      "$(jq -n "$three / $one")" "$(field "gokv-replicas1-$c" .latency_ms.p99)" "$(field "gokv-replicas3-$c" .latency_ms.p99)" \
      "$(field "gokv-replicas1-$c" .etcd_cpu_percent)" "$(field "gokv-replicas3-$c" .etcd_cpu_percent)"
  done
  printf '\nServers (etcd and every gokv) share CPU 0 and the load generator has CPU 1, so more replicas cannot add CPU here: the table shows what spreading costs, not what a cluster gains.\n'
fi

printf '\n# load after: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
log "done; results in $out"
