#!/bin/sh
# GET / : who answered (env ID, else the hostname), then MESSAGE when it is set.
printf 'Content-Type: text/plain\r\n\r\n'
echo "${ID:-$(hostname)}"
if [ -n "${MESSAGE:-}" ]; then echo "$MESSAGE"; fi
