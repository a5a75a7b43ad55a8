#!/usr/bin/env bash
# A real local control plane, in the spirit of controller-runtime's envtest:
# etcd + kube-apiserver + kube-controller-manager (namespace and garbage collection
# controllers) on loopback, with generated certificates and a client-cert admin identity.
#
#   hack/controlplane.sh start [--dir DIR] [--port PORT]   # idempotent; reuses a running one
#   hack/controlplane.sh start --bind-address IP           # the API server listens on IP (its
#       certificate names it; DIR/kubeconfig points there) instead of 127.0.0.1, such as the
#       test machines' bridge (hack/machines.sh); etcd stays on loopback.
#   hack/controlplane.sh start --workloads                 # also what Pods need (hack/node.sh):
#       the Deployment, ReplicaSet, ServiceAccount, node-lifecycle, disruption, pod GC and
#       root-CA controllers, and kube-scheduler. A later plain `start` keeps them; `stop`
#       stops them.
#   hack/controlplane.sh stop  [--dir DIR]                 # no processes left behind
#   hack/controlplane.sh status [--dir DIR]
#   hack/controlplane.sh env [--dir DIR]     # prints exports: KUBECONFIG, and PATH with the
#                                            # matching kubectl first; use with eval "$(...)"
#   hack/controlplane.sh reset [--dir DIR]   # stops it and deletes its etcd data (all objects)
#   hack/controlplane.sh restart-apiserver [--dir DIR]  # stops kube-apiserver alone and starts it
#       again on the same etcd data; returns once it is ready (fault tests)
#   hack/controlplane.sh compact-etcd [--dir DIR]       # compacts etcd past every revision the API
#       server's watches have seen, so its clients get 410 Gone (fault tests); prints the revision
#
# DIR holds certificates, etcd data, logs, pid files and DIR/kubeconfig.
# PORT is the apiserver's secure port; etcd uses PORT+1 (client) and PORT+2 (peer).
set -euo pipefail
HACK="$(cd "$(dirname "$0")" && pwd)"
source "$HACK/lib.sh"

cmd="${1:-}"; shift || true
dir="$BERTH_STATE/controlplane"
port="${BERTH_APISERVER_PORT:-46443}"
workloads=0
bind=127.0.0.1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --workloads) workloads=1; shift ;;
    --dir) dir="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --bind-address) bind="$2"; shift 2 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
pki="$dir/pki"

alive() { [[ -f "$dir/$1.pid" ]] && kill -0 "$(cat "$dir/$1.pid")" 2>/dev/null; }

apiserver_ready() {
  [[ -f "$dir/port" ]] || return 1
  curl -sf --max-time 2 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    "https://$bind:$(cat "$dir/port")/readyz" >/dev/null 2>&1
}

gen_certs() {
  [[ -f "$pki/admin.crt" ]] && { serving_cert_names_bind_address; return; }
  mkdir -p "$pki"
  (
    cd "$pki"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \
      -subj "/CN=berth-local-ca" 2>/dev/null
  )
  serving_cert
  (
    cd "$pki"
    openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr \
      -subj "/O=system:masters/CN=berth-admin" 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' > client.ext
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out admin.crt \
      -days 3650 -extfile client.ext 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    rm -f ./*.csr
  )
}

# The API server's serving certificate: loopback, the in-cluster names, and the bind address.
serving_cert() {
  local extra=""
  [[ "$bind" == 127.0.0.1 ]] || extra=",IP:$bind"
  (
    cd "$pki"
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr \
      -subj "/CN=kube-apiserver" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.0.0.1%s\nextendedKeyUsage=serverAuth\n' "$extra" > apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt \
      -days 3650 -extfile apiserver.ext 2>/dev/null
    rm -f apiserver.csr
  )
}

# A directory first used on loopback and now with --bind-address gets a certificate naming it.
serving_cert_names_bind_address() {
  [[ "$bind" == 127.0.0.1 ]] && return
  openssl x509 -in "$pki/apiserver.crt" -noout -ext subjectAltName 2>/dev/null | grep -q "IP Address:$bind\(,\|$\)" ||
    serving_cert
}

# client_cert NAME SUBJECT: a client certificate signed by the control plane's CA, made once.
client_cert() {
  local name="$1" subject="$2"
  [[ -f "$pki/$name.crt" ]] && return
  (
    cd "$pki"
    openssl req -newkey rsa:2048 -nodes -keyout "$name.key" -out "$name.csr" -subj "$subject" 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' > client.ext
    openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$name.crt" \
      -days 3650 -extfile client.ext 2>/dev/null
    rm -f "$name.csr"
  )
}

write_kubeconfig() {
  cat > "$dir/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: berth-local
  cluster:
    server: https://$bind:$port
    certificate-authority-data: $(base64 -w0 < "$pki/ca.crt")
users:
- name: berth-admin
  user:
    client-certificate-data: $(base64 -w0 < "$pki/admin.crt")
    client-key-data: $(base64 -w0 < "$pki/admin.key")
contexts:
- name: berth-local
  context: {cluster: berth-local, user: berth-admin}
current-context: berth-local
KC
  chmod 600 "$dir/kubeconfig"
}

wait_for() { # name seconds check...
  local name="$1" secs="$2"; shift 2
  local deadline=$((SECONDS + secs))
  until "$@"; do
    if ((SECONDS > deadline)); then
      log "$name did not become ready in ${secs}s; last log lines:"
      tail -n 30 "$dir/$name.log" >&2 || true
      return 1
    fi
    sleep 0.2
  done
}

# wait_for, but gives up at once when process PID has exited (a port it could not bind, say).
wait_for_process() { # name pid seconds check...
  local name="$1" pid="$2" secs="$3"; shift 3
  local deadline=$((SECONDS + secs))
  until "$@"; do
    if ! kill -0 "$pid" 2>/dev/null || ((SECONDS > deadline)); then
      log "$name did not become ready (pid $pid $(kill -0 "$pid" 2>/dev/null && echo running || echo exited)); last log lines:"
      tail -n 5 "$dir/$name.log" >&2 || true
      return 1
    fi
    sleep 0.2
  done
}

# The control plane's ports lie in the kernel's ephemeral range, where an outgoing
# connection can take one first (seen: etcd's peer port "already in use" by a client
# socket). As root, reserve them so the kernel never hands them out: the API server's,
# etcd's client and peer ports, and the side port compact-etcd runs etcd on for a moment
# (seen: that side etcd refused "address already in use", leaving etcd down).
reserve_ports() {
  local file=/proc/sys/net/ipv4/ip_local_reserved_ports wanted current
  [[ -w "$file" ]] || return 0
  wanted="$port-$((port + 3))"
  current="$(cat "$file")"
  case ",$current," in *",$wanted,"*) return 0 ;; esac
  echo "${current:+$current,}$wanted" > "$file" 2>/dev/null || log "could not reserve ports $wanted (continuing)"
}

# The API server's flags. A running one started with other flags (an older checkout of
# this script) is restarted on its etcd data.
apiserver_args() {
  local etcd_port="$1"
  echo --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address "$bind" --advertise-address "$bind" --secure-port "$port" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" \
    --service-account-issuer https://kubernetes.default.svc \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-cluster-ip-range 10.0.0.0/24 \
    --authorization-mode Node,RBAC \
    --enable-admission-plugins NodeRestriction \
    --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP,Hostname \
    --allow-privileged=true \
    --cert-dir "$dir/apiserver-certs" \
    --v=1
}

start() {
  reserve_ports
  local etcd_port=$((port + 1)) peer_port=$((port + 2))
  if alive kube-apiserver && apiserver_ready; then
    if [[ "$(cat "$dir/kube-apiserver.args" 2>/dev/null)" == "$(apiserver_args "$etcd_port")" ]]; then
      log "control plane already running on port $(cat "$dir/port") (dir $dir)"
      start_controller_manager
      return
    fi
    log "restarting the API server with this checkout's flags"
    stop_one kube-apiserver
  fi
  alive etcd || stop_all quiet
  local bins
  bins="$("$HACK/build-control-plane.sh" | tail -n 1)"
  local etcd="$bins/etcd-$ETCD_VERSION/etcd" kbin="$bins/kube-$KUBE_VERSION"
  gen_certs
  client_cert apiserver-kubelet-client "/CN=kube-apiserver-kubelet-client"
  echo "$port" > "$dir/port"
  write_kubeconfig
  if alive etcd; then start_apiserver "$kbin"; start_controller_manager; return; fi
  setsid "$etcd" --name berth-local --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "berth-local=http://127.0.0.1:$peer_port" \
    --unsafe-no-fsync --quota-backend-bytes 4294967296 --log-level warn \
    > "$dir/etcd.log" 2>&1 < /dev/null &
  echo $! > "$dir/etcd.pid"
  wait_for etcd 30 curl -sf --max-time 1 "http://127.0.0.1:$etcd_port/health" -o /dev/null
  start_apiserver "$kbin"
  start_controller_manager
  log "control plane ready: KUBECONFIG=$dir/kubeconfig"
}

start_apiserver() {
  local kbin="$1" args
  args="$(apiserver_args $((port + 1)))"
  # shellcheck disable=SC2086 # the flags hold no spaces (paths under BERTH_STATE neither)
  setsid "$kbin/kube-apiserver" $args > "$dir/kube-apiserver.log" 2>&1 < /dev/null &
  echo $! > "$dir/kube-apiserver.pid"
  echo "$args" > "$dir/kube-apiserver.args"
  wait_for kube-apiserver 90 apiserver_ready
}

# The controllers the tests need; with --workloads (remembered until stop) also those that
# turn a Deployment into scheduled, Ready Pods.
BASE_CONTROLLERS=namespace-controller,garbage-collector-controller
WORKLOAD_CONTROLLERS=$BASE_CONTROLLERS,serviceaccount-controller,deployment-controller,replicaset-controller,node-lifecycle-controller,disruption-controller,root-ca-certificate-publisher-controller,pod-garbage-collector-controller

start_controller_manager() {
  ((workloads)) && touch "$dir/workloads"
  local controllers=$BASE_CONTROLLERS
  [[ -f "$dir/workloads" ]] && controllers=$WORKLOAD_CONTROLLERS
  if alive kube-controller-manager; then
    [[ "$(cat "$dir/kube-controller-manager.controllers" 2>/dev/null)" == "$controllers" ]] && { start_scheduler; return; }
    stop_one kube-controller-manager
  fi
  local bins
  bins="$("$HACK/build-control-plane.sh" | tail -n 1)"
  echo "$controllers" > "$dir/kube-controller-manager.controllers"
  setsid "$bins/kube-$KUBE_VERSION/kube-controller-manager" \
    --kubeconfig "$dir/kubeconfig" \
    --controllers "$controllers" \
    --leader-elect=false --secure-port 0 \
    --service-account-private-key-file "$pki/sa.key" \
    --root-ca-file "$pki/ca.crt" \
    --v=1 \
    > "$dir/kube-controller-manager.log" 2>&1 < /dev/null &
  echo $! > "$dir/kube-controller-manager.pid"
  sleep 0.5
  if ! alive kube-controller-manager; then
    log "kube-controller-manager exited; last log lines:"
    tail -n 20 "$dir/kube-controller-manager.log" >&2
    return 1
  fi
  start_scheduler
}

start_scheduler() {
  [[ -f "$dir/workloads" ]] || return 0
  alive kube-scheduler && return
  local bins
  bins="$("$HACK/build-control-plane.sh" --node | tail -n 1)"
  setsid "$bins/kube-$KUBE_VERSION/kube-scheduler" \
    --kubeconfig "$dir/kubeconfig" --authentication-kubeconfig "$dir/kubeconfig" \
    --authorization-kubeconfig "$dir/kubeconfig" \
    --leader-elect=false --secure-port 0 --v=1 \
    > "$dir/kube-scheduler.log" 2>&1 < /dev/null &
  echo $! > "$dir/kube-scheduler.pid"
  sleep 0.5
  if ! alive kube-scheduler; then
    log "kube-scheduler exited; last log lines:"
    tail -n 20 "$dir/kube-scheduler.log" >&2
    return 1
  fi
}

stop_one() {
  local name="$1"
  [[ -f "$dir/$name.pid" ]] || return 0
  local pid; pid="$(cat "$dir/$name.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/$name.pid"
}

stop_all() {
  stop_one kube-scheduler
  stop_one kube-controller-manager
  rm -f "$dir/kube-controller-manager.controllers" "$dir/workloads"
  stop_one kube-apiserver
  stop_one etcd
  [[ "${1:-}" == quiet ]] || log "control plane in $dir stopped"
}

# Restarts one part of a running control plane on its data, the others left running.
restart_apiserver() {
  alive etcd || { log "etcd is not running in $dir: use start"; return 1; }
  stop_one kube-apiserver
  local bins
  bins="$("$HACK/build-control-plane.sh" | tail -n 1)"
  start_apiserver "$bins/kube-$KUBE_VERSION"
  log "kube-apiserver restarted on port $port"
}

# Compacts etcd past every revision the API server's watches on etcd have seen: etcd is
# stopped, started alone on a side port (the API server cannot reach it there) to write
# keys outside the API server's prefix and compact at the new revision, then started again
# as before. Each watch the API server makes again starts from a compacted revision, so
# every watch cache lists again and ends its clients' watches, and a client resuming from
# a resourceVersion it held gets 410 Gone. Prints the compacted revision.
compact_etcd() {
  alive etcd || { log "etcd is not running in $dir: use start"; return 1; }
  reserve_ports
  local args=() side_args=() arg client_url side_url revision="" side_pid failed=""
  mapfile -d '' -t args < "/proc/$(cat "$dir/etcd.pid")/cmdline"
  client_url="http://127.0.0.1:$((port + 1))"
  side_url="http://127.0.0.1:$((port + 3))"
  for arg in "${args[@]}"; do side_args+=("${arg//$client_url/$side_url}"); done
  stop_one etcd
  setsid "${side_args[@]}" >> "$dir/etcd.log" 2>&1 < /dev/null &
  side_pid=$!
  # Whatever fails from here on, etcd is started again as it was before this returns.
  if wait_for_process etcd "$side_pid" 30 curl -sf --max-time 1 "$side_url/health" -o /dev/null; then
    revision="$(side_put_revisions "$side_url")" || true
    if [[ ! "$revision" =~ ^[0-9]+$ ]]; then
      failed="the side etcd on $side_url gave no revision"
    elif ! curl -sf --max-time 30 "$side_url/v3/kv/compaction" \
      -d "{\"revision\":\"$revision\",\"physical\":true}" >/dev/null; then
      failed="the side etcd on $side_url refused the compaction at revision $revision"
    fi
  else
    failed="the side etcd on $side_url did not start"
  fi
  kill -TERM "$side_pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$side_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$side_pid" 2>/dev/null || true
  start_etcd_again "$client_url" "${args[@]}"
  wait_for kube-apiserver 60 apiserver_ready
  if [[ -n "$failed" ]]; then log "$failed; etcd is running again, not compacted"; return 1; fi
  log "etcd compacted at revision $revision"
  echo "$revision"
}

# Writes 20 keys outside the API server's prefix on the side etcd; prints the last revision.
side_put_revisions() {
  local side_url="$1" key revision=""
  key="$(printf '/berth-fault/revision' | base64 -w0)"
  for i in $(seq 1 20); do
    revision="$(curl -sf --max-time 5 "$side_url/v3/kv/put" \
      -d "{\"key\":\"$key\",\"value\":\"$(printf '%s' "$i" | base64 -w0)\"}" |
      sed -n 's/.*"revision":"\([0-9]*\)".*/\1/p')"
  done
  echo "$revision"
}

# Starts etcd with its own command line again. A port of it can be held for a moment by a
# socket that is closing, so a start that exits at once is tried again (3 times).
start_etcd_again() {
  local client_url="$1"; shift
  for attempt in 1 2 3; do
    setsid "$@" >> "$dir/etcd.log" 2>&1 < /dev/null &
    echo $! > "$dir/etcd.pid"
    if wait_for_process etcd "$!" 30 curl -sf --max-time 1 "$client_url/health" -o /dev/null; then return 0; fi
    stop_one etcd
    log "etcd did not come back (attempt $attempt of 3)"
    sleep 1
  done
  return 1
}

case "$cmd" in
  start) start ;;
  restart-apiserver) restart_apiserver ;;
  compact-etcd) compact_etcd ;;
  stop) stop_all ;;
  env)
    printf 'export KUBECONFIG=%q\n' "$dir/kubeconfig"
    printf 'export PATH=%q:"$PATH"\n' "$KUBE_BIN_DIR"
    ;;
  reset)
    stop_all quiet
    rm -rf "$dir/etcd" "$dir/apiserver-certs" "$dir"/*.log
    log "control plane in $dir stopped and its data deleted (certificates kept)"
    ;;
  status)
    if alive kube-apiserver && apiserver_ready; then echo "running: KUBECONFIG=$dir/kubeconfig"; else echo "stopped"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status|env|reset|restart-apiserver|compact-etcd [--dir DIR] [--port PORT]" >&2; exit 2 ;;
esac
