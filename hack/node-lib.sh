# The parts of hack/node.sh: its settings and what it starts (node-cleanup.sh undoes it). Sourced.
NODE_NAME="${BERTH_NODE_NAME:-berth-local-node}"
NODE_DIR="$BERTH_STATE/node"
# Everything a running node owns lives under RUN; stop removes it (logs stay beside it).
RUN="$NODE_DIR/run"
CP_DIR="$BERTH_STATE/controlplane"
PKI="$CP_DIR/pki"
NODE_SUBNET="${BERTH_NODE_SUBNET:-10.217.0.0/24}"
NODE_PREFIX="${NODE_SUBNET%.*/*}"          # 10.217.0
NODE_IP="$NODE_PREFIX.1"                    # the bridge's address: the node's InternalIP
NODE_BRIDGE="${BERTH_NODE_BRIDGE:-berthnode0}"
API_PORT="${BERTH_APISERVER_PORT:-46443}"
KUBELET_PORT=$((API_PORT + 3))              # etcd has +1 and +2
CGROUP_ROOT=berth-node
CONTAINERD_SOCK="$RUN/containerd/containerd.sock"
PAUSE_IMAGE=berth.local/pause:1
# Comment on every iptables rule this node adds, so stop removes exactly those.
RULE_TAG="berth-node:$NODE_BRIDGE"
# Kernel settings kubelet sets at start (and the bridge needs); restored by stop.
SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward)
# Host paths kubelet and containerd's CRI create outside their configured directories;
# removed by stop when they were not there before start.
HOST_PATHS=(/var/lib/kubelet /var/log/pods /var/log/containers /var/lib/cni /run/netns)

DOCKER_CLI="${BERTH_DOCKER_CLI:-/usr/bin/docker}"
[[ -x "$DOCKER_CLI" ]] || DOCKER_CLI="$(command -v docker)"
docker_cli() { DOCKER_HOST="${DOCKER_HOST:-unix:///var/run/docker.sock}" "$DOCKER_CLI" "$@"; }
ctr_node() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }
kubectl_cp() { "$KUBE_BIN_DIR/kubectl" --kubeconfig "$CP_DIR/kubeconfig" "$@"; }

# A killed process whose parent has not reaped it yet counts as gone.
alive_pid() {
  local pid
  [[ -f "$RUN/$1.pid" ]] && pid="$(cat "$RUN/$1.pid")" && kill -0 "$pid" 2>/dev/null &&
    [[ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" != Z ]]
}
node_running() { alive_pid kubelet && alive_pid containerd; }

install_node_packages() {
  local need=()
  command -v containerd >/dev/null || need+=(containerd)
  [[ -x /usr/lib/cni/bridge ]] || need+=(containernetworking-plugins)
  command -v iptables >/dev/null || need+=(iptables)
  command -v pgrep >/dev/null || need+=(procps)
  if ((${#need[@]})); then
    log "installing Debian packages for the node: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
}

check_subnet_free() {
  if ip -4 route show | grep -v "dev $NODE_BRIDGE" | grep -q "^$NODE_PREFIX\."; then
    log "the node's subnet $NODE_SUBNET is already routed on this machine; set BERTH_NODE_SUBNET"
    exit 1
  fi
  if ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
    log "interface $NODE_BRIDGE exists and no stopped node of $NODE_DIR left it; set BERTH_NODE_BRIDGE"
    exit 1
  fi
}

# What start changes on the host, so stop can put it back.
record_host_state() {
  local before="$NODE_DIR/host-before" key path
  mkdir -p "$before"
  for key in "${SYSCTLS[@]}"; do sysctl -n "$key" > "$before/sysctl.$key"; done
  for path in "${HOST_PATHS[@]}"; do
    [[ -e "$path" ]] || echo "$path" >> "$before/created-paths"
  done
  iptables-save | sed -n 's/^:\(KUBE-[^ ]*\).*/\1/p' | sort -u > "$before/kube-chains"
  ip6tables-save 2>/dev/null | sed -n 's/^:\(KUBE-[^ ]*\).*/\1/p' | sort -u > "$before/kube-chains6"
}

iptables_rule() { # -A|-D TABLE CHAIN RULE...
  local op="$1" table="$2" chain="$3"
  shift 3
  iptables -w -t "$table" "$op" "$chain" "$@" -m comment --comment "$RULE_TAG"
}

make_network() {
  ip link add "$NODE_BRIDGE" type bridge
  ip addr add "$NODE_IP/${NODE_SUBNET#*/}" dev "$NODE_BRIDGE"
  ip link set "$NODE_BRIDGE" up
  # The Docker engine's FORWARD policy drops what it does not know: accept the bridge's own.
  iptables_rule -I filter FORWARD -i "$NODE_BRIDGE" -j ACCEPT
  iptables_rule -I filter FORWARD -o "$NODE_BRIDGE" -j ACCEPT
  # The `kubernetes` Service (10.0.0.1:443) is the API server on loopback: let Pods on the
  # bridge reach it there.
  sysctl -qw "net.ipv4.conf.$NODE_BRIDGE.route_localnet=1"
  iptables_rule -A nat PREROUTING -i "$NODE_BRIDGE" -d 10.0.0.1/32 -p tcp --dport 443 \
    -j DNAT --to-destination "127.0.0.1:$API_PORT"
  mkdir -p "$RUN/cni/conf" "$RUN/cni/ipam"
  cat > "$RUN/cni/conf/10-berth.conflist" <<CNI
{
  "cniVersion": "1.0.0",
  "name": "berth-node",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$NODE_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "dataDir": "$RUN/cni/ipam",
        "ranges": [[{ "subnet": "$NODE_SUBNET", "gateway": "$NODE_IP" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "loopback" }
  ]
}
CNI
}

# The cgroup hierarchies: the unified one (cgroup v2), or every v1 controller's mount.
cgroup_hierarchies() {
  if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then echo /sys/fs/cgroup/; return; fi
  local hierarchy
  for hierarchy in /sys/fs/cgroup/*/; do
    [[ -f "$hierarchy/cgroup.procs" ]] && echo "$hierarchy"
  done
}

# kubelet's cgroup root, in every hierarchy (a v1 cpuset needs its parent's values).
make_cgroups() {
  local hierarchy
  for hierarchy in $(cgroup_hierarchies); do
    mkdir -p "$hierarchy$CGROUP_ROOT"
    if [[ -f "$hierarchy/cpuset.cpus" ]]; then
      cat "$hierarchy/cpuset.cpus" > "$hierarchy$CGROUP_ROOT/cpuset.cpus"
      cat "$hierarchy/cpuset.mems" > "$hierarchy$CGROUP_ROOT/cpuset.mems"
    fi
  done
}

start_containerd() {
  local d="$RUN/containerd"
  mkdir -p "$d/root" "$d/state"
  cat > "$d/config.toml" <<TOML
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$d/containerd.ttrpc.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # root here lacks CAP_SYS_RESOURCE: without this every sandbox fails in runc with
  # "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$d/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$RUN/cni/conf"
TOML
  setsid containerd --config "$d/config.toml" > "$NODE_DIR/logs/containerd.log" 2>&1 < /dev/null &
  echo $! > "$RUN/containerd.pid"
  wait_until containerd 30 ctr_node version
}

wait_until() { # NAME SECONDS COMMAND...
  local name="$1" deadline=$((SECONDS + $2))
  shift 2
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS > deadline)) || ! alive_pid "$name"; then
      log "$name did not become ready; last log lines:"
      tail -n 30 "$NODE_DIR/logs/$name.log" >&2 || true
      return 1
    fi
    sleep 0.2
  done
}

# The sandbox image: a static program that sleeps until told to stop and reaps orphans,
# packed as a docker-archive and imported (nothing can be pulled).
import_pause_image() {
  local src="$BERTH_CACHE/build/pause-1" out="$BERTH_BIN_DIR/pause-1"
  if [[ ! -f "$out/image.tar" ]]; then
    mkdir -p "$src" "$out/image/rootfs"
    cat > "$src/go.mod" <<'MOD'
module berth.dev/hack/pause
go 1.24.0
MOD
    cat > "$src/main.go" <<'GO'
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
GO
    (cd "$src" && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$out/image/rootfs/pause" .)
    local layer config
    tar -C "$out/image/rootfs" --owner=0 --group=0 --mtime=@0 -cf "$out/image/layer.tar" pause
    layer="$(sha256sum "$out/image/layer.tar" | cut -d' ' -f1)"
    printf '{"architecture":"%s","os":"linux","config":{"Entrypoint":["/pause"],"User":"65535:65535"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
      "$(go env GOARCH)" "$layer" > "$out/image/config.json"
    config="$(sha256sum "$out/image/config.json" | cut -d' ' -f1)"
    mv "$out/image/config.json" "$out/image/$config.json"
    printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["layer.tar"]}]' "$config" "$PAUSE_IMAGE" \
      > "$out/image/manifest.json"
    tar -C "$out/image" -cf "$out/image.tar" manifest.json "$config.json" layer.tar
  fi
  ctr_node images import "$out/image.tar" >/dev/null
}

# The node's identity: system:node:<name> in system:nodes, signed by the control plane's CA.
node_identity() {
  local d="$RUN/kubelet"
  mkdir -p "$d"
  (
    cd "$d"
    openssl req -newkey rsa:2048 -nodes -keyout node.key -out node.csr \
      -subj "/O=system:nodes/CN=system:node:$NODE_NAME" 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' > client.ext
    openssl x509 -req -in node.csr -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
      -CAserial "$d/ca.srl" -out node.crt -days 30 -extfile client.ext 2>/dev/null
    rm -f node.csr client.ext
  )
  cat > "$d/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: berth-local
  cluster: {server: "https://127.0.0.1:$API_PORT", certificate-authority: "$PKI/ca.crt"}
users:
- name: node
  user: {client-certificate: "$d/node.crt", client-key: "$d/node.key"}
contexts:
- name: node
  context: {cluster: berth-local, user: node}
current-context: node
KC
  # What `kubectl logs/exec` need: the API server's kubelet client may use kubelet's API.
  kubectl_cp create clusterrolebinding berth-apiserver-kubelet-client --clusterrole system:kubelet-api-admin \
    --user kube-apiserver-kubelet-client --dry-run=client -o yaml | kubectl_cp apply -f - >/dev/null
}

start_kubelet() {
  local kubelet="$1" d="$RUN/kubelet"
  cat > "$d/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $KUBELET_PORT
healthzPort: 0
readOnlyPort: 0
# This kernel has cgroup v1 only, which kubelet 1.31+ refuses unless told.
failCgroupV1: false
failSwapOn: false
cgroupDriver: cgroupfs
cgroupRoot: /$CGROUP_ROOT
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
podLogsDir: $RUN/pod-logs
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
# A shared test machine: disk and image pressure must not evict Berth's Pods.
evictionHard: {memory.available: 50Mi, nodefs.available: 1%, imagefs.available: 1%}
imageGCHighThresholdPercent: 100
YAML
  setsid "$kubelet" --config "$d/config.yaml" --kubeconfig "$d/kubeconfig" --root-dir "$d/root" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --v=1 \
    > "$NODE_DIR/logs/kubelet.log" 2>&1 < /dev/null &
  echo $! > "$RUN/kubelet.pid"
  wait_until kubelet 120 kubectl_cp get node "$NODE_NAME"
  kubectl_cp wait --for condition=Ready --timeout 120s "node/$NODE_NAME" >/dev/null
}
