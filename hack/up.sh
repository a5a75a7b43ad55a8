#!/usr/bin/env bash
# `npm start`: Berth's main job on a local default. Installs what it needs, brings up (or
# reuses) the local control plane and Docker engine, installs the CRDs, runs Berth in its
# all-in-one role with this machine registered as a Node, applies an example Definition
# and prints where to look. Ctrl-C stops what this script started, and nothing else.
#
# A terminal's Ctrl-C is a SIGINT to the whole foreground process group: npm, this script
# and whatever runs in the foreground, and npm forwards it to this script once more. So
# Berth runs in a session of its own (it must outlive the signal to remove the example),
# and the cleanup ignores further SIGINTs until it is done.
#
# With BERTH_USE_KUBECONFIG=1 and KUBECONFIG set, the cluster KUBECONFIG points at is used.
set -euo pipefail
HACK="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HACK/.." && pwd)"
source "$HACK/lib.sh"
cd "$ROOT"

METRICS_ADDR="${BERTH_METRICS_BIND_ADDRESS:-127.0.0.1:9464}"
REGISTRY_ADDR="${BERTH_REGISTRY_BIND_ADDRESS:-127.0.0.1:9470}"
NODE_NAME="${BERTH_NODE_NAME:-local}"
EXAMPLE="$ROOT/manifests/examples/hello.yaml"
# Repositories Definitions may build from with a file:// URL (hack/test-repo.sh DIR makes one).
REPOSITORIES="$BERTH_STATE/repositories"

bash "$HACK/install-deps.sh"
[[ -d node_modules ]] || npm ci --no-audit --no-fund

started_at=$SECONDS
started_controlplane=0 started_docker=0 berth_pid=""
if [[ "${BERTH_USE_KUBECONFIG:-0}" == 1 && -n "${KUBECONFIG:-}" ]]; then
  log "using the cluster from KUBECONFIG=$KUBECONFIG"
else
  if ! "$HACK/controlplane.sh" status >/dev/null 2>&1; then started_controlplane=1; fi
  "$HACK/controlplane.sh" start
  export KUBECONFIG="$BERTH_STATE/controlplane/kubeconfig"
  export PATH="$KUBE_BIN_DIR:$PATH"
fi
if ! "$HACK/docker.sh" status >/dev/null 2>&1; then started_docker=1; fi
DOCKER_URL="$("$HACK/docker.sh" ensure | tail -n 1)"
export DOCKER_HOST="$DOCKER_URL"

cleanup() {
  # The second SIGINT (npm forwards the terminal's) must not end the cleanup half way; the
  # commands below inherit the ignored signal.
  trap '' INT TERM
  trap - EXIT
  local stopping_at=$SECONDS
  echo
  log "stopping"
  kubectl delete -f "$EXAMPLE" --ignore-not-found --wait=true --timeout=60s >/dev/null 2>&1 || true
  if [[ -n "$berth_pid" ]] && kill -0 "$berth_pid" 2>/dev/null; then
    kill -TERM "$berth_pid" 2>/dev/null || true
    wait "$berth_pid" 2>/dev/null || true
  fi
  if ((started_docker)); then "$HACK/docker.sh" stop || true; fi
  if ((started_controlplane)); then "$HACK/controlplane.sh" stop || true; fi
  log "stopped in $((SECONDS - stopping_at)) s"
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap cleanup EXIT

kubectl apply --server-side --force-conflicts -k "$ROOT/crds/" >/dev/null
kubectl wait --for condition=Established --timeout=60s crd/definitions.berth.dev crd/instances.berth.dev crd/nodes.berth.dev >/dev/null
kubectl create namespace berth-system --dry-run=client -o yaml | kubectl apply -f - >/dev/null
"$HACK/images/build.sh" >/dev/null

mkdir -p "$BERTH_STATE/logs" "$REPOSITORIES"
# In a session of its own: Ctrl-C in the terminal reaches this script's process group, and
# Berth must outlive it until the cleanup below has removed the example through it.
setsid node --import tsx controller/src/cli/main.ts all \
  --node-name "$NODE_NAME" --url "$DOCKER_URL" --address 127.0.0.1 \
  --allow-file-repositories "$REPOSITORIES" \
  --metrics-bind-address "$METRICS_ADDR" --log-format text \
  --registry-bind-address "$REGISTRY_ADDR" --registry-allow-anonymous-loopback \
  > "$BERTH_STATE/logs/berth.log" 2>&1 &
berth_pid=$!

kubectl apply -f "$EXAMPLE" >/dev/null
log "waiting for the example Definition 'hello' to be ready"
if ! kubectl wait --for=condition=Ready definition/hello --timeout=120s >/dev/null; then
  log "the example did not become ready; Berth's log: $BERTH_STATE/logs/berth.log"
  kubectl describe definition hello || true
  tail -n 30 "$BERTH_STATE/logs/berth.log" >&2 || true
  exit 1
fi
address="$(kubectl get definition hello -o jsonpath='{.status.addresses[0]}')"

cat <<MSG

Berth is running (all-in-one role, node "$NODE_NAME", engine $DOCKER_URL), up in $((SECONDS - started_at)) s.

  eval "\$(bash hack/controlplane.sh env)"   # KUBECONFIG=$KUBECONFIG, matching kubectl on PATH
  kubectl get berth                      # Definitions, Instances and Nodes
  kubectl get definition hello -o jsonpath='{.status.addresses}'
  curl $address                 # the example answers here

  web UI:   http://$REGISTRY_ADDR/   (services, their addresses and APIs, Instances and Nodes, live)
  registry: http://$REGISTRY_ADDR (anonymous reads from this machine only; docs/registry.md)
  curl http://$REGISTRY_ADDR/v1/namespaces/default/services/hello

  metrics:  http://$METRICS_ADDR/metrics
  health:   http://$METRICS_ADDR/healthz
  log:      $BERTH_STATE/logs/berth.log

Apply your own: kubectl apply -f manifests/examples/ (runs with no internet; internet/ and admin/ do not)
Build from a local repository: hack/test-repo.sh $REPOSITORIES/app, then a Definition with
repository.url file://$REPOSITORIES/app (file:// is allowed under $REPOSITORIES only).
Ctrl-C stops what this started; Definitions you applied stay. README.md, "The local default".
MSG
wait "$berth_pid"
