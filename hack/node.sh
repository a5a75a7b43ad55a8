#!/usr/bin/env bash
# A real Kubernetes node beside the local control plane (hack/controlplane.sh), for running
# Berth the way it is installed: Deployments from its image, with kubelet and containerd.
# Not part of `npm start`; `npm run test:cluster` uses it.
#
#   hack/node.sh start                 # idempotent; cleans a stale node (a crash) first
#   hack/node.sh load-image IMAGE...   # copy images from the Docker engine into the node
#   hack/node.sh stop                  # nothing left behind (processes, mounts, network
#                                      # namespaces, the bridge, iptables rules, cgroups,
#                                      # kubelet's sysctl and /var changes)
#   hack/node.sh status
#
# The node: kubelet and kube-scheduler of the API server's version (built by
# hack/build-control-plane.sh --node), the control plane's controllers for workloads, a
# containerd of its own (config, root, state and socket under BERTH_STATE/node, beside the
# Docker engine's, never touching it), a CNI bridge in a private subnet only this node
# uses (BERTH_NODE_SUBNET, a /24, default 10.217.0.0/24), a pause image built here, and a
# client certificate from the control plane's CA (group system:nodes). Pods reach the API
# server at the `kubernetes` Service address (there is no kube-proxy: one DNAT rule from
# the bridge to the loopback API server stands in for it).
set -euo pipefail
HACK="$(cd "$(dirname "$0")" && pwd)"
source "$HACK/lib.sh"
source "$HACK/node-lib.sh"
source "$HACK/node-cleanup.sh"

start() {
  if node_running; then
    log "node $NODE_NAME already running (dir $NODE_DIR)"
    return
  fi
  if [[ -e "$NODE_DIR/run" || -e "$NODE_DIR/host-before" ]]; then
    log "cleaning what a node that did not stop cleanly left behind"
    stop_node quiet
  fi
  install_node_packages
  "$HACK/controlplane.sh" start --workloads
  local bins
  bins="$("$HACK/build-control-plane.sh" --node | tail -n 1)"
  check_subnet_free
  mkdir -p "$RUN" "$NODE_DIR/logs"
  record_host_state
  make_network
  make_cgroups
  start_containerd
  import_pause_image
  node_identity
  start_kubelet "$bins/kube-$KUBE_VERSION/kubelet"
  log "node $NODE_NAME Ready (pods in $NODE_SUBNET, containerd $CONTAINERD_SOCK)"
}

load_image() {
  node_running || { log "the node is not running: hack/node.sh start"; exit 1; }
  local image
  for image in "$@"; do
    log "importing $image into the node's containerd"
    docker_cli save "$image" | ctr_node images import - >/dev/null
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop_node ;;
  load-image)
    shift
    (($#)) || { echo "usage: $0 load-image IMAGE..." >&2; exit 2; }
    load_image "$@"
    ;;
  status)
    if node_running; then echo "running: node $NODE_NAME"; else echo "stopped"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status|load-image IMAGE..." >&2; exit 2 ;;
esac
