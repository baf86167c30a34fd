#!/usr/bin/env bash
# Usage: hack/render-manifests.sh [OUTDIR]
#
# Renders the plain manifests in k8s/ (or OUTDIR) from charts/gokv, for
# people who deploy without Helm. Never edit those files by hand: change the
# chart and run `make manifests`; the chart tests fail while they differ.
#
# They are the chart's defaults except that the JWT secret comes from a
# Secret you create (auth.existingSecret=gokv-jwt): a rendered secret would
# be a secret in git, and a random one would change on every render.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$GOKV_HACK_DIR/.."

out=${1:-k8s}
helm=$("$GOKV_HACK_DIR/gotool.sh" helm)
mkdir -p "$out"

render() {
  "$helm" template gokv charts/gokv --set auth.existingSecret=gokv-jwt "$@"
}

log "rendering $out/gokv.yaml"
{
  cat <<'HEADER'
# gokv, rendered from charts/gokv by hack/render-manifests.sh: do not edit.
# First create the Secret it reads the JWT secret from:
#   kubectl create secret generic gokv-jwt --from-literal=jwt-secret="$(head -c 32 /dev/urandom | base64)"
# then: kubectl apply -f k8s/gokv.yaml, and mint a token with k8s/jwt-gen-job.yaml.
HEADER
  render --skip-tests --set jwtGen.enabled=false
} >"$out/gokv.yaml"

log "rendering $out/jwt-gen-job.yaml"
{
  cat <<'HEADER'
# jwt-gen Job, rendered from charts/gokv by hack/render-manifests.sh: do not edit.
# Mints a 24h token from the gokv-jwt Secret and prints it to its log:
#   kubectl apply -f k8s/jwt-gen-job.yaml
#   kubectl wait --for=condition=complete job/gokv-jwt-gen-1
#   TOKEN=$(kubectl logs job/gokv-jwt-gen-1)
# To mint another, delete the Job and apply it again.
HEADER
  render --show-only templates/jwt-gen-job.yaml
} >"$out/jwt-gen-job.yaml"
