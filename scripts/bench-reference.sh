#!/usr/bin/env bash
# The reference workloads of docs/perf.md, side by side: chatroom, ngircd
# and InspIRCd (Debian packages), each in the foreground with its own
# config on a loopback port, pinned to CPU 0; the bench pinned to CPU 1.
#
#   scripts/bench-reference.sh [RUNS] [OUT_DIR]
#
# Needs: cargo build --release; apt-get install -y ngircd inspircd; for
# ONLY=relay, the raw relay (cargo build --release -p chatroom-bench
# --example raw_relay). ONLY also takes chatroom-nohist (--no-history).
# Writes one JSON line per run to OUT_DIR/results.jsonl (with the server,
# the workload, the run number and the machine's load) and each run's
# human summary to OUT_DIR/log.txt. Every server is stopped by its PID.
set -u
RUNS=${1:-2}
OUT=${2:-/tmp/bench-peers/out}
BIN=${BIN:-$(cd "$(dirname "$0")/.." && pwd)/target/release/chatroom}
# cargo build --release -p chatroom-bench --example raw_relay
RELAY=${RELAY:-$(cd "$(dirname "$0")/.." && pwd)/target/release/examples/raw_relay}
PEERS=${PEERS:-/tmp/bench-peers}
ONLY=${ONLY:-"chatroom ngircd inspircd"}
WORKLOADS=${WORKLOADS:-"A B C D D2"}
# chatroom's port (another server on this machine may hold the default).
CHAT_PORT=${CHAT_PORT:-16667}
mkdir -p "$OUT" "$PEERS"
ulimit -n "$(ulimit -Hn)"
HARD=$(ulimit -Hn)

write_configs() {
  cat > "$PEERS/ngircd.conf" <<'EOF'
# ngircd for side-by-side benchmarks: loopback only, throttles off.
[Global]
	Name = bench.ngircd.local
	Info = bench
	Listen = 127.0.0.1
	Ports = 16668
	MotdPhrase = bench
	PidFile = /tmp/bench-peers/ngircd.pid
[Limits]
	MaxConnections = 0
	MaxConnectionsIP = 0
	MaxJoins = 0
	MaxNickLength = 9
	MaxPenaltyTime = 0
	PingTimeout = 600
	PongTimeout = 600
[Options]
	DNS = no
	Ident = no
	PAM = no
EOF
  cat > "$PEERS/inspircd.conf" <<'EOF'
<server name="bench.inspircd.local" description="bench" network="bench">
<admin name="bench" nick="bench" email="bench@bench.invalid">
<bind address="127.0.0.1" port="16669" type="clients">
<connect name="main" allow="*" maxchans="100" timeout="60" pingfreq="600"
         hardsendq="1073741824" softsendq="1048576" recvq="1048576"
         threshold="1000000" commandrate="100000000" fakelag="no"
         localmax="100000" globalmax="100000" maxconnwarn="no"
         resolvehostnames="no" useident="no" useconnectban="no" useconnflood="no" limit="100000">
<channels users="100" opers="100">
<dns server="127.0.0.1" timeout="1">
<pid file="/tmp/bench-peers/inspircd.pid">
<files motd="/etc/inspircd/inspircd.motd">
<options prefixquit="Quit: " syntaxhints="no" announcets="yes" hostintopic="yes" pingwarning="15" splitwhois="no" exemptchanops="">
<security hideserver="" userstats="Pu" customversion="" flatlinks="no" hidesplits="no" hideulines="no" hidebans="no" maxtargets="20">
<performance quietbursts="yes" softlimit="100000" somaxconn="4096" netbuffersize="10240" clonesonconnect="no">
<whowas groupsize="0" maxgroups="0" maxkeep="1">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="/tmp/bench-peers/inspircd.log">
EOF
}

SERVER_PID=
PORT=
CONC=
start_server() {
  local name=$1
  case $name in
    chatroom)
      rm -rf "$PEERS/chat-data"
      # The defaults (history on, the default send queue) but for the
      # limits a benchmark would measure instead of the server.
      taskset -c 0 "$BIN" serve --bind 127.0.0.1 --irc-port "$CHAT_PORT" --no-line --no-tls --no-web --no-mdns \
        --no-metrics --flood-rate 0 --max-per-ip 0 --max-connects-per-ip 0 --max-connections 0 \
        --data-dir "$PEERS/chat-data" >"$PEERS/chatroom.out" 2>"$PEERS/chatroom.err" &
      SERVER_PID=$!; PORT=$CHAT_PORT; CONC=64 ;;
    chatroom-nohist)
      taskset -c 0 "$BIN" serve --bind 127.0.0.1 --irc-port "$CHAT_PORT" --no-line --no-tls --no-web --no-mdns \
        --no-metrics --flood-rate 0 --max-per-ip 0 --max-connects-per-ip 0 --max-connections 0 --no-history \
        --data-dir "$PEERS/chat-data" >"$PEERS/chatroom.out" 2>"$PEERS/chatroom.err" &
      SERVER_PID=$!; PORT=$CHAT_PORT; CONC=64 ;;
    relay)
      # The no-parsing reference of workload B (crates/bench/examples/raw_relay.rs).
      taskset -c 0 "$RELAY" 127.0.0.1:16670 >"$PEERS/relay.out" 2>&1 &
      SERVER_PID=$!; PORT=16670; CONC=64 ;;
    ngircd)
      taskset -c 0 ngircd -n -f "$PEERS/ngircd.conf" >"$PEERS/ngircd.out" 2>&1 &
      SERVER_PID=$!; PORT=16668; CONC=8 ;;
    inspircd)
      taskset -c 0 inspircd --runasroot --nofork --config="$PEERS/inspircd.conf" >"$PEERS/inspircd.out" 2>&1 &
      SERVER_PID=$!; PORT=16669; CONC=512 ;;
  esac
  # Wait (bounded) for the port.
  for _ in $(seq 1 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "$name did not start" >&2
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
  local server=$1 run=$2 wl=$3; shift 3
  local load; load=$(uptime | sed 's/.*load average: //')
  echo "== $server run $run workload $wl (load $load): $*" >>"$OUT/log.txt"
  local out
  out=$(timeout 900 taskset -c 1 "$BIN" bench --quiet --json --target 127.0.0.1:$PORT \
        --server-pid "$SERVER_PID" --concurrency "$CONC" --payload 64 "$@" 2>>"$OUT/log.txt")
  echo "$out" | sed '$d' >>"$OUT/log.txt"
  local json; json=$(echo "$out" | tail -n 1)
  echo "{\"server\":\"$server\",\"run\":$run,\"wl\":\"$wl\",\"load\":\"$load\",\"result\":$json}" >>"$OUT/results.jsonl"
}

write_configs
for run in $(seq 1 "$RUNS"); do
  for server in $ONLY; do
    for wl in $WORKLOADS; do
      # A fresh server for every workload: memory figures start from the same place.
      start_server "$server" || continue
      sleep 1
      case $wl in
        A) bench "$server" "$run" A fanout -n 100 --senders 100 --rate 10 --duration 20 ;;
        B) bench "$server" "$run" B fanout -n 50 --window 32 --duration 15 ;;
        C) bench "$server" "$run" C fanout -n 1000 --senders 10 --rate 10 --duration 20 --timeout 30 ;;
        D) bench "$server" "$run" D idle -n 10000 --workers 2 --sources 4 --hold 3 --timeout 30 ;;
        D2)
          used=$(ls /proc/"$SERVER_PID"/fd | wc -l)
          bench "$server" "$run" D2 idle -n $((HARD - used)) --workers 4 --sources 4 --hold 3 --timeout 30 ;;
      esac
      stop_server
    done
  done
done
echo "results in $OUT/results.jsonl"
