#!/usr/bin/env bash
# Builds the test images offline, FROM scratch with Debian's busybox-static:
#   berth-test/echo:1  berth-test/exit:1  berth-test/unhealthy:1  berth-test/openapi:1
#   (see README.md here)
#
#   hack/images/build.sh [--engine SOCKET|URL]
#
# The engine is DOCKER_HOST (or the default socket) unless --engine names another one,
# such as an extra engine from hack/engines.sh. An image is rebuilt only when its inputs
# changed: each carries a label with a hash of its build context.
set -euo pipefail
HACK_DIR="$(cd "$(dirname "$0")/.." && pwd)"
source "$HACK_DIR/lib.sh"
IMAGES_DIR="$HACK_DIR/images"
IMAGES=(echo exit unhealthy openapi)
TAG=1
HASH_LABEL=berth.dev/test-image-hash
# Debian's client matches Debian's engine; the newer client first on PATH may not.
DOCKER_CLI="${BERTH_DOCKER_CLI:-/usr/bin/docker}"

engine="${DOCKER_HOST:-unix:///var/run/docker.sock}"
while (($#)); do
  case "$1" in
    --engine)
      engine="${2:?--engine needs a socket path or URL}"
      shift 2
      ;;
    *)
      echo "usage: $0 [--engine SOCKET|URL]" >&2
      exit 2
      ;;
  esac
done
[[ "$engine" == /* ]] && engine="unix://$engine"

if [[ ! -x /bin/busybox ]]; then
  log "busybox is missing: installing Debian's busybox-static"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y busybox-static
fi
# ldd fails on a static binary, which is the answer we want.
if [[ "$(LC_ALL=C ldd /bin/busybox 2>&1 || true)" != *"not a dynamic executable"* ]]; then
  log "/bin/busybox is not statically linked: install busybox-static (it replaces busybox)"
  exit 1
fi

docker_cli() { "$DOCKER_CLI" -H "$engine" "$@"; }

# Everything that goes into an image's context, in a stable order, hashed.
context_hash() {
  local name="$1"
  {
    sha256sum /bin/busybox | cut -d' ' -f1
    (cd "$IMAGES_DIR/common" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
    (cd "$IMAGES_DIR/$name" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
  } | sha256sum | cut -c1-32
}

build_image() {
  local name="$1" ref="berth-test/$1:$TAG" hash current
  hash="$(context_hash "$name")"
  current="$(docker_cli image inspect -f "{{index .Config.Labels \"$HASH_LABEL\"}}" "$ref" 2>/dev/null || true)"
  if [[ "$current" == "$hash" ]]; then
    log "$ref is up to date"
    return
  fi
  local context
  context="$(mktemp -d)"
  # shellcheck disable=SC2064 # expand now: the trap must remove this very directory
  trap "rm -rf '$context'" RETURN
  cp /bin/busybox "$context/busybox"
  cp -R "$IMAGES_DIR/common/." "$IMAGES_DIR/$name/." "$context/"
  # Scripts must be executable in the image whatever the checkout's file modes are.
  find "$context" -type f \( -name '*.sh' -o -name '*.cgi' -o -path '*/cgi-bin/*' \) -exec chmod 0755 {} +
  local started=$SECONDS
  log "building $ref"
  DOCKER_BUILDKIT=0 docker_cli build -q --label "$HASH_LABEL=$hash" -t "$ref" -f "$context/Containerfile" "$context" >/dev/null
  log "built $ref in $((SECONDS - started))s"
}

for image in "${IMAGES[@]}"; do build_image "$image"; done
