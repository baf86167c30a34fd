#!/usr/bin/env bash
# Usage: hack/e2e.sh [go test flags...]      (make e2e)
#
# Runs the end-to-end suite (test/e2e) on a real kind cluster: builds the
# image under test from the Dockerfile, picks the kind node image for this
# machine (kind's own where a registry is reachable, a locally built one
# otherwise: hack/image-env.sh), and runs the Go tests, which create the
# cluster, load the image, test, and delete the cluster.
#
# Needs Go and a running Docker engine (on a bare Debian machine
# hack/docker-up.sh installs and starts one). Settings (see test/e2e):
#   GOKV_E2E_CLUSTER=name   reuse or create this kind cluster (default gokv-e2e)
#   GOKV_E2E_KEEP=1         keep the cluster for debugging
#   GOKV_E2E_KUBECONFIG=f   test an existing cluster instead (no Docker needed;
#                           the chart's default image must be pullable there)
#   GOKV_OFFLINE=0|1        force the registry or the local images
# Example: GOKV_E2E_KEEP=1 make e2e E2E_ARGS="-run 'TestHelmTest|TestPlainManifests'"
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$GOKV_HACK_DIR/.."

if [[ -z ${GOKV_E2E_KUBECONFIG:-} ]]; then
  if ! command -v docker >/dev/null || ! docker info >/dev/null 2>&1; then
    echo "make e2e: no Docker engine is running and GOKV_E2E_KUBECONFIG names no cluster (hack/docker-up.sh starts one on Debian)" >&2
    exit 1
  fi
  log "phase: images for this machine"
  eval "$("$GOKV_HACK_DIR/image-env.sh")"
  export GOKV_E2E_IMAGE=${GOKV_E2E_IMAGE:-gokv:e2e}
  export GOKV_E2E_NODE_IMAGE=${GOKV_E2E_NODE_IMAGE:-$NODE_IMAGE}
  export GOKV_E2E_ETCD_IMAGE=${GOKV_E2E_ETCD_IMAGE:-$ETCD_IMAGE}
  log "phase: build $GOKV_E2E_IMAGE"
  GO_IMAGE=$GO_IMAGE BASE_IMAGE=$BASE_IMAGE "$GOKV_HACK_DIR/image.sh" "$GOKV_E2E_IMAGE"
fi

mkdir -p "${GOKV_E2E_ARTIFACTS:=$GOKV_CACHE_DIR/e2e-artifacts}"
export GOKV_E2E_ARTIFACTS
log "phase: go test -tags e2e ./e2e (failure dumps go to $GOKV_E2E_ARTIFACTS)"
status=0
(cd test && go test -tags e2e -count=1 -v -timeout 60m -parallel 4 ./e2e/ "$@") || status=$?

if [[ -z ${GOKV_E2E_KUBECONFIG:-} ]]; then
  "$GOKV_HACK_DIR/offline/cleanup-cgroups.sh" || true
fi
log "e2e finished with status $status"
exit "$status"
