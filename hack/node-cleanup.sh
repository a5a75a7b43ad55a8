# How hack/node.sh stops a node, or cleans up after one that crashed: every step works on
# what is there and skips what is not. Sourced after hack/node-lib.sh.
stop_pid() { # NAME: TERM, then KILL after 10 s
  local pid
  [[ -f "$RUN/$1.pid" ]] || return 0
  pid="$(cat "$RUN/$1.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do alive_pid "$1" || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$RUN/$1.pid"
}

# The node's containers: killed through containerd when it answers, and every process
# left in the node's cgroups (a crash leaves shims and containers running) killed after.
stop_containers() {
  local id
  if alive_pid containerd; then
    for id in $(ctr_node tasks ls -q 2>/dev/null); do ctr_node tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true; done
    for id in $(ctr_node tasks ls -q 2>/dev/null); do ctr_node tasks delete -f "$id" >/dev/null 2>&1 || true; done
    for id in $(ctr_node containers ls -q 2>/dev/null); do ctr_node containers delete "$id" >/dev/null 2>&1 || true; done
  fi
  stop_pid containerd
  local pids
  for _ in 1 2 3; do
    pids="$(for h in $(cgroup_hierarchies); do
      [[ -d "$h$CGROUP_ROOT" ]] && find "$h$CGROUP_ROOT" -name cgroup.procs -exec cat {} + 2>/dev/null
    done | sort -u | tr '\n' ' ' || true)"
    # shims are outside the pod cgroups: found by the containerd socket they serve
    pids+=" $(pgrep -f "containerd-shim-runc-v2 .*-address $CONTAINERD_SOCK" || true)"
    [[ -z "${pids// /}" ]] && break
    # shellcheck disable=SC2086 # a list of pids
    kill -KILL $pids 2>/dev/null || true
    sleep 0.5
  done
}

# Network namespaces of this node's Pods: those holding an address of its subnet.
remove_pod_netns() {
  local ns
  for ns in /run/netns/cni-*; do
    [[ -e "$ns" ]] || continue
    if ip netns exec "${ns##*/}" ip -4 -o addr show 2>/dev/null | grep -q " $NODE_PREFIX\."; then
      umount "$ns" 2>/dev/null || umount -l "$ns" 2>/dev/null || true
      rm -f "$ns"
    fi
  done
}

unmount_under() { # DIR: every mount below it, deepest first
  local target
  for target in $(findmnt -rn -o TARGET | grep "^$1/" | sort -r || true); do
    umount "$target" 2>/dev/null || umount -l "$target" 2>/dev/null || true
  done
}

remove_cgroups() {
  local hierarchy
  for hierarchy in $(cgroup_hierarchies); do
    [[ -d "$hierarchy$CGROUP_ROOT" ]] || continue
    find "$hierarchy$CGROUP_ROOT" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}

remove_network() {
  local rule
  while read -r rule; do
    eval "iptables -w -t ${rule%% *} -D ${rule#* }" 2>/dev/null || true
  done < <(for t in filter nat; do
    iptables-save -t "$t" | grep -- "--comment \"\?$RULE_TAG\"\?" | sed "s/^-A /$t /" || true
  done)
  ip link del "$NODE_BRIDGE" 2>/dev/null || true
  rm -f /var/lib/cni/results/berth-node-* 2>/dev/null || true
}

remove_new_kube_chains() { # iptables|ip6tables SNAPSHOT
  local cmd="$1" snapshot="$2" table chain rule
  for table in mangle nat filter; do
    for chain in $("$cmd-save" -t "$table" 2>/dev/null | sed -n 's/^:\(KUBE-[^ ]*\).*/\1/p'); do
      grep -qx "$chain" "$snapshot" 2>/dev/null && continue
      # the rules that jump to it first, then the chain
      while read -r rule; do
        eval "$cmd -w -t $table -D ${rule#-A }" 2>/dev/null || true
      done < <("$cmd-save" -t "$table" | grep -- "^-A .* -j $chain\$" || true)
      "$cmd" -w -t "$table" -F "$chain" 2>/dev/null || true
      "$cmd" -w -t "$table" -X "$chain" 2>/dev/null || true
    done
  done
}

restore_host_state() {
  local before="$NODE_DIR/host-before" key path chain table
  [[ -d "$before" ]] || return 0
  for key in "${SYSCTLS[@]}"; do
    [[ -f "$before/sysctl.$key" ]] && sysctl -qw "$key=$(cat "$before/sysctl.$key")" || true
  done
  # kubelet's own chains (its canary, KUBE-FIREWALL), when they were not there before
  remove_new_kube_chains iptables "$before/kube-chains"
  remove_new_kube_chains ip6tables "$before/kube-chains6"
  if [[ -f "$before/created-paths" ]]; then
    while read -r path; do
      unmount_under "$path"
      rm -rf "$path"
    done < "$before/created-paths"
  fi
  rm -rf "$before"
}

stop_node() {
  stop_pid kubelet
  stop_containers
  remove_pod_netns
  unmount_under "$RUN"
  remove_cgroups
  remove_network
  restore_host_state
  rm -rf "$RUN"
  # Its Node object goes too: a Node left NotReady would hold its Pods until evicted.
  if [[ -f "$CP_DIR/kubeconfig" ]]; then
    kubectl_cp delete node "$NODE_NAME" --ignore-not-found --wait=false --request-timeout 5s >/dev/null 2>&1 || true
  fi
  [[ "${1:-}" == quiet ]] || log "node $NODE_NAME stopped"
}
