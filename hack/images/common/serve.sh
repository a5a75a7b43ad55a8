#!/bin/sh
# Serves /www with busybox httpd. httpd as PID 1 ignores SIGTERM, so this shell stays PID 1
# and turns SIGTERM/SIGINT into a prompt, clean exit.
httpd -f -p "${PORT:-8080}" -h /www &
server=$!
trap 'kill -TERM "$server" 2>/dev/null; wait "$server"; exit 0' TERM INT
wait "$server"
