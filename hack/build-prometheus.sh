#!/usr/bin/env bash
# Builds Prometheus from the Go module proxy into a cache outside the repository, for the
# test of Kubernetes-native discovery: Debian's prometheus package is built without the
# Kubernetes service discovery (kubernetes_sd_configs is an unknown field there). Rebuilds
# only when the pinned version changes. Prints the binary's path on its last line.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

out="$BERTH_BIN_DIR/prometheus-$PROMETHEUS_VERSION"
if [[ ! -x "$out/prometheus" ]]; then
  mod="$BERTH_CACHE/build/prometheus-$PROMETHEUS_VERSION"
  mkdir -p "$mod" "$out"
  # Prometheus 2.x releases are tagged v2.N.M and published as Go module versions v0.N.M.
  cat > "$mod/go.mod" <<MOD
module berth.dev/hack/prometheus
go 1.24.0
require github.com/prometheus/prometheus v0.${PROMETHEUS_VERSION#2.}
MOD
  log "building prometheus v$PROMETHEUS_VERSION (first time: several minutes on 2 cores)"
  (cd "$mod" && GOFLAGS=-mod=mod go build -trimpath -ldflags="-s -w" -o "$out/prometheus" \
    github.com/prometheus/prometheus/cmd/prometheus)
fi
echo "$out/prometheus"
