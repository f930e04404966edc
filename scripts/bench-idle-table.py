#!/usr/bin/env python3
"""Turns scripts/bench-idle.sh's results.jsonl into the Markdown table of
docs/perf.md: one row per server, generator and pattern, with both
generators' figures normalised to the same columns.

  scripts/bench-idle-table.py OUT_DIR/results.jsonl
"""

import json
import sys


def row(r):
    res = r["result"]
    if r["gen"] == "bench":
        sv = res.get("server") or {}
        before, held = sv.get("rss_before_kb", 0), sv.get("rss_loaded_kb", 0)
        peak = sv.get("hwm_held_kb", 0)
        after = sv.get("rss_after_quit_kb")
        joined, errors, bpc = res["joined"], res["errors"], sv.get("bytes_per_conn", 0)
    else:
        before, held = res["rss_before_kb"], res["rss_held_kb"]
        peak = max(res["hwm_kb"], res["rss_peak_kb"])
        after = res.get("rss_after_quit_kb")
        joined, errors, bpc = res["joined"], res["errors"], res["bytes_per_conn"]
    mib = lambda kb: f"{kb / 1024:.1f}"
    return [
        r["server"],
        "chatroom bench" if r["gen"] == "bench" else "idle-clients.py",
        str(r["in_flight"]),
        str(r["room"]),
        r["load"].split(",")[0],
        f"{joined}",
        f"{errors}",
        mib(before),
        mib(peak),
        mib(held),
        f"**{bpc:,.0f}**",
        f"{peak / held:.2f}" if held else "-",
        mib(after) if after else "-",
        f"{after / before:.2f}" if after and before else "-",
    ]


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    head = [
        "server", "generator", "in flight", "room", "load (1 min)", "joined", "errors",
        "RSS before MiB", "peak of the joins MiB", "held (+3 s) MiB", "B/conn",
        "peak ÷ held", "30 s after all quit MiB", "after ÷ before",
    ]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(row(r)) + " |")


if __name__ == "__main__":
    main()
