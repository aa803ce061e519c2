#!/bin/bash
# The pod network of the offline kind cluster, in the role of kind's kindnetd (which is not on the
# Go module proxy): on each node, write a ptp CNI config for the node's pod CIDR, route every
# other node's pod CIDR to that node's address (all nodes share one Docker network), and
# masquerade traffic from pods to anything outside the pod network. Runs as a DaemonSet
# (scripts/kind/manifests/node-routes.yaml, kind's /kind/manifests/default-cni.yaml).
set -uo pipefail

node="${NODE_NAME:?NODE_NAME must be set from spec.nodeName}"
pod_subnet="${POD_SUBNET:?POD_SUBNET must be set}"
conf=/etc/cni/net.d/10-konstruct-ptp.conflist

write_conf() { # write_conf CIDR: only when it changed, so containerd does not reload for nothing
  local wanted
  wanted="$(cat <<JSON
{
  "cniVersion": "0.4.0",
  "name": "konstruct-kind",
  "plugins": [
    {
      "type": "ptp",
      "ipMasq": false,
      "mtu": 1500,
      "ipam": { "type": "host-local", "dataDir": "/run/cni-ipam-state", "routes": [{ "dst": "0.0.0.0/0" }], "ranges": [[{ "subnet": "$1" }]] }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
JSON
)"
  if [ "$(cat "$conf" 2>/dev/null)" != "$wanted" ]; then
    echo "$wanted" >"$conf.tmp" && mv -f "$conf.tmp" "$conf"
    echo "node-routes: wrote $conf for $1"
  fi
}

while true; do
  if nodes="$(kubectl get nodes -o jsonpath='{range .items[*]}{.metadata.name} {.spec.podCIDR} {.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}')"; then
    while read -r name cidr address; do
      [ -n "$name" ] && [ -n "$cidr" ] && [ -n "$address" ] || continue
      if [ "$name" = "$node" ]; then
        write_conf "$cidr"
      elif [ "$(ip route show "$cidr")" != "$cidr via $address dev eth0 " ] && [ "$(ip route show "$cidr")" != "$cidr via $address dev eth0" ]; then
        ip route replace "$cidr" via "$address" && echo "node-routes: $cidr via $address ($name)"
      fi
    done <<<"$nodes"
  fi
  iptables -t nat -C POSTROUTING -s "$pod_subnet" ! -d "$pod_subnet" -m comment --comment konstruct-kind-masquerade -j MASQUERADE 2>/dev/null ||
    iptables -t nat -A POSTROUTING -s "$pod_subnet" ! -d "$pod_subnet" -m comment --comment konstruct-kind-masquerade -j MASQUERADE
  sleep 10
done
