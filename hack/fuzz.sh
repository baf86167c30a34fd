#!/usr/bin/env bash
# Usage: hack/fuzz.sh [FUZZTIME]
# Runs every Go fuzz target of the module for FUZZTIME (default 10s) each.
# `go test -fuzz` takes one target at a time, so this finds them and loops.
# New inputs that fail are written to the package's testdata/fuzz/ corpus.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$GOKV_HACK_DIR/.."

fuzztime=${1:-10s}
found=0
while read -r pkg dir; do
  while read -r target; do
    found=$((found + 1))
    log "fuzz $pkg $target for $fuzztime"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
  done < <(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //')
done < <(go list -f '{{.ImportPath}} {{.Dir}}' ./...)
[ "$found" -gt 0 ] || die "no fuzz targets found"
