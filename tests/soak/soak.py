#!/usr/bin/env python3
"""Soak test for zinit (by hand; not run in CI).

Runs a real `zinit init` (as a daemon, not PID 1) on a private config dir
with a mix that exercises every long-lived path at once:

- crash loops (a service that dies after 0.2 s, one that dies at once),
- a log flood (bursts of 20,000 lines a second) and 1 MB lines without
  a newline,
- probes that never pass (a test run every 250 ms, for ever) and a probe
  that passes,
- API hammering on both protocols: status, list, stats, why, log snapshots,
  metrics, short-lived log followers (legacy `log` and `stream_followLogs`),
  a follower that never reads (reconnected now and then),
- create / monitor / stop / forget / delete of a fresh service, over and over.

Every SAMPLE seconds it samples zinit's VmRSS, open fds, threads and
direct children from /proc and prints a row. At the end it prints a
summary and fails (exit 1) if any of them trends up: it compares the
middle third of the run (after warm-up) with the last third.

    python3 tests/soak/soak.py --minutes 10 [--zinit target/release/zinit]

Stdlib only. Needs Linux (/proc); root is not needed. Meant to run
`nice`d next to other work; the mix itself keeps zinit under one core.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

SERVICES = {
    # A crash loop with a short run: restarted with back-off, forever.
    "crash-slow": "exec: \"sh -c 'echo up; sleep 0.2; exit 1'\"\n",
    # A crash loop that fails at once (back-off grows to its cap).
    "crash-fast": "exec: \"sh -c 'echo dying >&2; exit 3'\"\n",
    # A flood: bursts of 20,000 short lines each second.
    "flood": (
        "exec: \"sh -c 'while :; do yes flood-line-0123456789 | head -n 20000; "
        "sleep 1; done'\"\n"
    ),
    # Lines without a newline: 1 MB, five a second (cut at 64 KiB). Often
    # enough that its share of the ring (about 200 cut lines, 13 MiB) is
    # full within a minute: until then zinit's memory grows by design.
    "longline": (
        "exec: \"sh -c 'while :; do head -c 1000000 /dev/zero; echo; sleep 0.2; done'\"\n"
    ),
    # A probe that never passes: a test run every 250 ms.
    "probe-fail": "exec: \"sleep 1000000\"\ntest: \"sh -c 'exit 1'\"\n",
    # A probe that passes after a while, on a service that restarts.
    "probe-ok": "exec: \"sh -c 'sleep 5; exit 1'\"\ntest: \"sh -c 'sleep 0.3'\"\n",
    # Something depending on a probed service.
    "dependent": "exec: \"sleep 1000000\"\nafter: [probe-ok]\n",
    # A log file with rotation.
    "filed": (
        "exec: \"sh -c 'while :; do seq 1 2000; sleep 1; done'\"\n"
        "log_file:\n  max_size: 128KiB\n  keep: 2\n"
    ),
}


def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def sample(pid):
    st = proc_status(pid)
    rss_kb = int(st["VmRSS"].split()[0])
    threads = int(st["Threads"])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    children = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                children += len(f.read().split())
        except OSError:
            pass
    return {"rss_kb": rss_kb, "fds": fds, "threads": threads, "children": children}


class Client:
    """One-shot requests on fresh connections, like the CLI."""

    def __init__(self, path):
        self.path = path
        self.errors = 0
        self.calls = 0

    def _conn(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(self.path)
        return s

    def rpc(self, method, params=None):
        self.calls += 1
        try:
            s = self._conn()
            req = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}
            s.sendall((json.dumps(req) + "\n").encode())
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
            s.close()
            return json.loads(buf)
        except (OSError, ValueError):
            self.errors += 1
            return None

    def legacy(self, line):
        self.calls += 1
        try:
            s = self._conn()
            s.sendall((line + "\n").encode())
            buf = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
            s.close()
            return buf
        except OSError:
            self.errors += 1
            return None


def hammer(client, stop):
    names = list(SERVICES)
    i = 0
    while not stop.is_set():
        name = names[i % len(names)]
        i += 1
        client.legacy(f"status {name}")
        client.legacy("list")
        client.rpc("service_stats", {"name": name})
        client.rpc("service_why", {"name": name})
        client.rpc("system_metrics")
        if i % 5 == 0:
            client.legacy("log snapshot")
            client.rpc("stream_readLogs", {"last": 500})
        time.sleep(0.02)


def followers(path, stop):
    """Short-lived followers that read a little, and one that never reads."""
    idle = None
    n = 0
    while not stop.is_set():
        n += 1
        try:
            if idle is None or n % 20 == 0:
                if idle is not None:
                    idle.close()
                idle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                idle.connect(path)
                idle.sendall(b"log\n")  # and never read
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            s.connect(path)
            if n % 2:
                s.sendall(b"log\n")
            else:
                req = {"jsonrpc": "2.0", "id": 1, "method": "stream_followLogs",
                       "params": {"name": "flood"}}
                s.sendall((json.dumps(req) + "\n").encode())
            deadline = time.time() + 1
            while time.time() < deadline:
                try:
                    if not s.recv(65536):
                        break
                except socket.timeout:
                    break
            s.close()
        except OSError:
            pass
        time.sleep(0.5)
    if idle is not None:
        idle.close()


def churn(client, stop):
    """create / monitor / stop / forget / delete one fresh service, again and again."""
    n = 0
    while not stop.is_set():
        n += 1
        name = f"churn-{n % 7}"
        client.rpc("service_create", {"name": name, "content": {
            "exec": "sh -c 'echo churn; sleep 1000'"}})
        client.rpc("service_monitor", {"name": name})
        time.sleep(0.3)
        client.rpc("service_stop", {"name": name})
        deadline = time.time() + 10
        while time.time() < deadline:
            r = client.rpc("service_status", {"name": name})
            if r and r.get("result", {}).get("pid", 1) == 0:
                break
            time.sleep(0.05)
        client.rpc("service_forget", {"name": name})
        client.rpc("service_delete", {"name": name})
        time.sleep(0.2)


def trend(rows, key):
    """(middle third mean, last third mean) after the first third (warm-up)."""
    n = len(rows)
    third = max(1, n // 3)
    middle = [r[key] for r in rows[third:2 * third]] or [rows[0][key]]
    last = [r[key] for r in rows[2 * third:]] or [rows[-1][key]]
    return sum(middle) / len(middle), sum(last) / len(last)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--sample", type=float, default=5, help="seconds between samples")
    ap.add_argument("--zinit", default=os.path.join(ROOT, "target/release/zinit"))
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="zinit-soak-")
    config = os.path.join(work, "services")
    os.mkdir(config)
    for name, body in SERVICES.items():
        with open(os.path.join(config, name + ".yaml"), "w") as f:
            f.write(body)
    env_file = os.path.join(work, "environment")
    open(env_file, "w").close()
    sock = os.path.join(work, "zinit.sock")
    out = open(os.path.join(work, "zinit.out"), "wb")
    zinit = subprocess.Popen(
        [args.zinit, "-s", sock, "init", "-c", config, "--env-file", env_file,
         "--log-dir", os.path.join(work, "logs")],
        stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    deadline = time.time() + 20
    while not os.path.exists(sock):
        if time.time() > deadline or zinit.poll() is not None:
            print("zinit did not start; see", work, file=sys.stderr)
            return 2
        time.sleep(0.05)

    client = Client(sock)
    stop = threading.Event()
    workers = [
        threading.Thread(target=hammer, args=(client, stop), daemon=True),
        threading.Thread(target=hammer, args=(client, stop), daemon=True),
        threading.Thread(target=followers, args=(sock, stop), daemon=True),
        threading.Thread(target=churn, args=(client, stop), daemon=True),
    ]
    for w in workers:
        w.start()

    rows = []
    start = time.time()
    end = start + args.minutes * 60
    print(f"zinit pid {zinit.pid}, work dir {work}")
    print(f"{'t(s)':>6} {'rss(KiB)':>9} {'ring(KiB)':>9} {'fds':>4} {'thr':>4} {'kids':>4} "
          f"{'calls':>7} {'errs':>5}")
    failed = None
    try:
        while time.time() < end:
            time.sleep(args.sample)
            if zinit.poll() is not None:
                failed = f"zinit exited with {zinit.returncode}"
                break
            row = sample(zinit.pid)
            row["t"] = time.time() - start
            m = client.rpc("system_metrics")
            row["ring_kb"] = (m or {}).get("result", {}).get("log", {}).get("kept_bytes", 0) // 1024
            rows.append(row)
            print(f"{row['t']:6.0f} {row['rss_kb']:9d} {row['ring_kb']:9d} {row['fds']:4d} {row['threads']:4d} "
                  f"{row['children']:4d} {client.calls:7d} {client.errors:5d}", flush=True)
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=15)
        t0 = time.time()
        if zinit.poll() is None:
            zinit.send_signal(signal.SIGTERM)
            try:
                zinit.wait(timeout=30)
            except subprocess.TimeoutExpired:
                zinit.kill()
                zinit.wait()
                failed = failed or "zinit did not exit within 30 s of SIGTERM"
        shutdown_s = time.time() - t0
        out.close()

    if failed:
        print("FAIL:", failed)
        return 1
    problems = []
    # Allowed growth from the middle third to the last third.
    limits = {"rss_kb": ("KiB", lambda m: max(2048, m * 0.10)),
              "fds": ("fds", lambda m: 3),
              "threads": ("threads", lambda m: 2)}
    print()
    for key, (unit, allowed) in limits.items():
        middle, last = trend(rows, key)
        peak = max(r[key] for r in rows)
        verdict = "ok"
        if last - middle > allowed(middle):
            verdict = "GROWS"
            problems.append(key)
        print(f"{key:8} middle {middle:10.1f}  last {last:10.1f}  peak {peak:8d} {unit:8} {verdict}")
    print(f"requests {client.calls}, failed requests {client.errors}, "
          f"shutdown {shutdown_s:.1f} s, exit {zinit.returncode}")
    if client.errors > client.calls * 0.001:
        problems.append("request errors")
    if zinit.returncode != 0:
        problems.append(f"exit status {zinit.returncode}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    if problems:
        print("FAIL:", ", ".join(problems))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
