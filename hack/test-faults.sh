#!/usr/bin/env bash
# The fault matrix (test/faults): three test machines in network namespaces (hack/machines.sh),
# a control plane of its own on the machines' bridge, every scenario, then everything stopped.
# Needs root (namespaces, a bridge, dockerds). Results: .berth/fault-results.json; render
# docs/reliability.md from them with `npx tsx hack/reliability-doc.ts`.
#
#   hack/test-faults.sh [SCENARIO,...]   all scenarios, or only those named
#
# BERTH_FAULTS_APISERVER_PORT (default 46463; etcd takes the two ports after it) is the
# suite's API server port, apart from npm start's and the other tests' control planes.
set -euo pipefail
HACK="$(cd "$(dirname "$0")" && pwd)"
cd "$HACK/.."
if [[ -z "${BERTH_STATE:-}" ]]; then
  export BERTH_STATE="${BERTH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth}/test-state"
fi
export BERTH_FAULTS_APISERVER_PORT="${BERTH_FAULTS_APISERVER_PORT:-46463}"
if [[ -n "${1:-}" ]]; then export BERTH_FAULTS_SCENARIOS="$1"; fi
((EUID == 0)) || { echo "the fault matrix needs root (network namespaces, dockerds)" >&2; exit 1; }
"$HACK/docker.sh" ensure >/dev/null
"$HACK/images/build.sh"
# --test-force-exit: once every test and its after hooks are done (machines and control plane
# stopped), a handle a failed scenario left open cannot hold the run until the timeout.
exec node --import tsx --test --test-concurrency=1 --test-timeout=1200000 --test-force-exit \
  test/faults/fault-matrix.test.ts
