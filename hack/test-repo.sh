#!/usr/bin/env bash
# Creates a local git repository that Berth can build a Definition from: a Containerfile
# FROM scratch with Debian's busybox-static that serves HTTP on 8080 (EXPOSE 8080).
#
#   hack/test-repo.sh DIR [--message TEXT]
#
# DIR is created (it must not exist or be empty). The repository has branch main with one
# commit and the tag v1; GET / answers TEXT (default "hello from source"), GET /healthz "ok".
# Prints the repository's file:// URL.
set -euo pipefail
HACK="$(cd "$(dirname "$0")" && pwd)"
source "$HACK/lib.sh"

usage() { echo "usage: $0 DIR [--message TEXT]" >&2; exit 2; }
(($# >= 1)) || usage
dir="$1"
shift
message="hello from source"
while (($#)); do
  case "$1" in
    --message)
      message="${2:?--message needs a text}"
      shift 2
      ;;
    *) usage ;;
  esac
done

if [[ ! -x /bin/busybox ]] || [[ "$(LC_ALL=C ldd /bin/busybox 2>&1 || true)" != *"not a dynamic executable"* ]]; then
  log "a statically linked /bin/busybox is needed: install Debian's busybox-static"
  exit 1
fi
if [[ -e "$dir" ]] && [[ -n "$(ls -A "$dir")" ]]; then
  log "$dir exists and is not empty"
  exit 1
fi
mkdir -p "$dir/www"
dir="$(cd "$dir" && pwd)"

cp /bin/busybox "$dir/busybox"
cat >"$dir/Containerfile" <<'EOF'
# A service built from source by Berth: busybox httpd on 8080.
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY www/ /www/
COPY serve.sh /serve.sh
EXPOSE 8080
ENTRYPOINT ["/bin/sh", "/serve.sh"]
EOF
cat >"$dir/serve.sh" <<'EOF'
#!/bin/sh
# httpd as PID 1 ignores SIGTERM: this shell stays PID 1 and stops it on TERM/INT.
httpd -f -p 8080 -h /www &
server=$!
trap 'kill -TERM "$server" 2>/dev/null; wait "$server"; exit 0' TERM INT
wait "$server"
EOF
printf '%s\n' "$message" >"$dir/www/index.html"
printf 'ok\n' >"$dir/www/healthz"

git_in() { git -C "$dir" -c user.name="Berth Test" -c user.email="test@berth.invalid" -c commit.gpgsign=false "$@"; }
git_in init --quiet --initial-branch=main
git_in add --all
git_in commit --quiet --message "A service served by busybox httpd"
git_in tag v1
echo "file://$dir"
