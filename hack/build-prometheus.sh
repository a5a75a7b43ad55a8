#!/usr/bin/env bash
# Builds Prometheus from the Go module proxy into a cache outside the repository, for the
# test of Kubernetes-native discovery: Debian's prometheus package is built without the
# Kubernetes service discovery (kubernetes_sd_configs is an unknown field there). Rebuilds
# only when the pinned version changes. Prints the binary's path on its last line.
#
# Upstream's cmd/prometheus registers every service discovery (AWS, Azure, GCE, ...); the
# build takes its main.go as it is and registers only the Kubernetes and file discoveries,
# which keeps the cloud SDKs out of the download and the build.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

out="$BERTH_BIN_DIR/prometheus-$PROMETHEUS_VERSION"
if [[ ! -x "$out/prometheus" ]]; then
  mod="$BERTH_CACHE/build/prometheus-$PROMETHEUS_VERSION"
  rm -rf "$mod"
  mkdir -p "$mod" "$out"
  # Prometheus 2.x releases are tagged v2.N.M and published as Go module versions v0.N.M.
  cat > "$mod/go.mod" <<MOD
module berth.dev/hack/prometheus
go 1.24.0
require github.com/prometheus/prometheus v0.${PROMETHEUS_VERSION#2.}
MOD
  src="$(cd "$mod" && go mod download -json "github.com/prometheus/prometheus@v0.${PROMETHEUS_VERSION#2.}" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -f "$src/cmd/prometheus/main.go" ]] || { log "no cmd/prometheus/main.go in $src"; exit 1; }
  # Prometheus' own replace directives (its klog adapters) hold for the build of its main too.
  sed -n '/^replace (/,/^)/p; /^replace [^(]/p' "$src/go.mod" >> "$mod/go.mod"
  plugins='_ "github.com/prometheus/prometheus/plugins"'
  grep -q "$plugins" "$src/cmd/prometheus/main.go" || { log "main.go no longer imports the plugins package"; exit 1; }
  sed "s#$plugins#_ \"github.com/prometheus/prometheus/discovery/kubernetes\"; _ \"github.com/prometheus/prometheus/discovery/file\"#" \
    "$src/cmd/prometheus/main.go" > "$mod/main.go"
  log "building prometheus v$PROMETHEUS_VERSION (first time: several minutes on 2 cores)"
  (cd "$mod" && GOFLAGS=-mod=mod go build -trimpath -ldflags="-s -w" -o "$out/prometheus" .)
fi
echo "$out/prometheus"
