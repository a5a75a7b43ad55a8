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
source "$HACK_DIR/dockerd-lib.sh"
ENGINES_DIR="$BERTH_STATE/engines"
NET_PREFIX="${BERTH_ENGINE_NET:-172.31}"
START_TIMEOUT_SECONDS="${BERTH_ENGINE_START_TIMEOUT:-30}"
STOP_TIMEOUT_SECONDS="${BERTH_ENGINE_STOP_TIMEOUT:-30}"
DOCKER_CLI="${BERTH_DOCKER_CLI:-/usr/bin/docker}"
TEST_IMAGES=(berth-test/echo:1 berth-test/exit:1 berth-test/unhealthy:1 berth-test/openapi:1)

engine_home() { echo "$ENGINES_DIR/$1"; }
bridge_name() { echo "berth$1"; }

check_number() {
  if ! [[ "$1" =~ ^[0-9]+$ ]] || (($1 < 2 || $1 > 254)); then
    log "engine number must be 2..254 (1 is the default engine's 127.0.0.1), got '$1'"
    exit 2
  fi
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
  dir="$(engine_home "$n")"
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
  bridge_ensure "$(bridge_name "$n")" "$NET_PREFIX.$n.1/24"
  log "engine $n: starting (log: $dir/dockerd.log)"
  setsid dockerd \
    --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/docker.pid" \
    -H "unix://$socket" "${listen[@]}" --bridge="$(bridge_name "$n")" --iptables=false \
    --ip="127.0.0.$n" --live-restore >>"$dir/dockerd.log" 2>&1 </dev/null &
  local launched=$!
  wait_answers "$launched" "$socket" "$dir/dockerd.log" "engine $n" "$START_TIMEOUT_SECONDS" || {
    # An engine that exited leaves its mounts; one that is only slow keeps them in use.
    kill -0 "$launched" 2>/dev/null || unmount_under "$dir"
    exit 1
  }
  echo "$socket"
}

stop_one() {
  local n="$1" pid socket
  check_number "$n"
  socket="$(engine_socket "$n")"
  if answers "$n"; then remove_containers "$socket"; fi
  if pid="$(dockerd_pid "$n")"; then
    log "engine $n: stopping dockerd (pid $pid)"
    kill -TERM "$pid"
    wait_gone "$pid" "dockerd of engine $n"
  fi
  if pid="$(containerd_pid "$n")"; then
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" "containerd of engine $n"
  fi
  unmount_under "$(engine_home "$n")"
  rm -f "$socket"
  bridge_drop "$(bridge_name "$n")"
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
