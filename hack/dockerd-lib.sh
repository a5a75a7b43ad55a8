# Helpers for the scripts that run Docker engines of their own beside the default one
# (hack/engines.sh, hack/machines.sh). Sourced after hack/lib.sh, never run.
# The script defines engine_home N: the directory of its engine N, which keeps its socket
# (docker.sock), pid file (docker.pid) and exec root (exec/) there.
# STOP_TIMEOUT_SECONDS: how long wait_gone waits before SIGKILL (default 30).

engine_socket() { echo "$(engine_home "$1")/docker.sock"; }
# answers N: engine N answers a ping.
answers() { socket_answers "$(engine_socket "$1")"; }

# socket_answers SOCKET: the engine on that Unix socket answers a ping.
socket_answers() {
  [[ -S "$1" ]] && curl -fsS --max-time 3 --unix-socket "$1" http://engine/_ping >/dev/null 2>&1
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
# dockerd_pid N / containerd_pid N: engine N's processes, when alive.
dockerd_pid() { live_pid "$(engine_home "$1")/docker.pid" dockerd; }
containerd_pid() { live_pid "$(engine_home "$1")/exec/containerd/containerd.pid" containerd; }

# wait_gone PID WHAT: wait for PID to exit, SIGKILL it after the stop timeout.
wait_gone() {
  local pid="$1" what="$2" timeout="${STOP_TIMEOUT_SECONDS:-30}"
  local deadline=$((SECONDS + timeout))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "$what (pid $pid) did not exit within ${timeout}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
      return
    fi
    sleep 0.1
  done
}

# wait_answers LAUNCHED SOCKET LOG WHAT TIMEOUT: wait until the dockerd just launched (pid
# LAUNCHED, our own child) answers on SOCKET; fails, with LOG's last lines, when it exits
# first or stays silent for TIMEOUT seconds.
wait_answers() {
  local launched="$1" socket="$2" logfile="$3" what="$4" deadline=$((SECONDS + $5))
  until socket_answers "$socket"; do
    if ! kill -0 "$launched" 2>/dev/null; then
      log "$what: dockerd exited during start; last lines of $logfile:"
      tail -n 20 "$logfile" >&2
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log "$what: dockerd did not answer within $5s; last lines of $logfile:"
      tail -n 20 "$logfile" >&2
      return 1
    fi
    sleep 0.1
  done
}

# remove_containers SOCKET: every container of that engine, removed (with --live-restore
# they outlive their engine).
remove_containers() {
  local ids
  ids="$("$DOCKER_CLI" -H "unix://$1" ps -aq)"
  # shellcheck disable=SC2086 # one id per word
  [[ -z "$ids" ]] || "$DOCKER_CLI" -H "unix://$1" rm -f $ids >/dev/null
}

# bridge_ensure NAME ADDRESS/PREFIX: the bridge exists with that host address and is up;
# its members may reach each other (iptables is off in the engines, so nothing else allows it).
bridge_ensure() {
  local bridge="$1"
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add "$bridge" type bridge
    ip addr add "$2" dev "$bridge"
  fi
  ip link set "$bridge" up
  iptables -C FORWARD -i "$bridge" -o "$bridge" -j ACCEPT 2>/dev/null ||
    iptables -I FORWARD -i "$bridge" -o "$bridge" -j ACCEPT
}

# bridge_drop NAME: the bridge and the rule bridge_ensure added, gone.
bridge_drop() {
  local bridge="$1"
  while iptables -D FORWARD -i "$bridge" -o "$bridge" -j ACCEPT 2>/dev/null; do :; done
  if ip link show "$bridge" >/dev/null 2>&1; then ip link del "$bridge"; fi
}

# unmount_under DIR: DIR and every mount below it (netns, overlay, a data root's own
# mount), deepest first; a failed or killed engine leaves them, and they must go before a
# restart or a delete.
unmount_under() {
  awk -v prefix="$1/" '$2 == substr(prefix, 1, length(prefix) - 1) || index($2, prefix) == 1 { print $2 }' /proc/mounts |
    sort -r | while read -r mountpoint; do
    umount "$mountpoint" 2>/dev/null || umount -l "$mountpoint"
  done
}
