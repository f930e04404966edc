#!/usr/bin/env bash
# Runs the web app's browser tests: installs the pinned node packages when
# node_modules is missing or older than the lock file, Debian's Chromium when
# it is missing, and runs `node --test`. Builds nothing: CHATROOM_BIN (default
# target/debug/chatroom from the repository root) must exist.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  echo "installing Debian's chromium for the browser tests"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
export CHATROOM_BIN="${CHATROOM_BIN:-$root/target/debug/chatroom}"
case "$CHATROOM_BIN" in /*) ;; *) CHATROOM_BIN="$root/$CHATROOM_BIN" ;; esac
if [ ! -x "$CHATROOM_BIN" ]; then
  echo "no server binary at $CHATROOM_BIN (cargo build -p chatroom first)" >&2; exit 1
fi
exec node --test --test-concurrency=1 "$@" ./*.test.mjs
