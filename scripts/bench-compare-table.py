#!/usr/bin/env python3
"""The results of scripts/bench-compare.sh as new ÷ old ratios per pair:
deliveries/s (A, B, Bh; higher is better), p50 and p99 latency (A; lower
is better) and server CPU per delivery, bytes per idle connection (D; lower
is better). Prints each pair's ratios, then the median and mean."""
import json
import statistics
import sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]


def metrics(wl, r):
    s = r.get("server") or {}
    if wl == "D":
        return {"bytes/conn": s.get("bytes_per_conn")}
    m = {"deliveries/s": r.get("deliveries_per_s")}
    n = r.get("received") or 0
    if s.get("cpu_s") is not None and n:
        m["cpu ns/delivery"] = s["cpu_s"] * 1e9 / n
    if wl == "A":
        m["p50 ms"] = r["latency"]["p50_us"] / 1000
        m["p99 ms"] = r["latency"]["p99_us"] / 1000
    return m


by = {}
for x in rows:
    by.setdefault((x["wl"], x["pair"]), {})[x["build"]] = metrics(x["wl"], x["result"])

for wl in ["A", "B", "Bh", "D"]:
    pairs = sorted(p for (w, p) in by if w == wl)
    if not pairs:
        continue
    print(f"\n### {wl}: new ÷ old per pair\n")
    names = None
    ratios = {}
    for p in pairs:
        both = by[(wl, p)]
        if "old" not in both or "new" not in both:
            continue
        names = names or list(both["new"].keys())
        line = [f"pair {p}"]
        for k in names:
            o, n = both["old"].get(k), both["new"].get(k)
            if o and n:
                ratios.setdefault(k, []).append(n / o)
                line.append(f"{k} {o:.4g} → {n:.4g} ({n / o:.3f})")
        print("- " + "; ".join(line))
    for k, v in ratios.items():
        print(f"- **{k}**: median {statistics.median(v):.3f}, mean {statistics.mean(v):.3f} over {len(v)} pairs")
