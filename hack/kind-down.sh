#!/usr/bin/env bash
# Usage: hack/kind-down.sh
#
# Deletes the kind cluster $KIND_CLUSTER (default gokv) and, where the
# offline node image left kubelet cgroups on the host, removes them.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"

cluster=${KIND_CLUSTER:-gokv}
kind=$("$GOKV_HACK_DIR/gotool.sh" kind)
log "deleting kind cluster $cluster"
"$kind" delete cluster --name "$cluster"
"$GOKV_HACK_DIR/offline/cleanup-cgroups.sh"
