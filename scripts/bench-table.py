#!/usr/bin/env python3
"""Turns the results.jsonl of scripts/bench-reference.sh into the Markdown
tables of docs/perf.md: one row per server and run, per workload."""
import json
import sys

path = sys.argv[1] if len(sys.argv) > 1 else "/tmp/bench-peers/out/results.jsonl"
rows = []
with open(path) as f:
    for line in f:
        line = line.strip()
        if not line:
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            print(f"skipping a line: {e}", file=sys.stderr)


def ms(us):
    return f"{us / 1000:.2f}"


def srv(r, key, scale=1.0, fmt="{:.2f}"):
    s = r.get("server") or {}
    v = s.get(key)
    return "-" if v is None else fmt.format(v * scale)


def ns_per_delivery(r):
    s = r.get("server") or {}
    n = r.get("received") or 0
    return "-" if not n or s.get("cpu_s") is None else f"{s['cpu_s'] * 1e9 / n:.0f}"


def late(r):
    """Send lateness p50 / p99 in µs (benches that measure it, fixed-rate runs)."""
    l = r.get("send_lateness") or {}
    if not l.get("count"):
        return "- | -"
    return f"{l['p50_us']:.0f} | {l['p99_us']:.0f}"


def load1(x):
    return x.get("load", "").split(",")[0]


# Send-lateness columns only for results of a bench that measures it.
with_late = any("send_lateness" in x["result"] for x in rows)
for wl in ["A", "B", "C"]:
    print(f"\n### {wl}\n")
    extra = " send late p50 µs | send late p99 µs |" if with_late else ""
    print("| server | run | load (1 min) | sent/s | deliveries/s | lost | errors | p50 ms | p99 ms | p99.9 ms | max ms |" + extra + " server CPU s | server ns/delivery | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|" + ("---|---|" if with_late else "") + "---|---|---|")
    for x in rows:
        if x["wl"] != wl:
            continue
        r = x["result"]
        l = r["latency"]
        print(
            f"| {x['server']} | {x['run']} | {load1(x)} | {r['sent_per_s']:.0f} | {r['deliveries_per_s']:.0f} | {r['lost']} | {r['errors']} "
            f"| {ms(l['p50_us'])} | {ms(l['p99_us'])} | {ms(l['p999_us'])} | {ms(l['max_us'])} "
            + (f"| {late(r)} " if with_late else "")
            + f"| {srv(r, 'cpu_s')} | {ns_per_delivery(r)} | {srv(r, 'peak_rss_kb', 1 / 1024, '{:.1f}')} |"
        )

for wl in ["D", "D2"]:
    print(f"\n### {wl}\n")
    print("| server | run | load (1 min) | asked | joined | errors | RSS before MiB | RSS held MiB | bytes/conn | registration p50 ms | p99 ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for x in rows:
        if x["wl"] != wl:
            continue
        r = x["result"]
        rl = r["register_latency"]
        print(
            f"| {x['server']} | {x['run']} | {load1(x)} | {r['clients']} | {r['joined']} | {r['errors']} "
            f"| {srv(r, 'rss_before_kb', 1 / 1024, '{:.1f}')} | {srv(r, 'rss_loaded_kb', 1 / 1024, '{:.1f}')} "
            f"| {srv(r, 'bytes_per_conn', 1, '{:.0f}')} | {ms(rl['p50_us'])} | {ms(rl['p99_us'])} |"
        )
