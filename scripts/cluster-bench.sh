#!/usr/bin/env bash
# Fan-out through a chatroom cluster on this machine: one nats-server (with
# JetStream) and N chatroom nodes on loopback, `chatroom bench` spreading
# its clients over the nodes (--also-target), and the CPU every process
# used (utime+stime from /proc/PID/stat) per message sent. N=0 runs one
# chatroom without --cluster, for comparison.
#
#   scripts/cluster-bench.sh N [bench arguments...]
#   scripts/cluster-bench.sh 3 fanout -n 100 --senders 100 --rate 10 --duration 20 --payload 64
#
# Uses target/release/chatroom (cargo build --release -p chatroom).
# Everything it starts is killed by PID at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:?number of nodes (0: no cluster)}
shift
bin=target/release/chatroom
[ -x "$bin" ] || { echo "build $bin first" >&2; exit 1; }
command -v nats-server >/dev/null || { echo "nats-server is missing (apt-get install nats-server)" >&2; exit 1; }
dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { # utime+stime of a process, in clock ticks
  awk '{print $14+$15}' "/proc/$1/stat"
}

args=()
if [ "$n" -gt 0 ]; then
  nport=$(free_port)
  nats-server -js -sd "$dir/js" -a 127.0.0.1 -p "$nport" >"$dir/nats.log" 2>&1 &
  pids+=($!)
  nats_pid=$!
  for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$nport") 2>/dev/null && break; sleep 0.05; done
fi
targets=()
nodes=$(( n > 0 ? n : 1 ))
for i in $(seq 1 "$nodes"); do
  port=$(free_port)
  cluster=()
  [ "$n" -gt 0 ] && cluster=(--cluster "nats://127.0.0.1:$nport" --node-name "n$i")
  "$bin" serve --bind 127.0.0.1 --irc-port "$port" --no-line --no-tls --no-web --no-mdns \
    --no-metrics --flood-rate 0 --max-connects-per-ip 0 --max-connections-per-ip 0 \
    --data-dir "$dir/d$i" "${cluster[@]}" >"$dir/n$i.out" 2>"$dir/n$i.err" &
  pids+=($!)
  node_pids+=($!)
  for _ in $(seq 200); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
  targets+=("127.0.0.1:$port")
done
extra=()
for t in "${targets[@]:1}"; do extra+=(--also-target "$t"); done

watched=("${node_pids[@]}")
[ "$n" -gt 0 ] && watched+=("$nats_pid")
before=0
for p in "${watched[@]}"; do before=$((before + $(cpu_ticks "$p"))); done
"$bin" bench "$@" --target "${targets[0]}" "${extra[@]}" --json >"$dir/bench.json" || { cat "$dir/bench.json"; tail -5 "$dir"/n1.err; }
after=0
per=()
for p in "${watched[@]}"; do
  t=$(cpu_ticks "$p")
  after=$((after + t))
  per+=("$(tr -d '\0' <"/proc/$p/comm"):$t")
done
echo "cpu ticks by process (before the run: $before in all): ${per[*]}"
hz=$(getconf CLK_TCK)
python3 - "$dir/bench.json" "$((after - before))" "$hz" "$n" <<'EOF'
import json, sys
r = json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][-1])
ticks, hz, n = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sent, received = r["sent"], r["received"]
cpu = ticks / hz
lat = r["latency"]
print(f"nodes={n} sent={sent} received={received} lost={r['lost']} errors={r['errors']} "
      f"sent/s={r['sent_per_s']:.0f} deliveries/s={r['deliveries_per_s']:.0f} "
      f"p50={lat['p50_us']:.0f}us p99={lat['p99_us']:.0f}us max={lat['max_us']:.0f}us "
      f"server_cpu={cpu:.2f}s cpu/sent={cpu * 1e6 / max(sent, 1):.0f}us "
      f"cpu/delivery={cpu * 1e6 / max(received, 1):.1f}us")
EOF
