#!/usr/bin/env bash
# Mutation testing, one module at a time (see stryker.config.mjs for the modules), at the
# lowest CPU priority: it is heavy and the suite's machines are small.
#   hack/mutation.sh                     every module
#   hack/mutation.sh scheduler ...       only these
#   hack/mutation.sh --changed [BASE]    only the modules whose code or unit tests differ from
#                                        BASE (default: main), each stopped after
#                                        BERTH_MUTATION_BUDGET seconds (default 600); a module
#                                        stopped at its budget fails the run
# Each module keeps its incremental file in reports/mutation/ (keep that directory between
# runs, a CI cache for instance): a later run re-tests only the mutants a change touched.
set -euo pipefail
cd "$(dirname "$0")/.."
budget="${BERTH_MUTATION_BUDGET:-0}"
if [[ "${1:-}" == "--changed" ]]; then
  base="${2:-main}"
  budget="${BERTH_MUTATION_BUDGET:-600}"
  changed="$(git diff --name-only "$(git merge-base "$base" HEAD)" --)"
  mapfile -t modules < <(CHANGED="$changed" node -e '
    import("./stryker.config.mjs").then(({ MODULES }) => {
      const changed = new Set(process.env.CHANGED.split("\n"));
      for (const [name, m] of Object.entries(MODULES))
        if ([...m.mutate, ...m.tests].some((file) => changed.has(file))) console.log(name);
    })')
  if [[ ${#modules[@]} -eq 0 ]]; then
    echo "==> mutation testing: no module's code or unit tests differ from $base"
    exit 0
  fi
elif [[ $# -eq 0 ]]; then
  mapfile -t modules < <(node -e 'import("./stryker.config.mjs").then((m) => console.log(Object.keys(m.MODULES).join("\n")))')
else
  modules=("$@")
fi
mkdir -p reports/mutation
failed=()
for module in "${modules[@]}"; do
  echo "==> mutation testing: $module"
  run=(nice -n 19 npx stryker run stryker.config.mjs)
  if ((budget > 0)); then run=(timeout --signal=INT --kill-after=30 "$budget" "${run[@]}"); fi
  status=0
  BERTH_MUTATION_MODULE="$module" "${run[@]}" || status=$?
  if ((status == 124)); then
    echo "mutation testing of $module stopped at its budget of $budget s: not every mutant was tested"
  fi
  if ((status != 0)); then failed+=("$module"); fi
done
if ((${#failed[@]})); then
  echo "mutation testing failed or did not finish: ${failed[*]}"
  exit 1
fi
