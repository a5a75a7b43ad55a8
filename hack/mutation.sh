#!/usr/bin/env bash
# Mutation testing, one module at a time (see stryker.config.mjs for the modules), at the
# lowest CPU priority: it is heavy and the suite's machines are small.
#   hack/mutation.sh                     every module
#   hack/mutation.sh scheduler ...       only these
#   hack/mutation.sh --changed [BASE]    the time-bounded pass over what changed since BASE
#                                        (hack/mutation-changed.mjs says how)
# Each module keeps its incremental file in reports/mutation/ (keep that directory between
# runs, a CI cache for instance): a later full run re-tests only the mutants a change touched.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "--changed" ]]; then
  shift
  exec node hack/mutation-changed.mjs "$@"
elif [[ $# -eq 0 ]]; then
  mapfile -t modules < <(node -e 'import("./stryker.config.mjs").then((m) => console.log(Object.keys(m.MODULES).join("\n")))')
else
  modules=("$@")
fi
mkdir -p reports/mutation
failed=()
for module in "${modules[@]}"; do
  echo "==> mutation testing: $module"
  status=0
  BERTH_MUTATION_MODULE="$module" nice -n 19 npx stryker run stryker.config.mjs || status=$?
  if ((status != 0)); then failed+=("$module"); fi
done
if ((${#failed[@]})); then
  echo "mutation testing failed: ${failed[*]}"
  exit 1
fi
