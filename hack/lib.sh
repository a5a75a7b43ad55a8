# Shared settings for the hack/ scripts. Sourced, never run.
KUBE_VERSION="${KUBE_VERSION:-1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
# Prometheus with the Kubernetes service discovery (hack/build-prometheus.sh).
PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-2.55.1}"
BERTH_CACHE="${BERTH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth}"
BERTH_BIN_DIR="$BERTH_CACHE/bin"
BERTH_STATE="${BERTH_STATE:-$BERTH_CACHE/state}"
log() { echo "[berth-hack] $*" >&2; }
# kubectl matching the local control plane's version (built beside it).
KUBE_BIN_DIR="$BERTH_BIN_DIR/kube-$KUBE_VERSION"
