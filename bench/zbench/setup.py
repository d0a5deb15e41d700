"""Build zinit and zinit-bench, and find (or, as root, install) the peers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig

from .peers import Tools, real_python_script


def host_triple() -> str | None:
    """The Rust host target, e.g. x86_64-unknown-linux-gnu."""
    try:
        out = subprocess.run(["rustc", "-vV"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    for line in out.splitlines():
        if line.startswith("host: "):
            return line.split(" ", 1)[1].strip()
    return None


def release_dir(repo: str, triple: str | None) -> str:
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(repo, "target")
    return os.path.join(target, triple, "release") if triple else os.path.join(target, "release")


def build(repo: str) -> tuple[str, float, str]:
    """Release-build zinit and zinit-bench; returns (bin dir, seconds, linkage).

    On a glibc host the binaries are linked statically, as zinit is meant
    to be deployed (a PID 1 without run-time dependencies; docs/performance.md):
    start-up then skips the dynamic loader's relocations, which are most of
    a short CLI call. `--target` keeps the static flag off build scripts and
    proc-macros. If that build fails, the ordinary dynamic build is used and
    the results say so.
    """
    import time

    t0 = time.monotonic()
    triple = host_triple()
    if triple and triple.endswith("-linux-gnu"):
        env = dict(os.environ)
        env["RUSTFLAGS"] = (env.get("RUSTFLAGS", "") + " -C target-feature=+crt-static").strip()
        p = subprocess.run(["cargo", "build", "--release", "--target", triple,
                            "-p", "zinit", "-p", "zinit-bench"], cwd=repo, env=env)
        if p.returncode == 0:
            return release_dir(repo, triple), time.monotonic() - t0, "static"
        print("bench: the static build failed; measuring the dynamic build", flush=True)
    p = subprocess.run(["cargo", "build", "--release", "-p", "zinit", "-p", "zinit-bench"],
                       cwd=repo)
    if p.returncode != 0:
        raise SystemExit("bench: cargo build failed")
    return release_dir(repo, None), time.monotonic() - t0, "dynamic"


def _which(*names: str) -> dict[str, str | None]:
    return {n: shutil.which(n) for n in names}


def _apt(pkg: str, msgs: list[str]) -> None:
    if os.geteuid() != 0:
        msgs.append(f"{pkg}: missing and not root: skipping the install")
        return
    if not shutil.which("apt-get"):
        msgs.append(f"{pkg}: missing and no apt-get here")
        return
    print(f"bench: installing {pkg} with apt-get", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    r = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", pkg], env=env)
    if r.returncode != 0:
        subprocess.run(["apt-get", "update"], env=env)
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", pkg], env=env)


def find_peers(bindir: str, install: bool) -> tuple[Tools, list[str], list[str]]:
    """Returns the tools, the available supervisors and messages about the
    ones skipped."""
    msgs: list[str] = []
    t = Tools(child=os.path.join(bindir, "bench-child"),
              tool=os.path.join(bindir, "bench-tool"),
              zinit=os.path.join(bindir, "zinit"))
    for p in (t.child, t.tool, t.zinit):
        if not os.access(p, os.X_OK):
            raise SystemExit(f"bench: {p} was not built")
    avail = ["zinit"]

    runit = ("runsvdir", "sv", "svlogd")
    if install and not all(_which(*runit).values()):
        _apt("runit", msgs)
    w = _which(*runit)
    if all(w.values()):
        t.runsvdir, t.sv, t.svlogd = w["runsvdir"], w["sv"], w["svlogd"]
        avail.append("runit")
    else:
        msgs.append(f"runit skipped: missing {[k for k, v in w.items() if not v]}")

    s6 = ("s6-svscan", "s6-svscanctl", "s6-svstat", "s6-svwait", "s6-log")
    if install and not all(_which(*s6).values()):
        _apt("s6", msgs)
    w = _which(*s6)
    if all(w.values()):
        (t.s6_svscan, t.s6_svscanctl, t.s6_svstat, t.s6_svwait, t.s6_log) = (w[n] for n in s6)
        avail.append("s6")
    else:
        msgs.append(f"s6 skipped: missing {[k for k, v in w.items() if not v]}")

    scripts = sysconfig.get_path("scripts")

    def find_sup() -> tuple[list[str] | None, list[str] | None]:
        d = real_python_script("supervisord"), real_python_script("supervisorctl")
        if all(d):
            return d
        local = [os.path.join(scripts, n) for n in ("supervisord", "supervisorctl")]
        if all(os.access(p, os.X_OK) for p in local):
            return [local[0]], [local[1]]
        return None, None

    sd, sc = find_sup()
    if not sd and install:
        if os.geteuid() == 0:
            print("bench: installing supervisor with pip", flush=True)
            subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "supervisor"])
            sd, sc = find_sup()
        else:
            msgs.append("supervisor: missing and not root: skipping the install")
    if sd:
        t.supervisord, t.supervisorctl = sd, sc
        avail.append("supervisord")
    else:
        msgs.append("supervisord skipped: supervisord/supervisorctl not found")
    return t, avail, msgs
