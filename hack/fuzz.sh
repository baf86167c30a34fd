#!/usr/bin/env bash
# Usage: hack/fuzz.sh [FUZZTIME]
# Runs every Go fuzz target of the module for FUZZTIME each: a count of
# executions such as 100000x (the default, about 10 s a target here) or a
# duration such as 30s. `go test -fuzz` takes one target at a time, so this
# finds them and loops. Failing inputs are written to the package's
# testdata/fuzz/ corpus; commit them as regression tests.
#
# The default is a count because Go 1.26's fuzz coordinator can fail a
# duration-limited run with a spurious "context deadline exceeded" when the
# time runs out (go.dev/issue/75804, fixed in Go 1.27).
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$GOKV_HACK_DIR/.."

fuzztime=${1:-100000x}
found=0
while read -r pkg dir; do
  while read -r target; do
    found=$((found + 1))
    log "fuzz $pkg $target for $fuzztime"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
  done < <(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //')
done < <(go list -f '{{.ImportPath}} {{.Dir}}' ./...)
[ "$found" -gt 0 ] || die "no fuzz targets found"
