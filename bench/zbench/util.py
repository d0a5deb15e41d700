"""Process, /proc and timing helpers shared by the adapters and scenarios."""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import signal
import socket
import statistics
import subprocess
import time

now = time.perf_counter  # CLOCK_MONOTONIC on Linux


class HarnessError(Exception):
    """A measurement could not be made (a peer did not start its children,
    a deadline passed, a tool failed). Reported for that supervisor and
    scenario; the run goes on."""


# ---------------------------------------------------------------- children


def become_subreaper() -> None:
    """Orphans of the supervisors we start (a bench child whose runsv
    exited, say) are re-parented to us instead of PID 1, so we can reap
    them and see that they are gone."""
    PR_SET_CHILD_SUBREAPER = 36
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except OSError:
        pass


def reap_orphans() -> None:
    """Reap every exited child we have. Only called when no subprocess of
    ours is being waited on elsewhere (the harness is single-threaded)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def proc_state(pid: int) -> str | None:
    """The state letter of /proc/PID/stat, or None when it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rindex(b")") + 2 : data.rindex(b")") + 3].decode()


def is_gone(pid: int) -> bool:
    """True when PID has exited (a zombie counts as gone: it no longer runs)."""
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it was re-parented to us
    except ChildProcessError:
        pass
    state = proc_state(pid)
    return state is None or state in ("Z", "X")


def proc_stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode(errors="replace")
    except OSError:
        return None
    close = data.rindex(")")
    # fields[0] is the state (field 3 of proc(5))
    return data[close + 2 :].split()


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of PIDS (their own, not their reaped children)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        f = proc_stat_fields(pid)
        if f:
            total += int(f[11]) + int(f[12])  # utime (14), stime (15)
    return total / tick


def all_pids() -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def ppid_map() -> dict[int, int]:
    out = {}
    for pid in all_pids():
        f = proc_stat_fields(pid)
        if f:
            out[pid] = int(f[1])
    return out


def descendants(root: int) -> list[int]:
    """ROOT and every process below it, by the current parent links."""
    children: dict[int, list[int]] = {}
    for pid, ppid in ppid_map().items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def smaps_rollup(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of PID in bytes, from /proc/PID/smaps_rollup."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
    except OSError:
        pass
    return rss, pss


def pids_with_env(tag: bytes) -> list[int]:
    """Every process whose environment holds TAG (b"ZBENCH_RUN=...")."""
    me = os.getpid()
    out = []
    for pid in all_pids():
        if pid == me:
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        if tag in env.split(b"\0"):
            out.append(pid)
    return out


def kill_everything(tag: bytes, groups: list[int], pids: list[int]) -> list[int]:
    """SIGKILL the process groups GROUPS, the PIDS and every process whose
    environment carries TAG, until none is left (deadline 10 s). Returns the
    pids still alive at the deadline (should be empty)."""
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
    deadline = now() + 10
    while True:
        alive = [p for p in set(pids) | set(pids_with_env(tag)) if not is_gone(p)]
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        reap_orphans()
        if not alive or now() > deadline:
            return alive
        pids = alive
        time.sleep(0.01)


# ---------------------------------------------------------- notifications


class Notifier:
    """The AF_UNIX datagram socket bench-child reports "ID PID" to."""

    def __init__(self, path: str):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        except OSError:
            pass
        self.sock.bind(path)
        self.sock.setblocking(False)
        self.reset()

    def reset(self) -> None:
        self.events: list[tuple[float, str, int]] = []
        self.latest: dict[str, tuple[float, int]] = {}
        self.drain()
        self.events.clear()
        self.latest.clear()

    def close(self) -> None:
        self.sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass

    def drain(self) -> int:
        n = 0
        while True:
            try:
                data = self.sock.recv(512)
            except BlockingIOError:
                return n
            t = now()
            try:
                ident, pid = data.decode().rsplit(" ", 1)
                pid_i = int(pid)
            except ValueError:
                continue
            self.events.append((t, ident, pid_i))
            self.latest[ident] = (t, pid_i)
            n += 1

    def wait(self, done, deadline: float, what: str, abort=None) -> None:
        """Receive notifications until done() is true; HarnessError at DEADLINE
        (an absolute now() time), or as soon as abort() returns a reason."""
        import select

        while True:
            self.drain()
            if done():
                return
            reason = abort() if abort else None
            if reason:
                raise HarnessError(f"{reason} while waiting for {what}")
            left = deadline - now()
            if left <= 0:
                raise HarnessError(f"timed out waiting for {what}")
            select.select([self.sock], [], [], min(left, 0.2))

    def wait_names(self, names, deadline: float, what: str = "", abort=None) -> float:
        """Wait until every name in NAMES has notified; returns the time the
        last of them did."""
        names = list(names)
        self.wait(
            lambda: all(n in self.latest for n in names),
            deadline,
            what
            or f"all {len(names)} children to start "
            f"(got {sum(n in self.latest for n in names)})",
            abort,
        )
        return max(self.latest[n][0] for n in names)

    def pids(self) -> list[int]:
        return [pid for _, _, pid in self.events]


# ---------------------------------------------------------------- figures


def summary(samples: list[float]) -> dict:
    if not samples:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "n": len(samples),
    }


def run_json(argv: list[str], timeout: float = 300) -> dict:
    import json

    try:
        p = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as e:
        raise HarnessError(f"{' '.join(argv[:3])}... timed out after {timeout}s") from e
    if p.returncode != 0:
        raise HarnessError(
            f"{' '.join(argv)} exited {p.returncode}: {p.stderr.strip()[-400:]}"
        )
    try:
        return json.loads(p.stdout)
    except ValueError as e:
        raise HarnessError(f"{argv[0]} printed no JSON: {p.stdout[:200]!r}") from e


def machine_info() -> dict:
    info = {
        "nproc": os.cpu_count(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    info["memory_bytes"] = int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        with open("/proc/sys/kernel/osrelease") as f:
            info["kernel"] = f.read().strip()
    except OSError:
        pass
    return info


def count_lines_in(paths: list[str]) -> int:
    total = 0
    for path in paths:
        try:
            with open(path, "rb") as f:
                while chunk := f.read(1 << 22):
                    total += chunk.count(b"\n")
        except OSError:
            pass
    return total


def errno_name(e: OSError) -> str:
    return errno.errorcode.get(e.errno or 0, str(e.errno))
