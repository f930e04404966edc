#!/usr/bin/env python3
"""Measures, as an outsider would, whether one address can keep everyone
else out: the server runs with a descriptor limit of 1,024 (soft and hard,
so it cannot raise it), one address (127.0.0.2) opens waves of bare and
half-open connections to every listener and holds them, and others
(127.0.1.x, a new one each round) keep registering on IRC and the line
protocol and sending a message from one to the other. Prints how long each of those took, the
worst, and what the attacker got.

    scripts/attack-admission.py [--bin target/release/chatroom]
        [--per-wave 1300] [--waves 4] [--wave-every 3] [--nofile 1024]
        [--only tls ...]

A measurement, not a test: the figures go to docs/security.md. Loopback
only; every loop is bounded; the server is started here and ended by its
own PID.
"""

import argparse
import os
import resource
import selectors
import socket
import subprocess
import sys
import tempfile
import time

ATTACKER = "127.0.0.2"


def victim(k):
    """Everyone else: each round comes from an address of its own (one
    person joining), so that the rounds do not add up to a connection
    flood from one address themselves."""
    return f"127.0.1.{k % 250 + 1}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(binary, nofile, data_dir):
    ports = {name: free_port() for name in ("line", "irc", "tls", "web", "webs", "lenheader", "nick")}
    args = [
        binary, "serve", "--bind", "127.0.0.1", "--no-metrics", "--data-dir", data_dir,
        "--line-port", str(ports["line"]), "--irc-port", str(ports["irc"]),
        "--tls-port", str(ports["tls"]), "--web-port", str(ports["web"]),
        "--web-tls-port", str(ports["webs"]),
        "--lenheader", "--lenheader-port", str(ports["lenheader"]),
        "--nick-dialect", "--nick-port", str(ports["nick"]),
    ]

    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    log = open(os.path.join(data_dir, "server.log"), "wb")
    proc = subprocess.Popen(args, stdout=log, stderr=log, preexec_fn=limit,
                            start_new_session=True)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", ports["irc"]), timeout=0.5).close()
            return proc, ports
        except OSError:
            time.sleep(0.1)
    proc.kill()
    sys.exit("the server did not start; see " + log.name)


# What a half-open connection sends to each listener: nothing at all for
# most, the start of a handshake for TLS and WebSocket (so the server is
# mid-handshake, the costliest state to hold).
PARTIAL = {
    "tls": bytes.fromhex("1603010200010001fc0303"),
    "web": b"GET /irc HTTP/1.1\r\nHost: x\r\n",
}


def attack_wave(ports, n, held, only):
    """Opens n connections from ATTACKER, round robin over every port (or
    only the ones named)."""
    names = only or list(ports)
    opened = refused = 0
    for i in range(n):
        name = names[i % len(names)]
        s = socket.socket()
        try:
            s.bind((ATTACKER, 0))
            s.settimeout(1.0)
            s.connect(("127.0.0.1", ports[name]))
            if name in PARTIAL and i % 2 == 0:
                s.sendall(PARTIAL[name])
            s.setblocking(False)
            held.append(s)
            opened += 1
        except OSError:
            refused += 1
            s.close()
    return opened, refused


def survivors(held):
    """Attacker sockets the server has not closed (yet)."""
    alive = 0
    for s in held:
        try:
            data = s.recv(4096, socket.MSG_PEEK)
            if data == b"":
                continue
            # The server said something (a refusal): closed or closing.
            if b"full" in data.lower() or b"too many" in data.lower():
                continue
            alive += 1
        except BlockingIOError:
            alive += 1
        except OSError:
            continue
    return alive


def read_until(s, needle, deadline):
    buf = b""
    while needle not in buf:
        left = deadline - time.time()
        if left <= 0:
            return None
        s.settimeout(left)
        try:
            data = s.recv(4096)
        except (socket.timeout, OSError):
            return None
        if not data:
            return None
        buf += data
    return buf


def victim_round(ports, k, limit=10.0):
    """Registers on IRC and on the line protocol from victim(k) and has the
    line user's message reach the IRC user. Seconds it took, or None."""
    t0 = time.time()
    deadline = t0 + limit
    irc = line = None
    try:
        irc = socket.create_connection(("127.0.0.1", ports["irc"]), timeout=limit,
                                       source_address=(victim(k), 0))
        irc.sendall(f"NICK v{k}\r\nUSER v{k} 0 * :v\r\nJOIN #lobby\r\n".encode())
        if read_until(irc, b" 366 ", deadline) is None:
            return None
        line = socket.create_connection(("127.0.0.1", ports["line"]), timeout=limit,
                                        source_address=(victim(k), 0))
        line.sendall(f"w{k}\n".encode())
        if read_until(line, b"you are now talking in #lobby", deadline) is None:
            return None
        line.sendall(f"ping {k}\n".encode())
        if read_until(irc, f"ping {k}".encode(), deadline) is None:
            return None
        return time.time() - t0
    except OSError:
        return None
    finally:
        for s in (irc, line):
            if s is not None:
                s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/chatroom")
    ap.add_argument("--per-wave", type=int, default=1300)
    ap.add_argument("--waves", type=int, default=4)
    ap.add_argument("--wave-every", type=float, default=3.0)
    ap.add_argument("--nofile", type=int, default=1024)
    ap.add_argument("--only", action="append", default=[],
                    choices=["line", "irc", "tls", "ws", "lenheader", "nick"],
                    help="attack only this listener (repeatable)")
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    need = args.per_wave * args.waves + 100
    if hard < need:
        sys.exit(f"this process may open {hard} descriptors; the attack needs {need}")

    with tempfile.TemporaryDirectory(prefix="chatroom-attack-") as data_dir:
        proc, ports = start_server(args.bin, args.nofile, data_dir)
        held = []
        times = []
        failures = 0
        try:
            base = victim_round(ports, 0)
            print(f"before the attack: register both and chat in {base:.3f} s"
                  if base is not None else "before the attack: FAILED")
            k = 1
            for wave in range(args.waves):
                opened, refused = attack_wave(ports, args.per_wave, held, args.only)
                wave_end = time.time() + args.wave_every
                while time.time() < wave_end:
                    took = victim_round(ports, k)
                    k += 1
                    if took is None:
                        failures += 1
                    else:
                        times.append(took)
                    time.sleep(0.2)
                print(f"wave {wave + 1}: {opened} connected, {refused} refused at connect; "
                      f"{survivors(held)} of the attacker's {len(held)} still held open by the server")
            log = open(os.path.join(data_dir, "server.log"), "rb").read().decode(errors="replace")
        finally:
            for s in held:
                s.close()
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        worst = max(times) if times else float("nan")
        times.sort()
        median = times[len(times) // 2] if times else float("nan")
        print(f"during the attack: {len(times)} rounds ok, {failures} failed; "
              f"register both and chat: median {median:.3f} s, worst {worst:.3f} s")
        emfile = log.count("os error 24")
        import re
        plain = re.sub(r"\x1b\[[0-9;]*m", "", log)
        limits = [l[l.index("descriptors:"):] for l in plain.splitlines() if "descriptors:" in l]
        print(f"server log: {emfile} lines mentioning EMFILE (os error 24); "
              + (limits[0] if limits else "no descriptors line"))
        load = open("/proc/loadavg").read().split()[:3]
        print(f"machine load (1/5/15 min): {' '.join(load)}")
        sys.exit(0 if failures == 0 and times and worst < 2.0 else 1)


if __name__ == "__main__":
    main()
