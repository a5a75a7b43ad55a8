#!/usr/bin/env bash
# Extra Docker engines side by side on one machine, standing in for several machines.
#
#   hack/engines.sh start N [N...]   start engine N (2..254); prints its socket path
#   hack/engines.sh start-tls N PORT DIR
#                                    start engine N that also listens on tcp://127.0.0.N:PORT
#                                    with --tlsverify: DIR holds ca.pem (the CA client
#                                    certificates must be signed by), server-cert.pem, server-key.pem
#   hack/engines.sh stop N [N...]    remove engine N's containers, stop it, drop its bridge
#   hack/engines.sh kill N           SIGKILL engine N's dockerd, as a crash would (containers
#                                    keep running; `start N` brings it back via live-restore)
#   hack/engines.sh stop-all         stop every engine this script started
#   hack/engines.sh status           list the engines and whether they answer
#   hack/engines.sh load-images N    copy the berth-test images into engine N
#
# Engine N publishes container ports on 127.0.0.N (so engines may reuse port numbers and
# each looks like its own host), uses its own bridge berthN on ${BERTH_ENGINE_NET:-172.31}.N.0/24
# and keeps data, exec root, pid file, socket and log under $BERTH_STATE/engines/N.
# iptables stays off: on, it would flush the default engine's DOCKER chains.
set -euo pipefail
HACK_DIR="$(cd "$(dirname "$0")" && pwd)"
source "$HACK_DIR/lib.sh"
ENGINES_DIR="$BERTH_STATE/engines"
NET_PREFIX="${BERTH_ENGINE_NET:-172.31}"
START_TIMEOUT_SECONDS="${BERTH_ENGINE_START_TIMEOUT:-30}"
STOP_TIMEOUT_SECONDS="${BERTH_ENGINE_STOP_TIMEOUT:-30}"
DOCKER_CLI="${BERTH_DOCKER_CLI:-/usr/bin/docker}"
TEST_IMAGES=(berth-test/echo:1 berth-test/exit:1 berth-test/unhealthy:1 berth-test/openapi:1)

engine_dir() { echo "$ENGINES_DIR/$1"; }
engine_socket() { echo "$(engine_dir "$1")/docker.sock"; }
bridge_name() { echo "berth$1"; }

check_number() {
  if ! [[ "$1" =~ ^[0-9]+$ ]] || (($1 < 2 || $1 > 254)); then
    log "engine number must be 2..254 (1 is the default engine's 127.0.0.1), got '$1'"
    exit 2
  fi
}

answers() {
  local socket
  socket="$(engine_socket "$1")"
  [[ -S "$socket" ]] && curl -fsS --max-time 3 --unix-socket "$socket" http://engine/_ping >/dev/null 2>&1
}

# live_pid FILE NAME: the pid in FILE when that process is alive and is NAME.
live_pid() {
  local file="$1" name="$2" pid
  [[ -f "$file" ]] || return 1
  pid="$(tr -d '[:space:]' <"$file")"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$name" || return 1
  echo "$pid"
}
dockerd_pid() { live_pid "$(engine_dir "$1")/docker.pid" dockerd; }
containerd_pid() { live_pid "$(engine_dir "$1")/exec/containerd/containerd.pid" containerd; }

# wait_gone PID WHAT: wait for PID to exit, SIGKILL it after the stop timeout.
wait_gone() {
  local pid="$1" what="$2" deadline=$((SECONDS + STOP_TIMEOUT_SECONDS))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "$what (pid $pid) did not exit within ${STOP_TIMEOUT_SECONDS}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
      return
    fi
    sleep 0.1
  done
}

ensure_bridge() {
  local n="$1" bridge
  bridge="$(bridge_name "$n")"
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add "$bridge" type bridge
    ip addr add "$NET_PREFIX.$n.1/24" dev "$bridge"
  fi
  ip link set "$bridge" up
  # Without iptables management, containers on the bridge can't reach each other otherwise.
  iptables -C FORWARD -i "$bridge" -o "$bridge" -j ACCEPT 2>/dev/null ||
    iptables -I FORWARD -i "$bridge" -o "$bridge" -j ACCEPT
}

drop_bridge() {
  local bridge
  bridge="$(bridge_name "$1")"
  while iptables -D FORWARD -i "$bridge" -o "$bridge" -j ACCEPT 2>/dev/null; do :; done
  if ip link show "$bridge" >/dev/null 2>&1; then ip link del "$bridge"; fi
}

# A failed or killed engine can leave mounts under its directory (netns, overlay, the data
# root's own bind mount); they must go before a restart or a delete.
unmount_leftovers() {
  local dir
  dir="$(engine_dir "$1")"
  awk -v prefix="$dir/" '$2 == substr(prefix, 1, length(prefix) - 1) || index($2, prefix) == 1 { print $2 }' /proc/mounts |
    sort -r | while read -r mountpoint; do
    umount "$mountpoint" 2>/dev/null || umount -l "$mountpoint"
  done
}

# Before a start, the previous dockerd and its containerd must be gone: dockerd refuses
# to start while the old pid file's process or the old containerd still runs.
wait_previous_gone() {
  local n="$1" pid
  if pid="$(containerd_pid "$n")"; then
    log "engine $n: waiting for the previous containerd (pid $pid) to exit"
    wait_gone "$pid" "containerd of engine $n"
  fi
}

start_one() {
  local n="$1" dir socket
  local -a listen=()
  check_number "$n"
  # start-tls: a TLS listener that verifies client certificates, besides the socket.
  if [[ -n "${2:-}" ]]; then
    listen=(-H "tcp://127.0.0.$n:$2" --tlsverify --tlscacert "$3/ca.pem"
      --tlscert "$3/server-cert.pem" --tlskey "$3/server-key.pem")
  fi
  dir="$(engine_dir "$n")"
  socket="$(engine_socket "$n")"
  if answers "$n"; then
    echo "$socket"
    return
  fi
  if dockerd_pid "$n" >/dev/null; then
    log "engine $n: dockerd runs but does not answer; run: $0 stop $n"
    exit 1
  fi
  wait_previous_gone "$n"
  mkdir -p "$dir/data" "$dir/exec"
  rm -f "$socket"
  ensure_bridge "$n"
  log "engine $n: starting (log: $dir/dockerd.log)"
  setsid dockerd \
    --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/docker.pid" \
    -H "unix://$socket" "${listen[@]}" --bridge="$(bridge_name "$n")" --iptables=false \
    --ip="127.0.0.$n" --live-restore >>"$dir/dockerd.log" 2>&1 </dev/null &
  local launched=$! deadline=$((SECONDS + START_TIMEOUT_SECONDS))
  until answers "$n"; do
    if ! kill -0 "$launched" 2>/dev/null; then
      log "engine $n: dockerd exited during start; last lines of $dir/dockerd.log:"
      tail -n 20 "$dir/dockerd.log" >&2
      unmount_leftovers "$n"
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      log "engine $n: no answer within ${START_TIMEOUT_SECONDS}s; last lines of $dir/dockerd.log:"
      tail -n 20 "$dir/dockerd.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "$socket"
}

stop_one() {
  local n="$1" pid socket
  check_number "$n"
  socket="$(engine_socket "$n")"
  if answers "$n"; then
    # With --live-restore, containers outlive their engine: remove them first.
    local ids
    ids="$("$DOCKER_CLI" -H "unix://$socket" ps -aq)"
    if [[ -n "$ids" ]]; then
      # shellcheck disable=SC2086 # one id per word
      "$DOCKER_CLI" -H "unix://$socket" rm -f $ids >/dev/null
    fi
  fi
  if pid="$(dockerd_pid "$n")"; then
    log "engine $n: stopping dockerd (pid $pid)"
    kill -TERM "$pid"
    wait_gone "$pid" "dockerd of engine $n"
  fi
  if pid="$(containerd_pid "$n")"; then
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" "containerd of engine $n"
  fi
  unmount_leftovers "$n"
  rm -f "$socket"
  drop_bridge "$n"
  log "engine $n: stopped"
}

kill_one() {
  local n="$1" pid
  check_number "$n"
  if ! pid="$(dockerd_pid "$n")"; then
    log "engine $n: no dockerd running"
    return
  fi
  kill -KILL "$pid"
  wait_gone "$pid" "dockerd of engine $n"
  log "engine $n: dockerd killed (containers keep running; start it again to recover them)"
}

known_engines() {
  [[ -d "$ENGINES_DIR" ]] || return 0
  find "$ENGINES_DIR" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | grep -E '^[0-9]+$' | sort -n
}

cmd_status() {
  local n pid
  for n in $(known_engines); do
    if answers "$n"; then
      echo "engine $n: running  socket $(engine_socket "$n")  publishes on 127.0.0.$n"
    elif pid="$(dockerd_pid "$n")"; then
      echo "engine $n: not answering (dockerd pid $pid)"
    else
      echo "engine $n: stopped"
    fi
  done
}

cmd_load_images() {
  local n="$1" socket default_cli target_cli missing=()
  check_number "$n"
  answers "$n" || {
    log "engine $n is not running: $0 start $n"
    exit 1
  }
  socket="$(engine_socket "$n")"
  bash "$HACK_DIR/images/build.sh"
  default_cli=("$DOCKER_CLI" -H "${DOCKER_HOST:-unix:///var/run/docker.sock}")
  target_cli=("$DOCKER_CLI" -H "unix://$socket")
  local image want have
  for image in "${TEST_IMAGES[@]}"; do
    want="$("${default_cli[@]}" image inspect -f '{{.Id}}' "$image")"
    have="$("${target_cli[@]}" image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)"
    [[ "$want" == "$have" ]] || missing+=("$image")
  done
  if ((${#missing[@]} == 0)); then
    log "engine $n: test images up to date"
    return
  fi
  log "engine $n: loading ${missing[*]}"
  "${default_cli[@]}" save "${missing[@]}" | "${target_cli[@]}" load -q >/dev/null
}

usage() {
  sed -n '2,17p' "$0" >&2
  exit 2
}

command="${1:-}"
(($#)) && shift
case "$command" in
  start)
    (($#)) || usage
    for n in "$@"; do start_one "$n"; done
    ;;
  start-tls)
    (($# == 3)) || usage
    [[ "$2" =~ ^[0-9]+$ ]] && (($2 > 0 && $2 < 65536)) || { log "invalid port '$2'"; exit 2; }
    for file in ca.pem server-cert.pem server-key.pem; do
      [[ -r "$3/$file" ]] || { log "start-tls: $3/$file is missing"; exit 2; }
    done
    start_one "$1" "$2" "$(cd "$3" && pwd)"
    ;;
  stop)
    (($#)) || usage
    for n in "$@"; do stop_one "$n"; done
    ;;
  kill)
    (($# == 1)) || usage
    kill_one "$1"
    ;;
  stop-all)
    for n in $(known_engines); do stop_one "$n"; done
    ;;
  status) cmd_status ;;
  load-images)
    (($# == 1)) || usage
    cmd_load_images "$1"
    ;;
  *) usage ;;
esac
