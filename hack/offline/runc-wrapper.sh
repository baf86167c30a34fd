#!/bin/sh
# Usage: registered by hack/docker-up.sh as dockerd's default OCI runtime;
# called by containerd's shim exactly like runc (same arguments).
#
# Why: on some CI machines root lacks CAP_SYS_RESOURCE in its bounding set, so
# runc cannot grant it and every --privileged container (every kind node)
# fails with "unable to apply caps: operation not permitted". This wrapper
# deletes CAP_SYS_RESOURCE from the capability sets the container asks for
# (config.json on create/run, the --process file on exec) and then runs the
# real runc with the unchanged arguments. Installed only on machines that
# lack the capability; elsewhere dockerd keeps its stock runtime.
set -eu
RUNC=${GOKV_REAL_RUNC:-/usr/sbin/runc}

# strip FILE JQ_PATH: remove CAP_SYS_RESOURCE from every list under JQ_PATH.
strip() {
  [ -f "$1" ] || return 0
  jq "if $2 then $2 |= with_entries(.value |= (if type == \"array\" then map(select(. != \"CAP_SYS_RESOURCE\")) else . end)) else . end" \
    "$1" >"$1.gokv-tmp"
  mv "$1.gokv-tmp" "$1"
}

cmd='' bundle='' process='' prev=''
for arg in "$@"; do
  case $prev in
    --bundle | -b) bundle=$arg ;;
    --process | -p) process=$arg ;;
  esac
  case $arg in
    --bundle=*) bundle=${arg#--bundle=} ;;
    --process=*) process=${arg#--process=} ;;
    create | run | exec) [ -n "$cmd" ] || cmd=$arg ;;
  esac
  prev=$arg
done

case $cmd in
  create | run) strip "${bundle:-.}/config.json" .process.capabilities ;;
  exec) [ -z "$process" ] || strip "$process" .capabilities ;;
esac
exec "$RUNC" "$@"
