#!/usr/bin/env bash
# A CPU profile of the local control plane's kube-apiserver (its /debug/pprof, on by default),
# taken with the admin client certificate, and its top functions by cumulative time.
#
#   hack/apiserver-profile.sh [--seconds N] [--out FILE] [--top N] [--dir DIR]
#
# Takes N seconds (default 30) of CPU samples, writes the profile to FILE (default
# $BERTH_STATE/apiserver-<time>.pprof) and prints `go tool pprof -top -cum` of it (N lines,
# default 40). Start it while the load runs; open the file later with
# `go tool pprof -http 127.0.0.1:8081 FILE` or `go tool pprof -top -cum -focus REGEXP FILE`.
set -euo pipefail
HACK="$(cd "$(dirname "$0")" && pwd)"
source "$HACK/lib.sh"

seconds=30 top=40 out="" dir="$BERTH_STATE/controlplane"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --top) top="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
done
[[ "$seconds" =~ ^[1-9][0-9]{0,3}$ ]] || { echo "--seconds: a whole number from 1 to 9999" >&2; exit 2; }
[[ "$top" =~ ^[1-9][0-9]{0,3}$ ]] || { echo "--top: a whole number from 1 to 9999" >&2; exit 2; }
[[ -f "$dir/port" ]] || { echo "no local control plane in $dir (hack/controlplane.sh start)" >&2; exit 1; }
command -v go >/dev/null || { echo "go is needed for go tool pprof" >&2; exit 1; }
out="${out:-$BERTH_STATE/apiserver-$(date -u +%Y%m%dT%H%M%S).pprof}"
pki="$dir/pki"

curl -sf --max-time $((seconds + 30)) --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
  -o "$out" "https://127.0.0.1:$(cat "$dir/port")/debug/pprof/profile?seconds=$seconds"
log "profile of ${seconds}s written to $out"
go tool pprof -top -cum -nodecount "$top" "$out" 2>/dev/null
