#!/usr/bin/env bash
# Test machines that are really apart: network namespaces on a private test bridge, each
# with its own address and its own Docker engine, for the fault matrix (test/faults).
#
#   hack/machines.sh start N        N machines (1..50); a stale set from a crash is removed first
#   hack/machines.sh stop           remove every machine, the bridge, the engines, their data
#   hack/machines.sh status         list the machines and whether their engines answer
#   hack/machines.sh env            print the settings the fault suite reads (KEY=VALUE lines)
#
# Faults, on machine I (1..N), for the scenarios:
#   dockerd-kill I | dockerd-start I | dockerd-freeze I | dockerd-thaw I
#   cut I PORT      drop the machine's traffic with the bridge's host address on TCP PORT (both ways)
#   heal I PORT     undo cut
#   fill I BYTES    fill the engine's data root, leaving about BYTES free
#   free I          remove what fill wrote
#
# Layout: bridge berthfx with the host at 10.213.7.1/24 (BERTH_MACHINES_NET sets the first
# three octets); machine I is namespace berth-mI at .(10+I), no default route, so nothing
# it sends leaves the bridge. Its dockerd runs in the namespace (nsenter --net: the host's
# mount namespace, so the data root and socket are plain paths) with the data root on a
# tmpfs of BERTH_MACHINE_DISK (default 384m), listening on its socket and on
# tcp://ADDRESS:2376 with TLS (client certificate required). Its iptables rules are the
# namespace's own (no masquerading, nowhere to route to): published ports are DNAT rules
# there, so containers keep answering while their dockerd is dead or frozen, as on a real
# machine. An image registry for pull
# tests listens on the host end, 10.213.7.1:5000, and every engine trusts it.
# Everything lives under BERTH_MACHINES_DIR (default /var/tmp/berth-machines): the set is
# machine-wide, whatever BERTH_STATE a caller uses.
set -euo pipefail
HACK_DIR="$(cd "$(dirname "$0")" && pwd)"
source "$HACK_DIR/lib.sh"
source "$HACK_DIR/dockerd-lib.sh"
DIR="${BERTH_MACHINES_DIR:-/var/tmp/berth-machines}"
NET="${BERTH_MACHINES_NET:-10.213.7}"
BRIDGE=berthfx
HOST_ADDRESS="$NET.1"
DISK="${BERTH_MACHINE_DISK:-384m}"
REGISTRY_PORT=5000
DOCKER_CLI="${BERTH_DOCKER_CLI:-/usr/bin/docker}"
TEST_IMAGES=(berth-test/echo:1 berth-test/exit:1 berth-test/unhealthy:1 berth-test/openapi:1)
START_TIMEOUT_SECONDS=60
STOP_TIMEOUT_SECONDS=20

netns() { echo "berth-m$1"; }
address() { echo "$NET.$((10 + $1))"; }
mdir() { echo "$DIR/m$1"; }
engine_home() { mdir "$1"; }
in_ns() {
  local n="$1"
  shift
  nsenter --net="/var/run/netns/$(netns "$n")" "$@"
}

check_machine() {
  if ! [[ "$1" =~ ^[0-9]+$ ]] || (($1 < 1 || $1 > 50)); then
    log "machine number must be 1..50, got '$1'"
    exit 2
  fi
  [[ -e "/var/run/netns/$(netns "$1")" ]] || {
    log "machine $1 does not exist: $0 start N"
    exit 1
  }
}

known_machines() {
  local found=()
  if [[ -d /var/run/netns ]]; then
    found+=($(find /var/run/netns -maxdepth 1 -name 'berth-m*' -printf '%f\n' | sed 's/^berth-m//'))
  fi
  if [[ -d "$DIR" ]]; then
    found+=($(find "$DIR" -mindepth 1 -maxdepth 1 -type d -name 'm*' -printf '%f\n' | sed 's/^m//'))
  fi
  ((${#found[@]})) && printf '%s\n' "${found[@]}" | grep -E '^[0-9]+$' | sort -un
  return 0
}

# One CA for the set; a server certificate per machine (its address as IP SAN); one client
# certificate the agents and the tests present.
make_certs() {
  local n="$1" pki="$DIR/pki"
  mkdir -p "$pki"
  (
    cd "$pki"
    if [[ ! -f ca.pem ]]; then
      openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days 3650 \
        -subj "/CN=berth-machines-ca" 2>/dev/null
      openssl req -newkey rsa:2048 -nodes -keyout key.pem -out client.csr -subj "/CN=berth-agent" 2>/dev/null
      printf 'extendedKeyUsage=clientAuth\n' >client.ext
      openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out cert.pem \
        -days 3650 -extfile client.ext 2>/dev/null
      rm -f client.csr client.ext
    fi
    if [[ ! -f "m$n-cert.pem" ]]; then
      openssl req -newkey rsa:2048 -nodes -keyout "m$n-key.pem" -out "m$n.csr" -subj "/CN=$(netns "$n")" 2>/dev/null
      printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$(address "$n")" >"m$n.ext"
      openssl x509 -req -in "m$n.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out "m$n-cert.pem" \
        -days 3650 -extfile "m$n.ext" 2>/dev/null
      rm -f "m$n.csr" "m$n.ext"
    fi
  )
}

bridge_up() {
  # Machines talk to each other across the bridge; nothing from the bridge goes elsewhere.
  bridge_ensure "$BRIDGE" "$HOST_ADDRESS/24"
  iptables -C FORWARD -i "$BRIDGE" ! -o "$BRIDGE" -j DROP 2>/dev/null ||
    iptables -A FORWARD -i "$BRIDGE" ! -o "$BRIDGE" -j DROP
}

bridge_down() {
  while iptables -D FORWARD -i "$BRIDGE" ! -o "$BRIDGE" -j DROP 2>/dev/null; do :; done
  bridge_drop "$BRIDGE"
}

machine_up() {
  local n="$1" ns dir host_if="bfx$1" peer="bfxp$1"
  ns="$(netns "$n")"
  dir="$(mdir "$n")"
  ip netns add "$ns"
  ip link add "$host_if" type veth peer name "$peer"
  ip link set "$peer" netns "$ns"
  ip link set "$host_if" master "$BRIDGE" up
  in_ns "$n" ip link set lo up
  in_ns "$n" ip link set "$peer" name eth0
  in_ns "$n" ip addr add "$(address "$n")/24" dev eth0
  in_ns "$n" ip link set eth0 up
  mkdir -p "$dir/data" "$dir/exec" "$dir/agent"
  chmod 700 "$dir/agent"
  mount -t tmpfs -o "size=$DISK,mode=0711" "berth-m$n-disk" "$dir/data"
  make_certs "$n"
}

dockerd_start() {
  local n="$1" dir sock launched
  dir="$(mdir "$n")"
  sock="$(engine_socket "$n")"
  answers "$n" && return 0
  if dockerd_pid "$n" >/dev/null; then
    log "machine $n: dockerd runs but does not answer"
    exit 1
  fi
  local old
  if old="$(containerd_pid "$n")"; then wait_gone "$old" "containerd of machine $n"; fi
  rm -f "$sock"
  # shellcheck disable=SC2016 # nsenter runs dockerd directly; no shell expands anything
  setsid nsenter --net="/var/run/netns/$(netns "$n")" dockerd \
    --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/docker.pid" \
    -H "unix://$sock" -H "tcp://$(address "$n"):2376" \
    --tlsverify --tlscacert "$DIR/pki/ca.pem" --tlscert "$DIR/pki/m$n-cert.pem" --tlskey "$DIR/pki/m$n-key.pem" \
    --ip-masq=false --ip="$(address "$n")" --bip 172.30.0.1/24 \
    --insecure-registry "$NET.0/24" --live-restore \
    >>"$dir/dockerd.log" 2>&1 </dev/null &
  launched=$!
  wait_answers "$launched" "$sock" "$dir/dockerd.log" "machine $n" "$START_TIMEOUT_SECONDS" || exit 1
}

dockerd_signal() {
  local n="$1" signal="$2" pid
  if pid="$(dockerd_pid "$n")"; then
    kill "-$signal" "$pid"
    [[ "$signal" != KILL ]] || wait_gone "$pid" "dockerd of machine $n"
  fi
  # containerd is frozen and thawed with its dockerd; a crash of dockerd leaves it running.
  if [[ "$signal" != KILL ]] && pid="$(containerd_pid "$n")"; then kill "-$signal" "$pid"; fi
  return 0
}

machine_down() {
  local n="$1" dir pid ns
  dir="$(mdir "$n")"
  ns="$(netns "$n")"
  # Whatever runs in the namespace (agents, docker-proxy) goes first: SIGCONT in case frozen.
  if pid="$(dockerd_pid "$n")"; then kill -CONT "$pid" 2>/dev/null || true; fi
  if pid="$(containerd_pid "$n")"; then kill -CONT "$pid" 2>/dev/null || true; fi
  if answers "$n"; then remove_containers "$(engine_socket "$n")" 2>/dev/null || true; fi
  if pid="$(dockerd_pid "$n")"; then
    kill -TERM "$pid"
    wait_gone "$pid" "dockerd of machine $n"
  fi
  if pid="$(containerd_pid "$n")"; then
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" "containerd of machine $n"
  fi
  if [[ -e "/var/run/netns/$ns" ]]; then
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  fi
  ip link del "bfx$n" 2>/dev/null || true
  [[ -d "$dir" ]] && unmount_under "$dir"
  if [[ -d "$dir/data" ]] && mountpoint -q "$dir/data"; then umount "$dir/data" || umount -l "$dir/data"; fi
  rm -rf "$dir"
}

registry_start() {
  local reg="$DIR/registry" pid
  if pid="$(live_pid "$reg/registry.pid" docker-registry)"; then return 0; fi
  mkdir -p "$reg/data"
  cat >"$reg/config.yml" <<EOF
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $reg/data}, delete: {enabled: true}}
http: {addr: "$HOST_ADDRESS:$REGISTRY_PORT"}
EOF
  setsid docker-registry serve "$reg/config.yml" >"$reg/registry.log" 2>&1 </dev/null &
  echo $! >"$reg/registry.pid"
  local deadline=$((SECONDS + 20))
  until curl -fsS --max-time 2 "http://$HOST_ADDRESS:$REGISTRY_PORT/v2/" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || {
      log "image registry did not start"
      tail -n 20 "$reg/registry.log" >&2
      exit 1
    }
    sleep 0.2
  done
}

registry_stop() {
  local pid
  if pid="$(live_pid "$DIR/registry/registry.pid" docker-registry)"; then
    kill -TERM "$pid"
    wait_gone "$pid" "image registry"
  fi
}

load_images() {
  local n="$1" tar="$DIR/test-images.tar"
  "$DOCKER_CLI" -H "unix://$(engine_socket "$n")" load -q -i "$tar" >/dev/null
}

cmd_stop() {
  local n
  for n in $(known_machines); do machine_down "$n"; done
  registry_stop
  bridge_down
  if [[ -d "$DIR" ]]; then
    unmount_under "$DIR"
    rm -rf "$DIR"
  fi
}

cmd_start() {
  local count="$1" n
  [[ "$count" =~ ^[0-9]+$ ]] && ((count >= 1 && count <= 50)) || {
    log "start needs a machine count 1..50"
    exit 2
  }
  if [[ -n "$(known_machines)" ]] || ip link show "$BRIDGE" >/dev/null 2>&1; then
    log "removing a previous set of machines first"
    cmd_stop
  fi
  mkdir -p "$DIR"
  bash "$HACK_DIR/images/build.sh" >&2
  "$DOCKER_CLI" -H "${DOCKER_HOST:-unix:///var/run/docker.sock}" save -o "$DIR/test-images.tar" "${TEST_IMAGES[@]}"
  bridge_up
  for n in $(seq 1 "$count"); do machine_up "$n"; done
  for n in $(seq 1 "$count"); do dockerd_start "$n" & done
  wait_all
  for n in $(seq 1 "$count"); do load_images "$n" & done
  wait_all
  registry_start
  # An image for the pull tests, built and pushed from machine 1's engine (which trusts the
  # registry): the echo image and a layer of 4 MiB no engine has, so a pull must write.
  local cli=("$DOCKER_CLI" -H "unix://$(engine_socket 1)") pull_image="$HOST_ADDRESS:$REGISTRY_PORT/berth-test/echo:pull"
  printf 'FROM berth-test/echo:1\nRUN head -c 4194304 /dev/urandom > /pad\n' |
    "${cli[@]}" build -q -t "$pull_image" - >/dev/null
  "${cli[@]}" push -q "$pull_image" >/dev/null
  "${cli[@]}" rmi "$pull_image" >/dev/null
  echo "$count" >"$DIR/count"
  log "$count machines up on $BRIDGE ($NET.0/24)"
  cmd_env
}

# wait_all: wait for every background job; fail when one failed.
wait_all() {
  local failed=0 job
  for job in $(jobs -p); do wait "$job" || failed=1; done
  ((failed == 0)) || exit 1
}

cmd_env() {
  echo "BRIDGE_ADDRESS=$HOST_ADDRESS"
  echo "IMAGE_REGISTRY=$HOST_ADDRESS:$REGISTRY_PORT"
  echo "TLS_DIR=$DIR/pki"
  local n
  for n in $(known_machines); do
    echo "MACHINE_$n=$(netns "$n") $(address "$n") $(engine_socket "$n") $(mdir "$n")"
  done
}

cmd_status() {
  local n
  for n in $(known_machines); do
    if answers "$n"; then
      echo "machine $n: $(netns "$n") $(address "$n") engine answering"
    else
      echo "machine $n: $(netns "$n") $(address "$n") engine not answering"
    fi
  done
}

# Both ways: with only its own packets dropped, a machine would still receive what the API
# server sends on connections open before the cut (a watch keeps delivering events).
cut_rules() {
  echo "OUTPUT -d $HOST_ADDRESS -p tcp --dport $1 -j DROP"
  echo "INPUT -s $HOST_ADDRESS -p tcp --sport $1 -j DROP"
}

cmd_fill() {
  local n="$1" leave="$2" data avail
  data="$(mdir "$n")/data"
  avail="$(df -B1 --output=avail "$data" | tail -n 1 | tr -d ' ')"
  ((avail > leave)) || return 0
  fallocate -l $((avail - leave)) "$data/berth-disk-fill"
}

usage() {
  sed -n '2,14p' "$0" >&2
  exit 2
}

command="${1:-}"
(($#)) && shift
case "$command" in
  start) (($# == 1)) || usage; cmd_start "$1" ;;
  stop) cmd_stop; log "machines stopped" ;;
  status) cmd_status ;;
  env) cmd_env ;;
  dockerd-start) check_machine "${1:-}"; dockerd_start "$1" ;;
  dockerd-kill) check_machine "${1:-}"; dockerd_signal "$1" KILL ;;
  dockerd-freeze) check_machine "${1:-}"; dockerd_signal "$1" STOP ;;
  dockerd-thaw) check_machine "${1:-}"; dockerd_signal "$1" CONT ;;
  cut)
    check_machine "${1:-}"
    [[ "${2:-}" =~ ^[0-9]+$ ]] || usage
    cut_rules "$2" | while read -r -a rule; do
      in_ns "$1" iptables -C "${rule[@]}" 2>/dev/null || in_ns "$1" iptables -I "${rule[@]}"
    done
    ;;
  heal)
    check_machine "${1:-}"
    [[ "${2:-}" =~ ^[0-9]+$ ]] || usage
    cut_rules "$2" | while read -r -a rule; do
      while in_ns "$1" iptables -D "${rule[@]}" 2>/dev/null; do :; done
    done
    ;;
  fill) check_machine "${1:-}"; [[ "${2:-}" =~ ^[0-9]+$ ]] || usage; cmd_fill "$1" "$2" ;;
  free) check_machine "${1:-}"; rm -f "$(mdir "$1")/data/berth-disk-fill" ;;
  *) usage ;;
esac
