#!/usr/bin/env bash
# The idle matrix of docs/perf.md ("Idle memory under anyone's load"):
# 10,000 idle IRC clients against chatroom, ngIRCd and InspIRCd in one
# invocation, for every arrival pattern (connection attempts in flight)
# and room size asked for, measured by two generators: `chatroom bench
# idle` and the independent scripts/idle-clients.py. Every run starts a
# fresh server pinned to CPU 0 (the generator on CPU 1) and stops it by
# its PID.
#
#   scripts/bench-idle.sh [OUT_DIR]
#
#   PATTERNS="200:10 20:10 2000:10 200:1 200:100"  in-flight:room-size pairs
#   SERVERS="chatroom chatroom-nolobby ngircd inspircd"
#   GENERATORS="bench py"   N=10000   HOLD=3   AFTER_QUIT=30
#   SKIP="inspircd:20"      server:in-flight[:generator] not to run (InspIRCd
#                           registers about one client a second per slot;
#                           idle-clients.py reads chatroom's #lobby storm,
#                           50 M lines, slowly on a loaded machine)
#
# chatroom runs with its defaults (history on, every client also put into
# #lobby); "chatroom-nolobby" is the same with `[hub] default_rooms = []`,
# like the peers, which put nobody anywhere. Both generators' clients stay
# in whatever room the server put them in and read everything.
# Needs: cargo build --release -p chatroom; apt-get install -y ngircd inspircd.
# Writes OUT_DIR/results.jsonl (one line per run: server, generator,
# pattern, the machine's load, the generator's JSON) and OUT_DIR/log.txt;
# scripts/bench-idle-table.py turns the first into the tables of perf.md.
set -u
OUT=${1:-/tmp/bench-idle}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release/chatroom}
PEERS=${PEERS:-/tmp/bench-peers}
PATTERNS=${PATTERNS:-"200:10 20:10 2000:10 200:1 200:100"}
SERVERS=${SERVERS:-"chatroom chatroom-nolobby ngircd inspircd"}
GENERATORS=${GENERATORS:-"bench py"}
N=${N:-10000}
HOLD=${HOLD:-3}
AFTER_QUIT=${AFTER_QUIT:-30}
SKIP=${SKIP:-"inspircd:20"}
CHAT_PORT=${CHAT_PORT:-16667}
mkdir -p "$OUT" "$PEERS"
ulimit -n "$(ulimit -Hn)"

# The peers' configurations are the reference script's.
# shellcheck disable=SC1090
eval "$(sed -n '/^write_configs() {/,/^}/p' "$ROOT/scripts/bench-reference.sh")"
write_configs
printf '[hub]\ndefault_rooms = []\n' >"$PEERS/nolobby.toml"

SERVER_PID=
PORT=
start_server() {
  case $1 in
    chatroom | chatroom-nolobby)
      local extra=()
      [ "$1" = chatroom-nolobby ] && extra=(--config "$PEERS/nolobby.toml")
      rm -rf "$PEERS/chat-data"
      taskset -c 0 "$BIN" serve --bind 127.0.0.1 --irc-port "$CHAT_PORT" --no-line --no-tls --no-web \
        --flood-rate 0 --max-per-ip 0 --max-connects-per-ip 0 --max-connections 0 \
        --data-dir "$PEERS/chat-data" "${extra[@]}" >"$PEERS/chatroom.out" 2>"$PEERS/chatroom.err" &
      SERVER_PID=$!; PORT=$CHAT_PORT ;;
    ngircd)
      taskset -c 0 ngircd -n -f "$PEERS/ngircd.conf" >"$PEERS/ngircd.out" 2>&1 &
      SERVER_PID=$!; PORT=16668 ;;
    inspircd)
      taskset -c 0 inspircd --runasroot --nofork --config="$PEERS/inspircd.conf" >"$PEERS/inspircd.out" 2>&1 &
      SERVER_PID=$!; PORT=16669 ;;
  esac
  for _ in $(seq 1 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "$1 did not start" >&2
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

for pattern in $PATTERNS; do
  inflight=${pattern%%:*}
  room=${pattern##*:}
  for server in $SERVERS; do
    case " $SKIP " in *" $server:$inflight "*) continue ;; esac
    for gen in $GENERATORS; do
      case " $SKIP " in *" $server:$inflight:$gen "*) continue ;; esac
      start_server "$server" || continue
      sleep 1
      load=$(uptime | sed 's/.*load average: //')
      echo "== $server $gen in-flight $inflight room $room (load $load)" | tee -a "$OUT/log.txt"
      if [ "$gen" = bench ]; then
        out=$(timeout 1200 taskset -c 1 "$BIN" bench idle --quiet --json --target 127.0.0.1:$PORT \
          --server-pid "$SERVER_PID" -n "$N" --room-size "$room" --in-flight "$inflight" --workers 1 \
          --source-addr 127.0.0.1,127.0.0.2 --stay --hold "$HOLD" --after-quit "$AFTER_QUIT" \
          --timeout 120 --max-time 1100 2>>"$OUT/log.txt")
      else
        out=$(timeout 1200 taskset -c 1 python3 "$ROOT/scripts/idle-clients.py" --port "$PORT" \
          --server-pid "$SERVER_PID" -n "$N" --room-size "$room" --in-flight "$inflight" \
          --sources 127.0.0.1,127.0.0.2 --settle "$HOLD" --after-quit "$AFTER_QUIT" \
          --timeout 120 --max-time 1100 --json 2>>"$OUT/log.txt")
      fi
      echo "$out" | sed '$d' | tee -a "$OUT/log.txt"
      json=$(echo "$out" | tail -n 1)
      case $json in
        '{'*) echo "{\"server\":\"$server\",\"gen\":\"$gen\",\"in_flight\":$inflight,\"room\":$room,\"load\":\"$load\",\"result\":$json}" >>"$OUT/results.jsonl" ;;
        *) echo "   (no result)" | tee -a "$OUT/log.txt" ;;
      esac
      stop_server
    done
  done
done
echo "results in $OUT/results.jsonl"
