#!/bin/sh
# Usage: installed in the kube-proxy image as the iptables, iptables-save,
# iptables-restore (and ip6tables*) alternatives; kube-proxy calls it by
# those names.
#
# Why: kube-proxy runs in the node's network namespace and must write its
# rules with the same backend (nft or legacy) as the node's kubelet, or the
# two sets of rules never meet. Like upstream's iptables-wrapper (which the
# registry image ships and the Go module proxy does not serve), the first call
# picks the backend that already has kubelet's chains (else the one with more
# rules, as kind's node entrypoint does), points the alternatives at it, and
# re-runs the command under its own name.
set -eu

mode=''
for m in nft legacy; do
  if "iptables-$m-save" -t mangle 2>/dev/null | grep -q -e KUBE-IPTABLES-HINT -e KUBE-KUBELET-CANARY; then
    mode=$m
    break
  fi
done
if [ -z "$mode" ]; then
  legacy=$( (iptables-legacy-save || true; ip6tables-legacy-save || true) 2>/dev/null | grep -c '^-' || true)
  nft=$( (timeout 5 sh -c 'iptables-nft-save; ip6tables-nft-save' || true) 2>/dev/null | grep -c '^-' || true)
  if [ "$legacy" -gt "$nft" ]; then mode=legacy; else mode=nft; fi
fi

update-alternatives --set iptables "/usr/sbin/iptables-$mode" >/dev/null
update-alternatives --set ip6tables "/usr/sbin/ip6tables-$mode" >/dev/null
exec "$0" "$@"
