#!/usr/bin/env bash
# The whole suite: static checks, unit tests, then integration and end-to-end tests
# against the real parts (brought up by hack/with-env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -d node_modules ]] || npm ci --no-audit --no-fund
step() { echo; echo "==> $*"; }
step "typecheck"; npx tsc -p tsconfig.check.json
step "lint"; npx eslint .
step "CRDs match the API types"; npx tsx hack/generate-crds.ts --verify
step "unit tests"; npm run --silent test:unit
step "integration tests"; npm run --silent test:integration
step "end-to-end tests"; npm run --silent test:e2e
