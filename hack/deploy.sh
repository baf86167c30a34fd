#!/usr/bin/env bash
# Usage: hack/deploy.sh [IMAGE]      (default: $IMAGE or gokv:dev)
#
# Installs or upgrades charts/gokv as release gokv in namespace
# $NAMESPACE (default gokv) of the current kubectl context, running IMAGE
# (loaded into the cluster, e.g. by `make kind-up`), and waits until it is
# ready. Extra helm arguments go in $HELM_ARGS.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$GOKV_HACK_DIR/.."

image=${1:-${IMAGE:-gokv:dev}}
namespace=${NAMESPACE:-gokv}
helm=$("$GOKV_HACK_DIR/gotool.sh" helm)

log "helm upgrade --install gokv ($image) in namespace $namespace"
# shellcheck disable=SC2086 # HELM_ARGS is a list of words on purpose
"$helm" upgrade --install gokv charts/gokv --namespace "$namespace" --create-namespace \
  --set image.repository="${image%:*}" --set image.tag="${image##*:}" \
  --wait --wait-for-jobs --timeout 5m ${HELM_ARGS:-}
