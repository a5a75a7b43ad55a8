# Sourced, never run: where the tests' control plane lives. Tests, benchmarks and
# `npm start` never share a control plane: cluster-wide controllers of a running local
# default would act on the tests' objects. Unless BERTH_STATE says otherwise, the tests'
# control plane lives in a state directory of its own on a port of its own, and stays up
# for the next run. Says so once, when the first script that sources it picks them.
if [[ -z "${BERTH_STATE:-}" ]]; then
  export BERTH_STATE="${BERTH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth}/test-state"
  export BERTH_APISERVER_PORT="${BERTH_APISERVER_PORT:-46453}"
  echo "[berth-hack] tests use a control plane of their own ($BERTH_STATE, port $BERTH_APISERVER_PORT), not npm start's; it stays up for the next run (to stop it: BERTH_STATE=$BERTH_STATE bash hack/controlplane.sh stop)" >&2
fi
