#!/usr/bin/env bash
# History on vs off (workload B) and replay latency, on chatroom only.
# Usage: [PORT=N] scripts/bench-history.sh RUNS OUTDIR [BIN]
# Server pinned to CPU 0, bench to CPU 1; each server is started fresh on an
# empty data directory and stopped by its PID. Appends JSON lines to
# OUTDIR/results.jsonl (each with "server", "run", "load") and a log.
set -u
RUNS=${1:-2}
OUT=${2:-/tmp/bench-history}
BIN=${3:-target/release/chatroom}
mkdir -p "$OUT"
PORT=${PORT:-16667}
SERVER_PID=

start_server() {
  rm -rf "$OUT/data"
  # Someone else's server on the port would answer in ours' place.
  if (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; then
    echo "port $PORT is already in use (set PORT=...)" >&2
    return 1
  fi
  taskset -c 0 "$BIN" serve --bind 127.0.0.1 --irc-port $PORT --no-line --no-tls \
    --flood-rate 0 --max-per-ip 0 --max-connects-per-ip 0 --max-connections 0 --send-queue 8192 \
    --history-replay-lines 1000 \
    --data-dir "$OUT/data" "$@" >"$OUT/server.out" 2>"$OUT/server.err" &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; then return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "server did not start" >&2
  return 1
}

stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=
  fi
}
trap stop_server EXIT

bench() {
  local name=$1 run=$2; shift 2
  local load; load=$(uptime | sed 's/.*load average: //')
  echo "== $name run $run (load $load): $*" >>"$OUT/log.txt"
  local out
  out=$(taskset -c 1 "$BIN" bench --quiet --json --target 127.0.0.1:$PORT \
        --server-pid "$SERVER_PID" "$@" 2>>"$OUT/log.txt")
  echo "$out" >>"$OUT/log.txt"
  local json; json=$(echo "$out" | tail -1)
  echo "{\"server\":\"$name\",\"run\":$run,\"load\":\"$load\",\"result\":$json}" >>"$OUT/results.jsonl"
}

# On and off alternate in ABBA order (on off, off on, ...): the machine's
# speed drifts over minutes (other tenants), and a fixed order would put
# that drift into every pair's ratio the same way.
for run in $(seq 1 "$RUNS"); do
  if [ $((run % 2)) = 1 ]; then modes="on off"; else modes="off on"; fi
  for mode in $modes; do
    if [ $mode = off ]; then start_server --no-history; else start_server; fi || exit 1
    bench "history-$mode" "$run" fanout -n 50 --window 32 --duration 15 --payload 64
    stop_server
  done
  start_server || exit 1
  bench replay "$run" replay --lines 1000 -n 200 --payload 64
  stop_server
done
