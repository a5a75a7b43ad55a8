#!/usr/bin/env bash
# Builds Berth's image from the Dockerfile at the repository root.
#
#   hack/image.sh [--tag NAME] [--base IMAGE] [--no-verify]
#
#   --tag NAME     the image to build (default berth:dev, or BERTH_IMAGE)
#   --base IMAGE   the base image (default node:20-bookworm-slim, or BERTH_BASE_IMAGE)
#   --no-verify    skip the checks that run the built image
#
# When the base image is neither present nor pullable (no registry reachable), a local
# stand-in is made instead: the host's own node, npm, git and ssh with the shared
# libraries `ldd` lists and busybox for a shell, imported with `docker import` as
# berth-local/node:<major>. (git is what the agent builds repositories with; the official
# base gets it from apt in the Dockerfile.)
# The stand-in has the same layout as the official image (node and npm in /usr/local/bin),
# so the Dockerfile is the same either way. The stand-in is rebuilt only when the host's
# node changes.
#
# After the build the image is run twice: `id -u` must not be 0, and the CLI must answer
# --help (or, while dist/cli/main.js is missing, node must start and load the
# dependencies).
set -euo pipefail
HACK="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HACK/.." && pwd)"
source "$HACK/lib.sh"
# Debian's client matches Debian's engine and has the classic builder; the newer client
# first on PATH wants buildx.
DOCKER_CLI="${BERTH_DOCKER_CLI:-/usr/bin/docker}"
[[ -x "$DOCKER_CLI" ]] || DOCKER_CLI="$(command -v docker)"

tag="${BERTH_IMAGE:-berth:dev}"
base="${BERTH_BASE_IMAGE:-node:20-bookworm-slim}"
verify=1
while (($#)); do
  case "$1" in
    --tag)
      tag="${2:?--tag needs an image name}"
      shift 2
      ;;
    --base)
      base="${2:?--base needs an image name}"
      shift 2
      ;;
    --no-verify)
      verify=0
      shift
      ;;
    *)
      echo "usage: $0 [--tag NAME] [--base IMAGE] [--no-verify]" >&2
      exit 2
      ;;
  esac
done

"$HACK/docker.sh" ensure >/dev/null
export DOCKER_HOST="${DOCKER_HOST:-unix:///var/run/docker.sock}"
docker_cli() { "$DOCKER_CLI" "$@"; }

STANDIN_HASH_LABEL=berth.dev/standin-hash
# Bump when standin_rootfs changes what goes into the stand-in.
STANDIN_LAYOUT=2

# Files of the stand-in base: node, npm, their libraries, busybox, users.
standin_rootfs() {
  local rootfs="$1" node npm_dir lib
  node="$(readlink -f "$(command -v node)")"
  npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
  mkdir -p "$rootfs"/{bin,etc,tmp,usr/bin,usr/local/bin,usr/local/lib/node_modules}
  chmod 1777 "$rootfs/tmp"
  cp "$node" "$rootfs/usr/local/bin/node"
  cp -R "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  mkdir -p "$rootfs/usr/lib"
  cp /usr/bin/git /usr/bin/ssh "$rootfs/usr/bin/"
  cp -a /usr/lib/git-core "$rootfs/usr/lib/git-core"
  # ldd prints "name => /path (addr)" or "/path (addr)" for the loader itself.
  for lib in $( (ldd "$node" && ldd /usr/bin/git && ldd /usr/bin/ssh && ldd /usr/lib/git-core/git-remote-http) |
    grep -o '/[^ ]*' | sort -u); do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
  cp /bin/busybox "$rootfs/bin/busybox"
  local applet
  for applet in sh env id ls cat rm mkdir cp mv chmod chown ln grep sed tar; do
    ln -s busybox "$rootfs/bin/$applet"
  done
  ln -s ../../bin/env "$rootfs/usr/bin/env"
  printf 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnode:x:1000:\n' >"$rootfs/etc/group"
  mkdir -p "$rootfs/root" "$rootfs/home/node"
}

standin_hash() {
  {
    echo "layout $STANDIN_LAYOUT"
    sha256sum "$(readlink -f "$(command -v node)")" /bin/busybox /usr/bin/git /usr/bin/ssh | cut -d' ' -f1
    node --version
    npm --version 2>/dev/null
  } | sha256sum | cut -c1-32
}

ensure_standin() {
  local major ref hash current rootfs
  major="$(node -p 'process.versions.node.split(".")[0]')"
  ref="berth-local/node:$major"
  hash="$(standin_hash)"
  current="$(docker_cli image inspect -f "{{index .Config.Labels \"$STANDIN_HASH_LABEL\"}}" "$ref" 2>/dev/null || true)"
  if [[ "$current" != "$hash" ]]; then
    if [[ ! -x /bin/busybox || ! -x /usr/bin/git || ! -x /usr/bin/ssh ]]; then
      log "installing what the stand-in is made of: Debian's busybox-static, git, openssh-client"
      apt-get update >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y busybox-static git openssh-client >&2
    fi
    rootfs="$(mktemp -d)"
    # shellcheck disable=SC2064 # expand now: the trap must remove this very directory
    trap "rm -rf '$rootfs'" RETURN
    standin_rootfs "$rootfs"
    log "importing the stand-in base $ref (node $(node --version) from this machine)"
    tar -C "$rootfs" -c . | docker_cli import \
      --change "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin" \
      --change "LABEL $STANDIN_HASH_LABEL=$hash" \
      --change 'CMD ["node"]' \
      - "$ref" >/dev/null
  fi
  echo "$ref"
}

resolve_base() {
  if docker_cli image inspect "$base" >/dev/null 2>&1; then
    echo "$base"
    return
  fi
  log "pulling $base"
  if timeout 60 "$DOCKER_CLI" pull -q "$base" >/dev/null 2>&1; then
    echo "$base"
    return
  fi
  log "$base cannot be pulled here: building on a local stand-in with the same layout"
  ensure_standin
}

base_ref="$(resolve_base)"
log "building $tag FROM $base_ref"
started=$SECONDS
DOCKER_BUILDKIT=0 docker_cli build -q --build-arg "BASE_IMAGE=$base_ref" -t "$tag" "$ROOT" >/dev/null
log "built $tag in $((SECONDS - started))s ($(docker_cli image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'))"

if ((verify)); then
  uid="$(docker_cli run --rm --entrypoint id "$tag" -u)"
  if [[ "$uid" == 0 ]]; then
    log "FAIL: $tag runs as root"
    exit 1
  fi
  if docker_cli run --rm --entrypoint sh "$tag" -c 'test -f dist/cli/main.js'; then
    docker_cli run --rm "$tag" --help >/dev/null
    log "verified: $tag runs as uid $uid and answers --help"
  else
    docker_cli run --rm --entrypoint node "$tag" --input-type=module \
      -e 'for (const m of ["@kubernetes/client-node", "dockerode", "prom-client", "winston", "yaml"]) await import(m);' \
      >/dev/null
    log "verified: $tag runs as uid $uid and loads its dependencies (dist/cli/main.js is not built yet)"
  fi
fi
echo "$tag"
