#!/usr/bin/env bash
# The whole suite: static checks, unit tests, then integration and end-to-end tests
# against the real parts (brought up by hack/with-env.sh). Every stage runs; the exit
# status is non-zero when any stage failed, and the failed stages are named at the end.
set -uo pipefail
cd "$(dirname "$0")/.."
# Every stage that needs a control plane uses the tests' own, never npm start's: picked
# (and said) here, before anything runs.
source hack/test-state.sh
# Its own setup on a fresh machine: Debian packages (a no-op when present), npm packages.
bash hack/install-deps.sh || exit 1
[[ -d node_modules ]] || npm ci --no-audit --no-fund || exit 1
failed=()
stage() {
  local name="$1"; shift
  echo; echo "==> $name"
  if ! "$@"; then failed+=("$name"); fi
}
stage "typecheck" npx tsc -p tsconfig.check.json
stage "lint" npx eslint .
stage "format" npx prettier --check --log-level warn .
stage "CRDs match the API types" npx tsx hack/generate-crds.ts --verify
stage "unit tests" npm run --silent test:unit
# What the change touched, mutated (hack/mutation-changed.mjs); bounded by
# BERTH_MUTATION_BUDGET (240 s by default, 0 skips it).
stage "mutation testing of the change" npm run --silent test:mutation:changed
stage "integration tests" npm run --silent test:integration
stage "end-to-end tests" npm run --silent test:e2e
stage "cluster tests" npm run --silent test:cluster
stage "fault matrix" npm run --silent test:faults
echo
if ((${#failed[@]})); then
  echo "FAILED stages: ${failed[*]}"
  exit 1
fi
echo "all stages passed"
