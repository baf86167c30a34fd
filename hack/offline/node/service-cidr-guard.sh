#!/bin/sh
# Usage: ExecStartPre of kubelet.service in the offline node image
# (drop-in 13-gokv-service-cidr-guard.conf); no arguments.
#
# Why: until kube-proxy has written its rules (and for Service IPs that are
# not allocated at all), a packet to a Service IP is not translated and
# follows the node's default route out of the cluster; on machines whose
# network must only see their own traffic that is a leak (seen: a pod that
# started before kube-proxy reached some outside TLS server at 10.96.0.1).
# This rejects such packets in the node instead. Translated traffic is
# unaffected: kube-proxy's DNAT (PREROUTING/OUTPUT in the nat table) runs
# before these filter rules, so the destination is a pod or node by then.
# The Service CIDR comes from the kubeadm config kind writes before it
# starts the kubelet.
set -eu
conf=/kind/kubeadm.conf
[ -f "$conf" ] || exit 0
comment="gokv: untranslated Service IP stays in the node"
for cidr in $(awk '/^[[:space:]]*serviceSubnet:/ {print $2; exit}' "$conf" | tr ',' ' '); do
  case $cidr in
    *:*) ipt=ip6tables ;;
    *) ipt=iptables ;;
  esac
  for chain in FORWARD OUTPUT; do
    "$ipt" -w -C "$chain" -d "$cidr" -m comment --comment "$comment" -j REJECT 2>/dev/null ||
      "$ipt" -w -I "$chain" -d "$cidr" -m comment --comment "$comment" -j REJECT
  done
done
