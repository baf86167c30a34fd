#!/usr/bin/env bash
# Usage: hack/offline/smoke.sh [--keep]
#   env: NODE_IMAGE, GO_IMAGE, BASE_IMAGE (default: from hack/offline-images.sh)
#        CLUSTER (default gokv-probe)
#
# End-to-end check of the offline kind ingredients: creates a cluster from
# NODE_IMAGE with k8s/kind-config.yaml, waits for CoreDNS, loads a probe
# image built with GO_IMAGE on BASE_IMAGE, runs it as uid/gid 65532 with
# fsGroup 65532 and a read-only root filesystem on a dynamically provisioned
# PVC of the default StorageClass "standard", writes and reads a file through
# a ClusterIP Service via `kubectl port-forward` on loopback, and resolves and
# calls the Service from another pod. Then deletes the cluster and cleans the
# host cgroups (unless --keep; the kubeconfig is then
# ${GOKV_CACHE_DIR}/kubeconfig-$CLUSTER). Needs a running Docker engine.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"

keep=false
[[ ${1:-} != --keep ]] || keep=true
CLUSTER=${CLUSTER:-gokv-probe}
REPO_DIR=$(cd "$GOKV_HACK_DIR/.." && pwd)

tmp=$(mktemp -d)
pf_pid=''
created=false
cleanup() {
  local rc=$?
  [[ -z $pf_pid ]] || kill "$pf_pid" 2>/dev/null || true
  if $created && { ((rc != 0)) || ! $keep; }; then
    if ((rc != 0)); then
      log "failed; cluster state:"
      "$kubectl" --kubeconfig "$KUBECONFIG" get pods,pvc,pv -A -o wide >&2 || true
      "$kubectl" --kubeconfig "$KUBECONFIG" get events -A --sort-by=.lastTimestamp 2>/dev/null | tail -n 25 >&2 || true
      "$kind" export logs "$GOKV_CACHE_DIR/logs/kind-$CLUSTER" --name "$CLUSTER" >/dev/null 2>&1 &&
        log "node logs in $GOKV_CACHE_DIR/logs/kind-$CLUSTER"
      $keep && { rm -rf "$tmp"; exit "$rc"; }
    fi
    log "deleting cluster $CLUSTER"
    "$kind" delete cluster --name "$CLUSTER" >&2 || true
    rm -f "$KUBECONFIG"
    "$GOKV_HACK_DIR/offline/cleanup-cgroups.sh" || true
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT

if [[ -z ${NODE_IMAGE:-} || -z ${GO_IMAGE:-} || -z ${BASE_IMAGE:-} ]]; then
  eval "$("$GOKV_HACK_DIR/offline-images.sh" | tail -n 4)"
fi
kind=$("$GOKV_HACK_DIR/gotool.sh" kind)
kubectl=$("$GOKV_HACK_DIR/gotool.sh" kubectl)
probe=$("$GOKV_HACK_DIR/offline/probe-image.sh" "$GO_IMAGE" "$BASE_IMAGE")
# Outside $tmp so that a cluster kept with --keep stays usable.
export KUBECONFIG=$GOKV_CACHE_DIR/kubeconfig-$CLUSTER
k() { "$kubectl" --kubeconfig "$KUBECONFIG" "$@"; }

if docker ps -a --format '{{.Names}}' | grep -qx "$CLUSTER-control-plane"; then
  die "cluster $CLUSTER exists already (delete it: $kind delete cluster --name $CLUSTER)"
fi
log "phase: kind create cluster $CLUSTER from $NODE_IMAGE"
created=true
"$kind" create cluster --name "$CLUSTER" --image "$NODE_IMAGE" \
  --config "$REPO_DIR/k8s/kind-config.yaml" --kubeconfig "$KUBECONFIG" --wait 3m >&2
log "cluster ready"
k get nodes -o wide >&2
docker exec "$CLUSTER-control-plane" iptables -S FORWARD | grep -q 'gokv: untranslated Service IP' ||
  die "the node does not reject untranslated Service IPs"

log "phase: CoreDNS"
k -n kube-system rollout status deployment/coredns --timeout=120s >&2

log "phase: kind load docker-image $probe"
"$kind" load docker-image "$probe" --name "$CLUSTER" >&2

log "phase: probe Deployment on a PVC of the default StorageClass"
cat >"$tmp/probe.yaml" <<YAML
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: probe-data
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 64Mi
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: probe
spec:
  replicas: 1
  selector:
    matchLabels: {app: probe}
  template:
    metadata:
      labels: {app: probe}
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        runAsGroup: 65532
        fsGroup: 65532
      containers:
        - name: probe
          image: $probe
          imagePullPolicy: Never
          env:
            - {name: DATA_DIR, value: /data}
          ports:
            - {containerPort: 8080, name: http}
          readinessProbe:
            httpGet: {path: /, port: http}
            periodSeconds: 2
          securityContext:
            readOnlyRootFilesystem: true
            allowPrivilegeEscalation: false
            capabilities: {drop: [ALL]}
          volumeMounts:
            - {name: data, mountPath: /data}
      volumes:
        - name: data
          persistentVolumeClaim: {claimName: probe-data}
---
apiVersion: v1
kind: Service
metadata:
  name: probe
spec:
  type: ClusterIP
  selector: {app: probe}
  ports:
    - {port: 80, targetPort: http, name: http}
YAML
k apply -f "$tmp/probe.yaml" >&2
k rollout status deployment/probe --timeout=180s >&2
k wait pvc/probe-data --for=jsonpath='{.status.phase}'=Bound --timeout=60s >&2
pv=$(k get pvc probe-data -o jsonpath='{.spec.volumeName}')
sc=$(k get pv "$pv" -o jsonpath='{.spec.storageClassName}')
[[ $sc == standard ]] || die "PV $pv has StorageClass '$sc', want standard"
log "PVC Bound to $pv (StorageClass $sc, dynamically provisioned)"

log "phase: port-forward to the Service on loopback"
port=$((20000 + RANDOM % 20000))
k port-forward --address 127.0.0.1 service/probe "$port:80" >"$tmp/pf.log" 2>&1 &
pf_pid=$!
for ((i = 0; i < 60; i++)); do
  curl -fsS --max-time 2 "http://127.0.0.1:$port/" >/dev/null 2>&1 && break
  kill -0 "$pf_pid" 2>/dev/null || { cat "$tmp/pf.log" >&2; die "port-forward exited"; }
  sleep 0.5
done
who=$(curl -fsS --max-time 5 "http://127.0.0.1:$port/")
[[ $who == *"uid=65532 gid=65532"* ]] || die "probe answered '$who'"
payload="written-through-service-$RANDOM"
curl -fsS --max-time 5 -X PUT --data "$payload" "http://127.0.0.1:$port/file"
got=$(curl -fsS --max-time 5 "http://127.0.0.1:$port/file")
[[ $got == "$payload" ]] || die "read back '$got', want '$payload'"
log "probe ($who) wrote and read /data/probe.txt through the Service"
kill "$pf_pid"
wait "$pf_pid" 2>/dev/null || true
pf_pid=''

log "phase: DNS and ClusterIP from inside the cluster"
helper=$(k -n local-path-storage get configmap local-path-config -o jsonpath='{.data.helperPod\.yaml}' | awk '/image:/ {print $2; exit}')
k run dns-check --image="$helper" --image-pull-policy=Never --restart=Never --command -- \
  sh -c 'nslookup probe.default.svc.cluster.local && wget -qO- http://probe.default.svc.cluster.local/file' >&2
k wait pod/dns-check --for=jsonpath='{.status.phase}'=Succeeded --timeout=60s >&2
k logs dns-check | tail -n 3 >&2
[[ $(k logs dns-check | tail -n 1) == "$payload" ]] || die "in-cluster call through the Service failed"
restarts=$(k get pods -A -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name}={.status.containerStatuses[0].restartCount}{"\n"}{end}' | grep -v '=0$' || true)
[[ -z $restarts ]] || log "pods that restarted: $(tr "\n" " " <<<"$restarts")"
log "smoke test passed (kubeconfig: $KUBECONFIG)"
