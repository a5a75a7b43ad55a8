#!/usr/bin/env bash
# npm run test:cluster: Berth installed on a real node from its own image. Runs under
# hack/with-env.sh (control plane, Docker engine, CRDs, test images): starts the node
# (hack/node.sh), builds Berth's image (hack/image.sh) and imports it into the node's
# containerd, runs test/cluster/, and stops the node again, whatever the outcome.
set -euo pipefail
HACK="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HACK/.." && pwd)"
source "$HACK/lib.sh"
[[ "${BERTH_ENV_READY:-}" == 1 ]] || { log "run through hack/with-env.sh (npm run test:cluster does)"; exit 2; }

started=$SECONDS
trap 'bash "$HACK/node.sh" stop' EXIT
bash "$HACK/node.sh" start
image="$(bash "$HACK/image.sh" | tail -n 1)"
bash "$HACK/node.sh" load-image "$image"
log "node and image ready in $((SECONDS - started))s"
cd "$ROOT"
BERTH_IMAGE="$image" node --import tsx --test --test-concurrency=1 test/cluster/*.test.ts
