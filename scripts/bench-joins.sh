#!/usr/bin/env bash
# Joins with history on and off (docs/perf.md, "Joins with history on"):
# PAIRS times, a fresh chatroom with history on then one with
# --no-history, each taking N idle IRC clients into rooms of ROOM from the
# independent generator scripts/idle-clients.py (IN_FLIGHT connection
# attempts at a time). Server on CPU 0, generator on CPU 1; nobody is put
# in #lobby (as the peers do) unless LOBBY=1. Prints the machine's load and
# the generator's summary line per run; each server is stopped by its PID.
#
#   scripts/bench-joins.sh            N=10000 ROOM=10 IN_FLIGHT=200 PAIRS=3
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release/chatroom}
N=${N:-10000}
ROOM=${ROOM:-10}
IN_FLIGHT=${IN_FLIGHT:-200}
PAIRS=${PAIRS:-3}
PORT=${PORT:-16767}
WORK=$(mktemp -d /tmp/chatroom-bench-joins.XXXXXX)
ulimit -n "$(ulimit -Hn)"
extra=()
if [ "${LOBBY:-0}" != 1 ]; then
  printf '[hub]\ndefault_rooms = []\n' >"$WORK/nolobby.toml"
  extra=(--config "$WORK/nolobby.toml")
fi
run() {
  local label=$1
  shift
  rm -rf "$WORK/data"
  taskset -c 0 "$BIN" serve --bind 127.0.0.1 --irc-port "$PORT" --no-line --no-tls --no-web --no-mdns \
    --no-metrics --flood-rate 0 --max-per-ip 0 --max-connects-per-ip 0 --max-connections 0 \
    --data-dir "$WORK/data" "${extra[@]}" "$@" >"$WORK/server.out" 2>"$WORK/server.err" &
  local pid=$!
  for _ in $(seq 100); do
    (echo >"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
  done
  echo "$label (load $(cut -d' ' -f1 /proc/loadavg))"
  taskset -c 1 python3 "$ROOT/scripts/idle-clients.py" --port "$PORT" --server-pid "$pid" -n "$N" \
    --room-size "$ROOM" --in-flight "$IN_FLIGHT" --settle 1 --after-quit 0 2>&1 | tail -1
  kill "$pid"
  wait "$pid" 2>/dev/null
}
for i in $(seq "$PAIRS"); do
  run "pair $i: history on"
  run "pair $i: --no-history" --no-history
done
rm -rf "$WORK"
