#!/usr/bin/env bash
# A local OCI registry with password auth, for pull tests: Debian's docker-registry on
# loopback with an htpasswd (bcrypt) file, storage under the state directory.
#
#   hack/registry.sh start [--port N]         start it (or find it running); prints
#                                             REGISTRY=127.0.0.1:N, USERNAME=..., PASSWORD=...
#   hack/registry.sh push IMAGE [--port N]    push a local image as 127.0.0.1:N/IMAGE; prints the new reference
#   hack/registry.sh stop [--port N]          stop the registry this script started on that port
#   hack/registry.sh status [--port N]
#
# The Docker engine treats 127.0.0.0/8 registries as insecure registries on its own, so
# plain HTTP works without touching the engine's settings. The password is made up on the
# first start and kept in the state directory; BERTH_REGISTRY_PASSWORD sets it instead.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PORT="${BERTH_REGISTRY_PORT:-5151}"
USERNAME="${BERTH_REGISTRY_USERNAME:-berth}"
DOCKER_CLI="${BERTH_DOCKER_CLI:-docker}"
START_TIMEOUT_SECONDS=30

usage() {
  echo "usage: $0 start|stop|status [--port N] | $0 push IMAGE [--port N]" >&2
  exit 2
}
(($# >= 1)) || usage
command="$1"
shift
image=""
if [[ "$command" == push ]]; then
  (($# >= 1)) || usage
  image="$1"
  shift
fi
while (($#)); do
  case "$1" in
    --port)
      PORT="${2:?--port needs a number}"
      shift 2
      ;;
    *) usage ;;
  esac
done
[[ "$PORT" =~ ^[0-9]+$ ]] && ((PORT > 0 && PORT < 65536)) || { log "invalid port $PORT"; exit 2; }

DIR="$BERTH_STATE/registry-$PORT"
ADDRESS="127.0.0.1:$PORT"
PID_FILE="$DIR/registry.pid"

running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  # A recycled pid must not make us signal some other program.
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q docker-registry || return 1
  echo "$pid"
}

# The registry answers /v2/ with 401 when it is up and wants credentials.
answers() {
  local code
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$ADDRESS/v2/" || true)"
  [[ "$code" == 401 || "$code" == 200 ]]
}

password() {
  if [[ -n "${BERTH_REGISTRY_PASSWORD:-}" ]]; then
    echo "$BERTH_REGISTRY_PASSWORD"
  else
    cat "$DIR/password"
  fi
}

print_access() {
  echo "REGISTRY=$ADDRESS"
  echo "USERNAME=$USERNAME"
  echo "PASSWORD=$(password)"
}

start() {
  if running_pid >/dev/null && answers; then
    print_access
    return
  fi
  command -v docker-registry >/dev/null || { log "docker-registry is missing: run hack/install-deps.sh"; exit 1; }
  command -v htpasswd >/dev/null || { log "htpasswd is missing: install apache2-utils"; exit 1; }
  mkdir -p "$DIR/data"
  chmod 0700 "$DIR"
  if [[ ! -s "$DIR/password" ]]; then
    (umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$DIR/password")
  fi
  password | htpasswd -iBn "$USERNAME" >"$DIR/htpasswd"
  cat >"$DIR/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $DIR/data
  delete:
    enabled: true
http:
  addr: $ADDRESS
  secret: $(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
auth:
  htpasswd:
    realm: berth-test-registry
    path: $DIR/htpasswd
EOF
  log "starting docker-registry on $ADDRESS (state in $DIR)"
  nohup docker-registry serve "$DIR/config.yml" >"$DIR/registry.log" 2>&1 &
  local launched=$!
  echo "$launched" >"$PID_FILE"
  for _ in $(seq 1 $((START_TIMEOUT_SECONDS * 10))); do
    if answers; then
      print_access
      return
    fi
    # Our own child: kill -0 is exact, where the cmdline check races the exec.
    if ! kill -0 "$launched" 2>/dev/null; then break; fi
    sleep 0.1
  done
  log "docker-registry did not come up on $ADDRESS; its log:"
  tail -n 20 "$DIR/registry.log" >&2 || true
  exit 1
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "$PID_FILE"
    return
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$PID_FILE"
  log "stopped docker-registry on $ADDRESS"
}

# Logs in with a throw-away client config, so the user's ~/.docker is never touched.
push() {
  running_pid >/dev/null && answers || { log "no registry on $ADDRESS: run $0 start --port $PORT"; exit 1; }
  local config target
  config="$(mktemp -d)"
  # shellcheck disable=SC2064 # expand now: the trap must remove this very directory
  trap "rm -rf '$config'" EXIT
  target="$ADDRESS/$image"
  local out
  if ! out="$(password | "$DOCKER_CLI" --config "$config" login --username "$USERNAME" --password-stdin "$ADDRESS" 2>&1)"; then
    log "docker login to $ADDRESS failed: $out"
    exit 1
  fi
  "$DOCKER_CLI" --config "$config" tag "$image" "$target"
  "$DOCKER_CLI" --config "$config" push "$target" >/dev/null
  echo "$target"
}

case "$command" in
  start) start ;;
  stop) stop ;;
  push) push ;;
  status)
    if running_pid >/dev/null && answers; then echo "running on $ADDRESS"; else echo "not running on $ADDRESS"; exit 1; fi
    ;;
  *) usage ;;
esac
