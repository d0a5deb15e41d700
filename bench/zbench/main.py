"""Command line, the round-robin runner, tables and JSON."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys
import tempfile
import time
import traceback

from . import scenarios as sc
from .setup import build, find_peers, host_triple, release_dir
from .util import HarnessError, become_subreaper, machine_info, reap_orphans, summary

NEEDS_FLOORS = {"cold_start", "control", "logs", "restart"}


def parse(argv):
    p = argparse.ArgumentParser(
        prog="bench.py",
        description="zinit against runit, s6 and supervisord (issue 6). "
                    f"Scenarios: {', '.join(sc.ORDER)}.")
    p.add_argument("--quick", action="store_true",
                   help="CI mode: 1 round, N=10, short durations; checks that every "
                        "scenario ran for zinit, does not judge figures")
    p.add_argument("--json", default=None, help="where to write the results "
                   "(default bench/results.json)")
    p.add_argument("--only", default="", help="comma-separated scenarios")
    p.add_argument("--rounds", type=int, default=None,
                   help="rounds per case (default 3, 2 for restart; 1 with --quick)")
    p.add_argument("--peers", default="", help="comma-separated supervisors to run "
                   "(default: every one available)")
    p.add_argument("--no-build", action="store_true", help="skip cargo build")
    p.add_argument("--no-install", action="store_true", help="never apt-get/pip install")
    return p.parse_args(argv)


def fmt(v: float | None) -> str:
    if v is None:
        return "-"
    a = abs(v)
    if a >= 1e4:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def rounds_for(case: sc.Case, args) -> int:
    if args.rounds:
        return args.rounds
    if args.quick:
        return 1
    if case.scenario == "restart":
        return 2  # 20 kills each; s6 and supervisord take ~1 s per kill
    # Three rounds keep a full run near 7 minutes on 2 cores (supervisord
    # alone needs ~10 s to start 500 services, and logs run 5 s each).
    return 3


def run_case(case: sc.Case, cfg: sc.Cfg, sups: list[str], rounds: int, log) -> bool:
    """Runs CASE; returns False on a harness failure (a bug, not a peer's)."""
    ok = True
    res = case.results
    for s in sups:
        res[s] = {"samples": [], "raw": [], "errors": []}
    for r in range(rounds):
        order = sups[r % len(sups):] + sups[: r % len(sups)]
        for s in order:
            if res[s]["errors"]:
                continue  # failed once in this case: do not waste the time again
            t0 = time.monotonic()
            try:
                value, raw = case.run(cfg, s)
            except HarnessError as e:
                res[s]["errors"].append(str(e))
                log(f"  {case.scenario}/{case.name} {s}: FAILED: {e}")
                continue
            except Exception as e:  # noqa: BLE001 - a harness bug: report, go on
                res[s]["errors"].append(f"harness error: {e!r}")
                log(f"  {case.scenario}/{case.name} {s}: HARNESS ERROR")
                traceback.print_exc()
                ok = False
                continue
            finally:
                reap_orphans()
            res[s]["samples"].append(value)
            res[s]["raw"].append(raw)
            log(f"  {case.scenario}/{case.name} round {r + 1}/{rounds} {s}: "
                f"{fmt(value)} {case.unit} ({time.monotonic() - t0:.1f}s)")
    for s in sups:
        res[s].update(summary(res[s]["samples"]))
    return ok


def ratio_to_best(case: sc.Case) -> tuple[float | None, str | None]:
    z = case.results.get("zinit", {}).get("median")
    peers = {s: r["median"] for s, r in case.results.items()
             if s not in ("zinit", "floor") and s not in case.excluded_from_best
             and r.get("median") is not None}
    if z is None or not peers:
        return None, None
    pick = min if case.better == "lower" else max
    best = pick(peers, key=peers.get)
    return (z / peers[best] if peers[best] else None), best


def floor_of(cases: dict, name: str) -> float | None:
    for c in cases.get("floors", []):
        if c.name == name:
            return c.results.get("floor", {}).get("median")
    return None


def floor_multiples(case: sc.Case, cases: dict) -> list[tuple[str, float]]:
    z = case.results.get("zinit", {}).get("median")
    if z is None:
        return []
    out = []
    own = case.results.get("floor", {}).get("median")
    if case.scenario == "cold_start" and case.name.startswith("N="):
        n = int(case.name[2:])
        sp = floor_of(cases, "spawn")
        if sp:
            out.append((f"zinit / ({n} x spawn floor {fmt(sp)} ms)", z / (n * sp)))
    if case.scenario == "restart":
        sp = floor_of(cases, "spawn")
        if sp:
            out.append((f"zinit / spawn floor ({fmt(sp)} ms)", z / sp))
    if own:
        label = {"status_cli": "zinit status / /bin/true",
                 "rpc_rtt": "zinit rpc-rtt / echo-floor",
                 "rpc_rtt_no_newline": "zinit rpc-rtt --no-newline / echo-floor",
                 "rpc_load": "zinit rpc-load / echo-load (higher is better)",
                 "lines": "zinit lines/s / pipe-floor (higher is better)"}.get(case.name)
        if label:
            out.append((label, z / own))
    return out


def table(case: sc.Case, cases: dict) -> str:
    hib = " (higher is better)" if case.better == "higher" else ""
    lines = [f"== {case.scenario} / {case.name}: {case.unit}{hib}",
             f"   {case.note}" if case.note else ""]
    lines.append(f"   {'supervisor':<12} {'median':>12} {'min-max':>25} {'n':>3}  extra")
    for s, r in case.results.items():
        if r.get("median") is None:
            lines.append(f"   {s:<12} {'FAILED':>12}  {'; '.join(r['errors'])[:200]}")
            continue
        extra = _extra(case, r)
        mm = f"{fmt(r['min'])}-{fmt(r['max'])}"
        lines.append(f"   {s:<12} {fmt(r['median']):>12} {mm:>25} {r['n']:>3}  {extra}")
    ratio, best = ratio_to_best(case)
    if ratio is not None:
        how = "< 1 is better" if case.better == "lower" else "higher is better"
        lines.append(f"   zinit / best peer ({best}): {ratio:.2f}x ({how})")
    for label, v in floor_multiples(case, cases):
        lines.append(f"   {label}: {v:.2f}x")
    if case.excluded_from_best:
        lines.append(f"   not counted as peers here: {', '.join(case.excluded_from_best)}")
    return "\n".join(x for x in lines if x)


def _extra(case: sc.Case, r: dict) -> str:
    raws = [x for x in r["raw"] if isinstance(x, dict)]
    if case.scenario == "memory" and raws:
        rss = sorted(x["rss_mib"] for x in raws)[len(raws) // 2]
        return f"RSS {fmt(rss)} MiB, {raws[0]['processes']} processes"
    if case.scenario == "logs" and raws and "cpu_per_second" in raws[0]:
        cpu = sorted(x["cpu_per_second"] for x in raws)[len(raws) // 2]
        rss = max(x["supervisor_rss_mib"] for x in raws)
        return f"CPU {cpu:.2f} s/s, supervisor RSS max {fmt(rss)} MiB"
    return ""


def main(argv=None) -> int:
    args = parse(argv if argv is not None else sys.argv[1:])
    t_all = time.monotonic()
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    only = [x.strip() for x in args.only.split(",") if x.strip()]
    bad = [x for x in only if x not in sc.ORDER]
    if bad:
        print(f"bench: unknown scenario(s) {bad}; known: {', '.join(sc.ORDER)}", file=sys.stderr)
        return 2
    want = only or list(sc.ORDER)
    if any(x in NEEDS_FLOORS for x in want) and "floors" not in want:
        want.insert(0, "floors")  # the floor multiples need them
    want = [x for x in sc.ORDER if x in want]

    if os.geteuid() != 0:
        print("bench: not root: using the peers already installed, installs skipped")
    if args.no_build:
        # Whatever the last build left: the static one if there is one.
        triple = host_triple()
        bindir = release_dir(repo, triple)
        linkage = "static"
        if not os.path.exists(os.path.join(bindir, "zinit")):
            bindir, linkage = release_dir(repo, None), "dynamic"
        build_s = 0.0
    else:
        bindir, build_s, linkage = build(repo)
    print(f"bench: measuring the {linkage} release build in {bindir}", flush=True)
    tools, avail, msgs = find_peers(bindir, install=not args.no_install)
    if args.peers:
        sel = [x.strip() for x in args.peers.split(",")]
        avail = [x for x in avail if x in sel or x == "zinit"]
    for m in msgs:
        print(f"bench: {m}")
    print(f"bench: supervisors: {', '.join(avail)}")
    from .peers import ADAPTERS
    for s in avail:
        if ADAPTERS[s].deps_note:
            print(f"bench: note: {ADAPTERS[s].deps_note}")

    # Measure a snapshot of the binaries: the tree may be rebuilt while we
    # run (a binary rewritten under a running zinit can crash it).
    snap = tempfile.mkdtemp(prefix="zb-bin-")
    for attr in ("child", "tool", "zinit"):
        dst = os.path.join(snap, os.path.basename(getattr(tools, attr)))
        shutil.copy2(getattr(tools, attr), dst)
        setattr(tools, attr, dst)

    become_subreaper()
    info = machine_info()
    info["zinit_build"] = linkage
    print("bench: machine: " + ", ".join(f"{k}={v}" for k, v in info.items()), flush=True)

    cases = sc.build(args.quick)
    ok = True
    root = tempfile.mkdtemp(prefix="zb-")
    cfg = sc.Cfg(root=root, tools=tools, quick=args.quick)
    timings = {}
    try:
        for scen in want:
            t0 = time.monotonic()
            print(f"\n### {scen}", flush=True)
            for case in cases[scen]:
                sups = [s for s in case.sups if s in avail or s == "floor"]
                ok &= run_case(case, cfg, sups, rounds_for(case, args),
                               lambda m: print(m, flush=True))
                print(table(case, cases), flush=True)
            timings[scen] = time.monotonic() - t0
            print(f"### {scen} took {timings[scen]:.1f}s", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(snap, ignore_errors=True)

    # --- summary and JSON
    print("\n######## summary (medians)")
    for scen in want:
        for case in cases[scen]:
            print(table(case, cases))
    missing = [f"{c.scenario}/{c.name}" for scen in want for c in cases[scen]
               if "zinit" in c.sups and not c.results.get("zinit", {}).get("samples")]
    out = {
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "quick": args.quick,
        "machine": info,
        "supervisors": avail,
        "skipped": msgs,
        "notes": {s: ADAPTERS[s].deps_note for s in avail if ADAPTERS[s].deps_note},
        "build_seconds": build_s,
        "scenario_seconds": timings,
        "total_seconds": time.monotonic() - t_all,
        "scenarios": {
            scen: {
                c.name: {
                    "unit": c.unit, "better": c.better, "note": c.note,
                    "results": c.results,
                    "ratio_to_best_peer": dict(zip(("ratio", "best_peer"), ratio_to_best(c))),
                    "floor_multiples": dict(floor_multiples(c, cases)),
                } for c in cases[scen]
            } for scen in want
        },
    }
    path = args.json or os.path.join(repo, "bench", "results.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print(f"\nbench: results written to {path}; total {out['total_seconds']:.0f}s "
          f"(build {build_s:.0f}s)")
    if missing:
        print(f"bench: FAILED: no zinit result for {', '.join(missing)}", file=sys.stderr)
        return 1
    if not ok:
        print("bench: FAILED: harness error (see the tracebacks above)", file=sys.stderr)
        return 1
    return 0
