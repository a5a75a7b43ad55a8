#!/usr/bin/env bash
# The default Docker engine for local work and tests.
#
#   hack/docker.sh ensure   make sure an engine answers on DOCKER_HOST (or the default
#                           socket); install Debian's docker.io and start dockerd if not.
#                           Prints the engine URL on its last line.
#   hack/docker.sh stop     stop the engine this script started (and only that one).
#   hack/docker.sh status   say whether an engine answers and who started it.
#
# Idempotent: `ensure` on a running engine does nothing; `stop` without a started engine
# does nothing.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

DEFAULT_SOCKET=/var/run/docker.sock
ENGINE_STATE="$BERTH_STATE/docker"
PID_FILE="$ENGINE_STATE/dockerd.pid"
LOG_FILE="$ENGINE_STATE/dockerd.log"
START_TIMEOUT_SECONDS="${BERTH_DOCKER_START_TIMEOUT:-60}"
STOP_TIMEOUT_SECONDS="${BERTH_DOCKER_STOP_TIMEOUT:-30}"

engine_url() { echo "${DOCKER_HOST:-unix://$DEFAULT_SOCKET}"; }

# ping URL: true when the engine at URL answers /_ping within 3 seconds.
ping_engine() {
  local url="$1"
  case "$url" in
    unix://*)
      local socket="${url#unix://}"
      [[ -S "$socket" ]] && curl -fsS --max-time 3 --unix-socket "$socket" http://engine/_ping >/dev/null 2>&1
      ;;
    tcp://*) curl -fsS --max-time 3 "http://${url#tcp://}/_ping" >/dev/null 2>&1 ;;
    http://* | https://*) curl -fsS --max-time 3 "${url%/}/_ping" >/dev/null 2>&1 ;;
    *) return 1 ;;
  esac
}

started_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  # A recycled pid must not make us signal some other program.
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q dockerd || return 1
  echo "$pid"
}

install_engine() {
  if command -v dockerd >/dev/null 2>&1; then return; fi
  log "dockerd is missing: installing Debian's docker.io"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y docker.io
}

start_engine() {
  local url
  url="$(engine_url)"
  if [[ "$url" != "unix://$DEFAULT_SOCKET" ]]; then
    log "no Docker engine answers on DOCKER_HOST=$url; start it, or unset DOCKER_HOST to use a local engine"
    exit 1
  fi
  install_engine
  mkdir -p "$ENGINE_STATE"
  if [[ -S "$DEFAULT_SOCKET" ]]; then
    # Nothing answered on it: an engine that died left it behind.
    log "removing a stale socket at $DEFAULT_SOCKET"
    rm -f "$DEFAULT_SOCKET"
  fi
  log "starting dockerd (log: $LOG_FILE)"
  # setsid: the engine must outlive the shell (and test run) that started it.
  setsid dockerd -H "unix://$DEFAULT_SOCKET" >>"$LOG_FILE" 2>&1 </dev/null &
  local launched=$!
  echo "$launched" >"$PID_FILE"
  local deadline=$((SECONDS + START_TIMEOUT_SECONDS))
  until ping_engine "$url"; do
    # Our own child: kill -0 is exact. (Its cmdline may still be this shell's until the
    # exec, so the pid-file check that guards later signals would race here.)
    if ! kill -0 "$launched" 2>/dev/null; then
      log "dockerd exited during start; last lines of $LOG_FILE:"
      tail -n 20 "$LOG_FILE" >&2
      rm -f "$PID_FILE"
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      log "dockerd did not answer within ${START_TIMEOUT_SECONDS}s; last lines of $LOG_FILE:"
      tail -n 20 "$LOG_FILE" >&2
      exit 1
    fi
    sleep 0.2
  done
  log "dockerd answers on $url"
}

cmd_ensure() {
  local url
  url="$(engine_url)"
  if ! ping_engine "$url"; then start_engine; fi
  echo "$url"
}

cmd_stop() {
  local pid
  if ! pid="$(started_pid)"; then
    rm -f "$PID_FILE"
    log "no engine started by this script is running"
    return
  fi
  # Its own containerd must be gone too before another dockerd can start; note it now,
  # dockerd removes the pid file on its way out.
  local containerd_pid
  containerd_pid="$(cat /var/run/docker/containerd/containerd.pid 2>/dev/null || true)"
  log "stopping dockerd (pid $pid)"
  kill -TERM "$pid"
  local deadline=$((SECONDS + STOP_TIMEOUT_SECONDS))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "dockerd (pid $pid) did not exit within ${STOP_TIMEOUT_SECONDS}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  if [[ -n "$containerd_pid" && -r "/proc/$containerd_pid/cmdline" ]] && tr '\0' ' ' <"/proc/$containerd_pid/cmdline" 2>/dev/null | grep -q containerd; then
    deadline=$((SECONDS + STOP_TIMEOUT_SECONDS))
    while kill -0 "$containerd_pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  fi
  rm -f "$PID_FILE"
  log "dockerd stopped"
}

cmd_status() {
  local url pid
  url="$(engine_url)"
  if ping_engine "$url"; then
    if pid="$(started_pid)"; then
      echo "engine answers on $url (started by hack/docker.sh, pid $pid)"
    else
      echo "engine answers on $url (not started by hack/docker.sh)"
    fi
  else
    echo "no engine answers on $url"
    return 1
  fi
}

case "${1:-}" in
  ensure) cmd_ensure ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 ensure|stop|status" >&2
    exit 2
    ;;
esac
