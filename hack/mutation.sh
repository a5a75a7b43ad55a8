#!/usr/bin/env bash
# Mutation testing, one module at a time (see stryker.config.mjs for the modules), at the
# lowest CPU priority: it is heavy and the suite's machines are small.
#   hack/mutation.sh                 every module
#   hack/mutation.sh scheduler ...   only these
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -eq 0 ]]; then
  mapfile -t modules < <(node -e 'import("./stryker.config.mjs").then((m) => console.log(Object.keys(m.MODULES).join("\n")))')
else
  modules=("$@")
fi
mkdir -p reports/mutation
for module in "${modules[@]}"; do
  echo "==> mutation testing: $module"
  BERTH_MUTATION_MODULE="$module" nice -n 19 npx stryker run stryker.config.mjs
done
