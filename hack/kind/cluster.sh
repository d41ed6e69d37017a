#!/usr/bin/env bash
# `make kind` / `make kind ARGS=down`: a three-node kind cluster (one control plane, two
# workers) on podman, from the node image built here (node-image.sh), with a CNI that routes
# between the nodes. Prints `export KUBECONFIG=...` last. See docs/design.md §6.1.
#
# What these machines need (shared/KIND.md) and how it is done without touching the host's
# forwarding or NAT:
# - the nodes sit on a bridge of our own (nwkind0, $SUBNET) with an address of the machine's
#   on it, so the machine reaches them directly; podman's network "nodewave-kind" uses it with
#   isGateway and ipMasq off (the CNI bridge plugin would turn forwarding on), and no portmap:
#   the kubeconfig names the control plane's address, not a published port;
# - each node has a fixed address and the others' names in /etc/hosts (kubeadm joins by name;
#   no DNS between podman containers here), set by a podman wrapper kind calls, which also
#   hands the nodes an empty /lib/modules (the machine has none, and kind always mounts it);
# - pods: the CNI reference plugins (ptp, host-local on the node's podCIDR) and a route per
#   other node's podCIDR in each node (kindnetd does the same; it is not served here).
# `load ARCHIVE...` loads images into every node (`kind load image-archive` with this setup);
# `down` removes what `up` made, by name: the cluster, its volumes, the bridge, the network.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
NAME="${KIND_CLUSTER:-nodewave}"
NETWORK=nodewave-kind
BRIDGE=nwkind0
PREFIX=10.89.240
STATE="$CACHE/kind/$NAME"
KUBECONFIG_OUT="$STATE/kubeconfig"
log() { printf '[kind] %s\n' "$*" >&2; }
declare -A IPS=(["$NAME-control-plane"]=$PREFIX.10 ["$NAME-worker"]=$PREFIX.11 ["$NAME-worker2"]=$PREFIX.12)

setup_env() {
  ensure_python_env
  ensure_container_runtime
  ensure_binaries all >/dev/null
  ensure_binaries kind >/dev/null
  ensure_podman
  export KIND_EXPERIMENTAL_PROVIDER=podman KIND_EXPERIMENTAL_PODMAN_NETWORK="$NETWORK"
  mkdir -p "$STATE/bin" "$STATE/empty-modules"
  local hosts=""
  for n in "${!IPS[@]}"; do hosts="$hosts --add-host $n:${IPS[$n]}"; done
  cat >"$STATE/bin/podman" <<WRAPPER
#!/usr/bin/env bash
# kind's podman calls, adjusted (hack/kind/cluster.sh): an empty /lib/modules, fixed addresses.
declare -A ips=($(for n in "${!IPS[@]}"; do printf '[%s]=%s ' "$n" "${IPS[$n]}"; done))
args=(); host=""; prev=""
for a in "\$@"; do
  [ "\$prev" = --hostname ] && host="\$a"
  case "\$a" in
    /lib/modules:/lib/modules:ro) args+=("$STATE/empty-modules:/lib/modules:ro") ;;
    *) args+=("\$a") ;;
  esac
  prev="\$a"
done
if [ "\${1:-}" = run ] && [ -n "\$host" ] && [ -n "\${ips[\$host]:-}" ]; then
  exec /usr/bin/podman run --ip "\${ips[\$host]}"$hosts "\${args[@]:1}"
fi
exec /usr/bin/podman "\${args[@]}"
WRAPPER
  chmod +x "$STATE/bin/podman"
  export PATH="$STATE/bin:$PATH"
}

make_network() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$PREFIX.1/24" dev "$BRIDGE"
  fi
  ip link set "$BRIDGE" up
  write_if_changed "$CACHE/containers/cni/$NETWORK.conflist" <<CNI
{"cniVersion": "0.4.0", "name": "$NETWORK", "plugins": [
  {"type": "bridge", "bridge": "$BRIDGE", "isGateway": false, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$PREFIX.0/24", "gateway": "$PREFIX.1"}]],
            "routes": [{"dst": "0.0.0.0/0"}]}}]}
CNI
}

node_cni() {  # node_cni NODE: its pods' network, and routes to the other nodes' pods
  local node="$1" other
  podman exec -i "$node" sh -euc "sysctl -qw net.ipv4.ip_forward=1
    cat >/etc/cni/net.d/10-nodewave.conflist" <<CNI
{"cniVersion": "0.4.0", "name": "nodewave-pods", "plugins": [
  {"type": "ptp", "ipMasq": false, "mtu": 1500,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "${CIDRS[$node]}"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
CNI
  for other in "${!IPS[@]}"; do
    [ "$other" = "$node" ] || podman exec "$node" ip route replace "${CIDRS[$other]}" via "${IPS[$other]}"
  done
}

up() {
  local image started=$SECONDS
  image="$("$ROOT/hack/kind/node-image.sh" | tail -n 1)"
  kind get clusters 2>/dev/null | grep -qx "$NAME" && down
  make_network
  cat >"$STATE/config.yaml" <<CFG
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
networking: {disableDefaultCNI: true, podSubnet: 10.244.0.0/16}
nodes: [{role: control-plane}, {role: worker}, {role: worker}]
CFG
  log "creating cluster $NAME (3 nodes, $image)"
  kind create cluster --name "$NAME" --image "$image" --config "$STATE/config.yaml" \
    --kubeconfig "$KUBECONFIG_OUT" --retain >&2
  kubectl --kubeconfig "$KUBECONFIG_OUT" config set-cluster "kind-$NAME" \
    --server "https://${IPS[$NAME-control-plane]}:6443" >/dev/null
  export KUBECONFIG="$KUBECONFIG_OUT"
  declare -gA CIDRS=()
  for node in "${!IPS[@]}"; do CIDRS[$node]="$(kubectl get node "$node" -o jsonpath='{.spec.podCIDR}')"; done
  for node in "${!IPS[@]}"; do node_cni "$node"; done
  kubectl wait --for=condition=Ready node --all --timeout=180s >&2
  kubectl -n kube-system rollout status deployment/coredns --timeout=180s >&2
  log "cluster $NAME ready in $((SECONDS - started)) s"
  echo "export KUBECONFIG=$KUBECONFIG_OUT"
}

down() {
  log "removing cluster $NAME"
  kind delete cluster --name "$NAME" --kubeconfig "$KUBECONFIG_OUT" >&2 || true
  # kind removes its volumes with the nodes; a node it never made leaves none.
  rm -f "$CACHE/containers/cni/$NETWORK.conflist"
  rm -rf "/var/lib/cni/networks/$NETWORK"
  ip link del "$BRIDGE" 2>/dev/null || true
}

load() {  # load ARCHIVE...: images into every node, as `kind load image-archive` (no registry)
  local archive
  for archive in "$@"; do kind load image-archive "$archive" --name "$NAME" >&2; done
}

setup_env
case "${1:-up}" in
  up) up ;;
  down) down ;;
  load) shift; load "$@" ;;
  *) echo "usage: $0 [up|down|load ARCHIVE...]" >&2; exit 2 ;;
esac
