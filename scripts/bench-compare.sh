#!/usr/bin/env bash
# Two builds of chatroom on the reference workloads, in ABBA order, so that
# a change can be judged against run-to-run noise: pair 1 runs OLD then NEW,
# pair 2 NEW then OLD, and so on; each run on a fresh server (the same
# flags as scripts/bench-reference.sh; `Bh` is B with history on, as in
# scripts/bench-history.sh), server on CPU 0, the bench (always NEW's) on
# CPU 1, each server stopped by its PID.
#
#   scripts/bench-compare.sh OLD_BIN NEW_BIN [PAIRS] [OUT_DIR]
#   WORKLOADS="A B Bh D" (default)   scripts/bench-compare-table.py OUT_DIR/results.jsonl
set -u
OLD=$1
NEW=$2
PAIRS=${3:-5}
OUT=${4:-/tmp/bench-compare}
WORKLOADS=${WORKLOADS:-"A B Bh D"}
PORT=${PORT:-16667}
mkdir -p "$OUT"
ulimit -n "$(ulimit -Hn)"
SERVER_PID=

start_server() { # binary, history on?
  rm -rf "$OUT/data"
  if (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; then
    echo "port $PORT is already in use (set PORT=...)" >&2
    return 1
  fi
  local history=--no-history
  [ "$2" = on ] && history="--history-replay-lines 1000"
  # shellcheck disable=SC2086
  taskset -c 0 "$1" serve --bind 127.0.0.1 --irc-port "$PORT" --no-line --no-tls \
    --flood-rate 0 --max-per-ip 0 --max-connects-per-ip 0 --max-connections 0 --send-queue 8192 $history \
    --data-dir "$OUT/data" >"$OUT/server.out" 2>"$OUT/server.err" &
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

one() { # label, binary, pair, workload
  local label=$1 bin=$2 pair=$3 wl=$4 history=off
  [ "$wl" = Bh ] && history=on
  start_server "$bin" "$history" || return
  sleep 1
  local args
  case $wl in
    A) args="fanout -n 100 --senders 100 --rate 10 --duration 20" ;;
    B | Bh) args="fanout -n 50 --window 32 --duration 15" ;;
    D) args="idle -n 10000 --workers 2 --sources 4 --hold 3 --timeout 30" ;;
  esac
  local load; load=$(uptime | sed 's/.*load average: //')
  echo "== $label pair $pair $wl (load $load)" >>"$OUT/log.txt"
  local out
  # shellcheck disable=SC2086
  out=$(timeout 900 taskset -c 1 "$NEW" bench --quiet --json --target 127.0.0.1:$PORT \
        --server-pid "$SERVER_PID" --concurrency 64 --payload 64 $args 2>>"$OUT/log.txt")
  echo "$out" | sed '$d' >>"$OUT/log.txt"
  local json; json=$(echo "$out" | tail -n 1)
  echo "{\"build\":\"$label\",\"pair\":$pair,\"wl\":\"$wl\",\"load\":\"$load\",\"result\":$json}" >>"$OUT/results.jsonl"
  stop_server
}

for pair in $(seq 1 "$PAIRS"); do
  for wl in $WORKLOADS; do
    if [ $((pair % 2)) -eq 1 ]; then
      one old "$OLD" "$pair" "$wl"; one new "$NEW" "$pair" "$wl"
    else
      one new "$NEW" "$pair" "$wl"; one old "$OLD" "$pair" "$wl"
    fi
  done
done
echo "results in $OUT/results.jsonl"
