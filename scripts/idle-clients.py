#!/usr/bin/env python3
"""Idle IRC clients from a second, independent load generator.

Checks `chatroom bench idle`'s memory figures with a client written apart
from it (asyncio, standard library only), against any IRC server on
loopback. Each client opens a TCP connection from one of the source
addresses (round robin), sends `NICK clN` and `USER clN 0 * :client N` in
ONE write, sends `JOIN #idleK` (K = N // room size) when it sees 001,
counts itself joined at the 366 of that room, and from then on reads
everything and answers PING; nothing else. At most --in-flight clients are
between their connect and their 366 at a time.

The server's VmRSS and VmHWM (/proc/PID/status) are read before the first
connection, every 100 ms during the joins (peak), --settle seconds after
the last join (held), along the --hold that follows, and along
--after-quit seconds after every client closed (QUIT, then close).

It only ever connects to loopback addresses, every wait is bounded
(--timeout per client step, --max-time for the run), and it ends nothing
but its own sockets.

  scripts/idle-clients.py --port 16667 --server-pid PID -n 10000 \
      --room-size 10 --in-flight 200 --json
"""

import argparse
import asyncio
import ipaddress
import json
import resource
import sys
import time


def parts(pid):
    """RssAnon and RssFile of `pid` in KiB: heap and stacks, and the
    program's own pages (code paged in as it runs)."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("RssAnon:", "RssFile:", "RssShmem:")):
                    out[line.split(":")[0]] = int(line.split()[1])
    except OSError:
        pass
    return out


def status(pid):
    """VmRSS and VmHWM of `pid` in KiB (0 if unreadable)."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except OSError:
        pass
    return rss, hwm


class Client(asyncio.Protocol):
    """One client: registers in one write, joins its room on 001, and from
    its 366 on reads everything, answering PING."""

    def __init__(self, run, n, room):
        self.run = run
        self.n = n
        self.room = room.encode()
        self.transport = None
        self.carry = b""
        self.joined = asyncio.get_running_loop().create_future()
        self.closed = False

    def connection_made(self, transport):
        self.transport = transport
        n = self.n
        transport.write(f"NICK cl{n}\r\nUSER cl{n} 0 * :client {n}\r\n".encode())

    def data_received(self, data):
        if self.joined.done() and b"PING" not in data:
            # Nothing to answer: keep only a partial last line.
            cut = data.rfind(b"\n")
            self.carry = data[cut + 1 :] if cut >= 0 else self.carry + data
            if len(self.carry) > 1 << 16:
                self.carry = b""
            return
        data = self.carry + data
        lines = data.split(b"\n")
        self.carry = lines.pop()
        for line in lines:
            self.line(line)

    def line(self, line):
        words = line.split()
        if not words:
            return
        if words[0].startswith(b":") and len(words) > 1:
            cmd, params = words[1], words[2:]
        else:
            cmd, params = words[0], words[1:]
        if cmd == b"PING":
            self.transport.write(b"PONG " + b" ".join(params) + b"\r\n")
            self.run.pings += 1
        elif self.joined.done():
            return
        elif cmd == b"001":
            self.transport.write(b"JOIN " + self.room + b"\r\n")
        elif cmd == b"366" and len(params) > 1 and params[1].lower() == self.room:
            self.joined.set_result(True)
        elif cmd == b"ERROR":
            self.joined.set_exception(ConnectionError("ERROR from server"))

    def connection_lost(self, exc):
        self.closed = True
        if not self.joined.done():
            self.joined.set_exception(ConnectionError("closed during setup"))
        else:
            self.run.closed_by_server += 1


class Run:
    def __init__(self, a):
        self.a = a
        self.joined = 0
        self.errors = {}
        self.clients = []
        self.last_join = None
        self.peak_rss = 0
        self.pings = 0
        self.closed_by_server = 0

    def error(self, what):
        self.errors[what] = self.errors.get(what, 0) + 1

    async def client(self, n, slot):
        a = self.a
        room = f"#idle{n // a.room_size}"
        src = a.sources[n % len(a.sources)]
        loop = asyncio.get_running_loop()
        async with slot:
            try:
                _, c = await asyncio.wait_for(
                    loop.create_connection(
                        lambda: Client(self, n, room), a.target, a.port, local_addr=(src, 0)
                    ),
                    a.timeout,
                )
            except (OSError, asyncio.TimeoutError) as e:
                self.error(f"connect: {type(e).__name__}")
                return
            self.clients.append(c)
            try:
                await asyncio.wait_for(asyncio.shield(c.joined), a.timeout)
            except asyncio.TimeoutError:
                self.error("setup timeout")
                return
            except ConnectionError as e:
                self.error(str(e))
                return
        self.joined += 1
        self.last_join = time.monotonic()

    async def sample_peak(self, stop):
        while not stop.is_set():
            rss, _ = status(self.a.server_pid)
            self.peak_rss = max(self.peak_rss, rss)
            try:
                await asyncio.wait_for(stop.wait(), 0.1)
            except asyncio.TimeoutError:
                pass

    async def series(self, secs, start):
        """RSS samples at 1, 2, 5, 10, 20, 30, 45, 60, ... s after `start`, up to `secs`."""
        marks = [1, 2, 3, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 300]
        marks = [m for m in marks if m < secs] + [secs]
        out = []
        for m in marks:
            wait = start + m - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            out.append([m, status(self.a.server_pid)[0]])
        return out

    async def main(self):
        a = self.a
        pid = a.server_pid
        before, _ = status(pid)
        before_parts = parts(pid)
        if before == 0:
            sys.exit(f"cannot read /proc/{pid}/status")
        self.peak_rss = before
        stop = asyncio.Event()
        sampler = asyncio.ensure_future(self.sample_peak(stop))
        slot = asyncio.Semaphore(a.in_flight)
        t0 = time.monotonic()
        await asyncio.gather(*(self.client(n, slot) for n in range(a.n)))
        setup_s = time.monotonic() - t0
        last = self.last_join or time.monotonic()
        settle = await self.series(a.settle, last)
        held = settle[-1][1]
        held_parts = parts(pid)
        hold = await self.series(a.settle + a.hold, last) if a.hold > 0 else []
        stop.set()
        await sampler
        rss, hwm = status(pid)
        self.peak_rss = max(self.peak_rss, rss)
        held_end = rss
        cut = self.closed_by_server
        # Everyone leaves at once: QUIT, then close.
        for c in self.clients:
            if not c.closed:
                c.transport.write(b"QUIT :done\r\n")
        await asyncio.sleep(0.5)
        for c in self.clients:
            c.transport.close()
        await asyncio.sleep(0.1)
        quit_t = time.monotonic()
        after = await self.series(a.after_quit, quit_t) if a.after_quit > 0 else []
        after_parts = parts(pid)
        joined = max(self.joined, 1)
        res = {
            "generator": "idle-clients.py",
            "clients": a.n,
            "room_size": a.room_size,
            "in_flight": a.in_flight,
            "sources": a.sources,
            "joined": self.joined,
            "errors": sum(self.errors.values()),
            "error_kinds": self.errors,
            "closed_by_server": cut,
            "pings": self.pings,
            "setup_s": round(setup_s, 2),
            "rss_before_kb": before,
            "rss_peak_kb": self.peak_rss,
            "hwm_kb": hwm,
            "rss_held_kb": held,
            "before_parts_kb": before_parts,
            "held_parts_kb": held_parts,
            "after_quit_parts_kb": after_parts,
            "bytes_per_conn": round((held - before) * 1024 / joined),
            "rss_held_end_kb": held_end,
            "held_series": settle + hold,
            "rss_after_quit_kb": after[-1][1] if after else None,
            "after_quit_series": after,
        }
        print(
            f"idle-clients.py: {self.joined}/{a.n} joined (rooms of {a.room_size}, "
            f"{a.in_flight} in flight) in {setup_s:.1f} s, {res['errors']} errors; server RSS "
            f"before {before / 1024:.1f} MiB, peak {max(self.peak_rss, hwm) / 1024:.1f} MiB, "
            f"held {held / 1024:.1f} MiB at +{a.settle:g} s ({res['bytes_per_conn']} B/conn), "
            f"{held_end / 1024:.1f} MiB at +{a.settle + a.hold:g} s"
            + (f", {after[-1][1] / 1024:.1f} MiB {a.after_quit:g} s after quitting" if after else "")
        )
        if a.json:
            print(json.dumps(res))
        return 0 if res["errors"] == 0 else 2


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--server-pid", type=int, required=True)
    p.add_argument("-n", type=int, default=10000)
    p.add_argument("--room-size", type=int, default=10)
    p.add_argument("--in-flight", type=int, default=200)
    p.add_argument("--sources", default="127.0.0.1,127.0.0.2")
    p.add_argument("--settle", type=float, default=3.0, help="seconds after the last join to read 'held'")
    p.add_argument("--hold", type=float, default=0.0, help="further seconds to hold, sampling RSS")
    p.add_argument("--after-quit", type=float, default=30.0, help="seconds to sample RSS after every client quit")
    p.add_argument("--timeout", type=float, default=60.0, help="bound of each client's setup")
    p.add_argument("--max-time", type=float, default=900.0)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    a.sources = [s for s in a.sources.split(",") if s]
    for addr in [a.target] + a.sources:
        if not ipaddress.ip_address(addr).is_loopback:
            sys.exit(f"refusing {addr}: not a loopback address")
    if not (1 <= a.n <= 100_000 and 1 <= a.room_size and 1 <= a.in_flight <= 10_000):
        sys.exit("-n 1..100000, --room-size >= 1, --in-flight 1..10000")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    async def bounded():
        return await asyncio.wait_for(Run(a).main(), a.max_time)

    try:
        sys.exit(asyncio.run(bounded()))
    except asyncio.TimeoutError:
        sys.exit("idle-clients.py: hit --max-time")


if __name__ == "__main__":
    main()
