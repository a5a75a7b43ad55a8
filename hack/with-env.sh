#!/usr/bin/env bash
# Runs a command with Berth's real parts up: a Kubernetes API server (the local control
# plane, or the cluster KUBECONFIG already points at), a Docker engine, the CRDs applied
# and the test images built. Exports KUBECONFIG and DOCKER_HOST for the command.
#
#   hack/with-env.sh COMMAND [ARGS...]
#
# BERTH_USE_KUBECONFIG=1 with KUBECONFIG set uses that cluster instead of the local one.
set -euo pipefail
HACK="$(cd "$(dirname "$0")" && pwd)"
# The tests' own control plane unless BERTH_STATE names another (hack/test-state.sh).
source "$HACK/test-state.sh"
ROOT="$(cd "$HACK/.." && pwd)"
source "$HACK/lib.sh"

if [[ "${BERTH_USE_KUBECONFIG:-0}" == 1 && -n "${KUBECONFIG:-}" ]]; then
  log "using the cluster from KUBECONFIG=$KUBECONFIG"
else
  "$HACK/controlplane.sh" start
  export KUBECONFIG="$BERTH_STATE/controlplane/kubeconfig"
  # kubectl of the control plane's own version (no client/server skew)
  export PATH="$KUBE_BIN_DIR:$PATH"
fi

"$HACK/docker.sh" ensure >/dev/null
export DOCKER_HOST="${DOCKER_HOST:-unix:///var/run/docker.sock}"

kubectl apply --server-side --force-conflicts -k "$ROOT/crds/" >/dev/null
kubectl wait --for condition=Established --timeout=60s crd/definitions.berth.dev crd/instances.berth.dev crd/nodes.berth.dev >/dev/null
kubectl create namespace berth-system --dry-run=client -o yaml | kubectl apply -f - >/dev/null

"$HACK/images/build.sh"

export BERTH_ENV_READY=1
exec "$@"
