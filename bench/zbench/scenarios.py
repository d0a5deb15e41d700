"""The scenarios of issue 6. Each case is measured once per round under each
supervisor; a case function returns one sample (and optional raw data)."""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

from .peers import Svc, Tools, Zinit
from .session import Session
from .util import HarnessError, cpu_seconds, is_gone, now, run_json, smaps_rollup

ALL_PEERS = ("zinit", "runit", "s6", "supervisord")


@dataclass
class Case:
    scenario: str
    name: str  # e.g. "N=500"
    unit: str
    better: str  # "lower" or "higher"
    run: Callable  # run(cfg, sup) -> (value, raw) for a supervisor
    sups: tuple[str, ...] = ALL_PEERS
    note: str = ""
    excluded_from_best: tuple[str, ...] = ()  # peers not comparable here
    results: dict = field(default_factory=dict)  # sup -> {"samples", "raw", "errors"}


@dataclass
class Cfg:
    root: str
    tools: Tools
    quick: bool


def names(n: int, prefix: str = "s") -> list[str]:
    width = len(str(n))
    return [f"{prefix}{i:0{width}d}" for i in range(1, n + 1)]


def flat(n: int) -> list[Svc]:
    return [Svc(x) for x in names(n)]


def chain(n: int) -> list[Svc]:
    ns = names(n, "c")
    return [Svc(x, after=[ns[i - 1]] if i else []) for i, x in enumerate(ns)]


def tree(levels: int, width: int) -> list[Svc]:
    out, prev = [], []
    for lv in range(levels):
        cur = [f"l{lv + 1}s{i:02d}" for i in range(1, width + 1)]
        out += [Svc(x, after=list(prev)) for x in cur]
        prev = cur
    return out


# ------------------------------------------------------------ cold start


def cold_start(svcs: list[Svc], deadline: float):
    def run(cfg: Cfg, sup: str):
        with Session(cfg.root, cfg.tools, sup, svcs) as s:
            t0 = s.start()
            last = s.wait_all(deadline)
            return (last - t0) * 1e3, None

    return run


# --------------------------------------------------------------- restart


def restart(n: int, up_for: float = 1.5, limits: bool = False):
    def run(cfg: Cfg, sup: str):
        svcs = [Svc(x, limits=limits) for x in names(n)]
        with Session(cfg.root, cfg.tools, sup, svcs) as s:
            s.start()
            s.wait_all(30 + 0.05 * n)
            time.sleep(up_for)
            lat = []
            for v in svcs:
                _, old = s.notes.latest[v.name]
                t0 = now()
                os.kill(old, signal.SIGKILL)
                s.notes.wait(
                    lambda: s.notes.latest[v.name][1] != old,
                    t0 + 10,
                    f"{sup} to restart {v.name} within 10 s after kill -9",
                )
                lat.append((s.notes.latest[v.name][0] - t0) * 1e3)
            return statistics.median(lat), {"kills_ms": lat}

    return run


# --------------------------------------------------------------- control


def runs_for(cfg: Cfg, argv: list[str]) -> int:
    """Runs of a whole command that take about 1 s (0.2 s in --quick)."""
    est = run_json([cfg.tools.tool, "run-many", "--runs", "3", "--", *argv])
    per = max(est["median_us"], 1.0) / 1e6
    budget, lo, hi = (0.2, 5, 50) if cfg.quick else (1.0, 20, 500)
    return int(min(hi, max(lo, budget / per)))


def run_many(cfg: Cfg, argv: list[str]) -> tuple[float, dict]:
    r = run_json([cfg.tools.tool, "run-many", "--runs", str(runs_for(cfg, argv)), "--", *argv])
    return r["median_us"] / 1e3, r


def status_cli():
    def run(cfg: Cfg, sup: str):
        if sup == "floor":
            return run_many(cfg, ["/bin/true"])
        with Session(cfg.root, cfg.tools, sup, flat(10)) as s:
            s.start()
            s.wait_all(30)
            return run_many(cfg, s.sup.status_argv("s01"))

    return run


def rpc_rtt(newline: bool = True):
    """newline=False sends each request as upstream's reth-ipc client does:
    no newline, the request ends with its closing brace."""
    def run(cfg: Cfg, sup: str):
        n = "200" if cfg.quick else "5000"
        if sup == "floor":
            r = run_json([cfg.tools.tool, "echo-floor", "--runs", n])
            return r["median_us"], r
        with Session(cfg.root, cfg.tools, sup, flat(10)) as s:
            s.start()
            s.wait_all(30)
            argv = [cfg.tools.tool, "rpc-rtt", "--socket", s.sup.sock,
                    "--name", "s01", "--runs", n]
            if not newline:
                argv.append("--no-newline")
            r = run_json(argv)
            return r["median_us"], r

    return run


def rpc_load():
    def run(cfg: Cfg, sup: str):
        secs = "0.3" if cfg.quick else "1"
        if sup == "floor":
            r = run_json([cfg.tools.tool, "echo-load", "--clients", "32", "--seconds", secs])
            return r["per_second"], r
        with Session(cfg.root, cfg.tools, sup, flat(10)) as s:
            s.start()
            s.wait_all(30)
            r = run_json([cfg.tools.tool, "rpc-load", "--socket", s.sup.sock, "--name",
                          "s01", "--clients", "32", "--seconds", secs])
            return r["per_second"], r

    return run


# ---------------------------------------------------------------- memory


def memory(n: int):
    def run(cfg: Cfg, sup: str):
        with Session(cfg.root, cfg.tools, sup, flat(n)) as s:
            s.start()
            s.wait_all(30 + 0.05 * n)
            time.sleep(0.5)  # let the supervisor settle after the burst
            pids = s.sup.own_pids()
            rss = pss = 0
            for p in pids:
                r, q = smaps_rollup(p)
                rss, pss = rss + r, pss + q
            if not rss:
                raise HarnessError(f"no smaps_rollup for {sup}'s processes {pids}")
            # PSS is the value: an RSS sum counts runit's and s6's shared
            # pages once per process (101 times at 100 services)
            return pss / 2**20, {"rss_mib": rss / 2**20, "pss_mib": pss / 2**20,
                                 "processes": len(pids)}

    return run


# ------------------------------------------------------------------ logs


def logs(seconds: float):
    def run(cfg: Cfg, sup: str):
        if sup == "floor":
            r = run_json([cfg.tools.tool, "pipe-floor", "--seconds", str(seconds)])
            return r["per_second"], r
        svcs = [Svc("writer", lines=True)]
        with Session(cfg.root, cfg.tools, sup, svcs) as s:
            s.start()
            t_start = s.wait_all(30)
            writer = s.notes.latest["writer"][1]
            cpu0 = {p: cpu_seconds([p]) for p in s.sup.own_pids() + s.sup.logger_pids()}
            time.sleep(seconds)
            t_stop = now()
            os.kill(writer, signal.SIGSTOP)  # stop writing; not a crash, no restart
            # let the logger drain what is in the pipe: poll until stable
            deadline, last, stable = now() + 30, -1, 0
            while True:
                lines = s.sup.log_lines("writer")
                stable = stable + 1 if lines == last else 0
                last = lines
                if stable >= 2 and lines > 0:
                    break
                if now() > deadline:
                    raise HarnessError(f"{sup}'s log did not settle within 30 s ({lines} lines)")
                time.sleep(0.25)
            pids = s.sup.own_pids() + s.sup.logger_pids()
            cpu = sum(cpu_seconds([p]) - cpu0.get(p, 0.0) for p in pids)
            rss = sum(smaps_rollup(p)[0] for p in s.sup.own_pids())
            dt = t_stop - t_start
            return lines / dt, {"lines": lines, "seconds": dt,
                                "cpu_per_second": cpu / dt,
                                "supervisor_rss_mib": rss / 2**20,
                                "cpu_counted": sorted({os.path.basename(_comm(p)) for p in pids})}

    return run


def _comm(pid: int) -> str:
    from .util import comm

    return comm(pid)


# ----------------------------------------------------------------- stats


def stats_cli():
    def run(cfg: Cfg, sup: str):
        with Session(cfg.root, cfg.tools, sup, flat(10)) as s:
            s.start()
            s.wait_all(30)
            return run_many(cfg, [cfg.tools.zinit, "-s", s.sup.sock, "stats", "s01"])

    return run


def stats_rpc(runs: int = 200):
    def run(cfg: Cfg, sup: str):
        with Session(cfg.root, cfg.tools, sup, flat(10)) as s:
            s.start()
            s.wait_all(30)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
                c.settimeout(5)
                c.connect(s.sup.sock)
                f = c.makefile("rb")
                lat = []
                for i in range(runs + 1):
                    req = json.dumps({"jsonrpc": "2.0", "id": i, "method": "service_stats",
                                      "params": ["s01"]}).encode() + b"\n"
                    t0 = now()
                    c.sendall(req)
                    line = f.readline()
                    dt = now() - t0
                    ans = json.loads(line)
                    if "result" not in ans:
                        raise HarnessError(f"service_stats failed: {line[:200]!r}")
                    if i:  # the first is a warm-up
                        lat.append(dt * 1e3)
            return statistics.median(lat), {"samples_ms": lat}

    return run


# -------------------------------------------------------------- shutdown


def shutdown(levels: int, width: int):
    def run(cfg: Cfg, sup: str):
        svcs = tree(levels, width)
        if sup == "supervisord":  # no dependencies: just the services
            svcs = [Svc(v.name) for v in svcs]
        with Session(cfg.root, cfg.tools, sup, svcs) as s:
            s.start()
            s.wait_all(120)
            time.sleep(0.3)
            pids = {p for _, p in s.notes.latest.values()}
            t0 = now()
            s.sup.request_stop()
            deadline = t0 + 60
            while pids:
                pids = {p for p in pids if not is_gone(p)}
                if pids and now() > deadline:
                    raise HarnessError(f"{sup}: {len(pids)} children still alive 60 s after the stop")
                time.sleep(0.0005)
            return (now() - t0) * 1e3, None

    return run


# ---------------------------------------------------------------- floors


def floor_tool(sub: str, key: str, scale: float = 1.0, **kw):
    def run(cfg: Cfg, sup: str):
        argv = [cfg.tools.tool, sub]
        for k, v in kw.items():
            argv += ["--" + k.replace("_", "-"), str(v)]
        if sub == "spawn-floor":
            argv += ["--child", cfg.tools.child]
        r = run_json(argv)
        return r[key] * scale, r

    return run


# ---------------------------------------------------------- definitions


def build(quick: bool) -> dict[str, list[Case]]:
    n_list = [10] if quick else [10, 100, 500]
    depth = 10 if quick else 50
    kills = 5 if quick else 20
    log_s = 1.0 if quick else 5.0
    levels, width = (5, 2) if quick else (5, 20)
    mem = [10] if quick else [100, 500]
    fl = 0.3 if quick else 1.0
    sup_note = "supervisord: no dependencies, `after` becomes a start priority only; not counted as a peer here"
    return {
        "floors": [
            Case("floors", "spawn", "ms", "lower",
                 floor_tool("spawn-floor", "median_us", 1e-3, runs=20 if quick else 300),
                 ("floor",), "fork+exec+wait of bench-child (BENCH_MODE=exit)"),
            Case("floors", "echo", "us", "lower",
                 floor_tool("echo-floor", "median_us", runs=200 if quick else 5000),
                 ("floor",), "Unix stream socket echo round trip, 1 keep-alive client"),
            Case("floors", "echo_load", "req/s", "higher",
                 floor_tool("echo-load", "per_second", clients=32, seconds=fl),
                 ("floor",), "32 keep-alive echo clients"),
            Case("floors", "pipe", "lines/s", "higher",
                 floor_tool("pipe-floor", "per_second", seconds=fl),
                 ("floor",), "100-byte lines through a pipe, one write(2) each"),
        ],
        "cold_start": [
            Case("cold_start", f"N={n}", "ms", "lower", cold_start(flat(n), 30 + 0.1 * n),
                 note="Popen of the supervisor until the N-th child notified")
            for n in n_list
        ] + [
            Case("cold_start", f"chain{depth}", "ms", "lower", cold_start(chain(depth), 120),
                 note=f"{depth}-deep `after` chain; " + sup_note,
                 excluded_from_best=("supervisord",)),
        ],
        "restart": [
            Case("restart", f"kill9x{kills}", "ms", "lower", restart(kills),
                 note=f"kill -9 of a child up > 1.5 s until its replacement notified; "
                      f"per round the median of {kills} kills"),
            Case("restart", f"kill9x{kills}_limits", "ms", "lower", restart(kills, limits=True),
                 ("zinit",),
                 "as kill9x20, each service with resources (memory_max, cpu, pids_max): "
                 "the limits are written to its cgroups before every run; compare with "
                 "zinit's kill9x20 of the same run"),
        ],
        "control": [
            Case("control", "status_cli", "ms", "lower", status_cli(),
                 ALL_PEERS + ("floor",),
                 "whole CLI process: zinit status / sv status / s6-svstat / "
                 "supervisorctl status; floor = /bin/true"),
            Case("control", "rpc_rtt", "us", "lower", rpc_rtt(), ("zinit", "floor"),
                 "JSON-RPC service_status, 1 keep-alive client; floor = echo-floor"),
            Case("control", "rpc_rtt_no_newline", "us", "lower", rpc_rtt(newline=False),
                 ("zinit", "floor"),
                 "as rpc_rtt, each request without a newline (upstream's reth-ipc client): "
                 "framed by its JSON value; floor = echo-floor"),
            Case("control", "rpc_load", "req/s", "higher", rpc_load(), ("zinit", "floor"),
                 "JSON-RPC service_status, 32 keep-alive clients; floor = echo-load"),
        ],
        "memory": [
            Case("memory", f"N={n}", "MiB PSS", "lower", memory(n),
                 note="PSS (RSS in the extra column) summed over the supervisor's own "
                      "processes: zinit; runsvdir+runsv; s6-svscan+s6-supervise; supervisord")
            for n in mem
        ],
        "logs": [
            Case("logs", "lines", "lines/s", "higher", logs(log_s), ALL_PEERS + ("floor",),
                 f"one writer in BENCH_MODE=lines for {log_s:g} s; floor = pipe-floor; "
                 "CPU in the raw data (supervisor + svlogd/s6-log)"),
        ],
        "stats": [
            Case("stats", "stats_cli", "ms", "lower", stats_cli(), ("zinit",),
                 "zinit stats NAME, whole CLI process"),
            Case("stats", "stats_rpc", "ms", "lower", stats_rpc(50 if quick else 200), ("zinit",),
                 "JSON-RPC service_stats, keep-alive socket from Python"),
        ],
        "shutdown": [
            Case("shutdown", f"tree{levels}x{width}", "ms", "lower", shutdown(levels, width),
                 note=f"{levels * width} services, {levels} levels of {width}, each level "
                      "`after` the whole previous one (supervisord: flat); stop request "
                      "until every child is gone; runit and s6 ignore the order when stopping"),
        ],
    }


ORDER = ["floors", "cold_start", "restart", "control", "memory", "logs", "stats", "shutdown"]
