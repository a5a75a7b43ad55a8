#!/usr/bin/env bash
# Installs the Debian packages Berth's local run and tests use, only when one is missing.
# chromium is the browser the web index's tests drive (playwright-core; nothing downloaded).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need=()
for pair in dockerd:docker.io busybox:busybox-static \
  prometheus:prometheus htpasswd:apache2-utils git:git openssl:openssl curl:curl \
  ip:iproute2 iptables:iptables nsenter:util-linux fallocate:util-linux chromium:chromium; do
  bin="${pair%%:*}" pkg="${pair#*:}"
  if ! command -v "$bin" >/dev/null 2>&1 && ! [[ -x "/usr/sbin/$bin" || -x "/usr/bin/$bin" || -x "/bin/$bin" ]]; then
    need+=("$pkg")
  fi
done
# docker-registry installs its binary as /usr/bin/docker-registry
if ! command -v docker-registry >/dev/null 2>&1; then need+=(docker-registry); fi
# The cluster tests' node (hack/node.sh): containerd comes with docker.io; CNI plugins
# live outside PATH.
[[ -x /usr/lib/cni/bridge ]] || need+=(containernetworking-plugins)
if ((${#need[@]})); then
  log "installing Debian packages: ${need[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
command -v go >/dev/null || { log "Go is required to build the local control plane (k8s.io/kubernetes needs Go >= 1.24)"; exit 1; }
