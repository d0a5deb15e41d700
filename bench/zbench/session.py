"""One measurement: a fresh directory, a notification socket, one supervisor
started as a process group we own, and a guaranteed clean-up (every process
started is killed by group, by pid and by an environment tag)."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess

from .peers import ADAPTERS, Supervisor, Svc, Tools
from .util import HarnessError, Notifier, kill_everything, now, reap_orphans

_counter = itertools.count(1)


class Session:
    def __init__(self, root: str, tools: Tools, sup: str, svcs: list[Svc]):
        self.n = next(_counter)
        self.dir = os.path.join(root, f"{sup}-{self.n}")
        self.tag = f"ZBENCH_RUN={os.path.basename(root)}-{self.n}"
        self.tools = tools
        self.sup_name = sup
        self.svcs = svcs
        self.sup: Supervisor | None = None
        self.notes: Notifier | None = None
        self.t_popen = 0.0

    def __enter__(self) -> "Session":
        os.makedirs(self.dir)
        self.notes = Notifier(os.path.join(self.dir, "notify.sock"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_")}
        env["BENCH_NOTIFY"] = self.notes.path
        key, val = self.tag.split("=", 1)
        env[key] = val
        self.sup = ADAPTERS[self.sup_name](self.tools, self.dir, env)
        self.sup.write(self.svcs)
        return self

    def start(self) -> float:
        """Starts the supervisor; returns the time just before Popen."""
        self.t_popen = now()
        self.sup.start()
        return self.t_popen

    def wait_all(self, deadline_s: float, names=None) -> float:
        names = names or [s.name for s in self.svcs]
        def exited():
            rc = self.sup.proc.poll()
            return None if rc is None else f"{self.sup_name} exited with {rc}"

        try:
            return self.notes.wait_names(names, self.t_popen + deadline_s, abort=exited)
        except HarnessError as e:
            missing = [n for n in names if n not in self.notes.latest]
            rc = self.sup.proc.poll() if self.sup.proc else None
            extra = f"; the supervisor exited with {rc}" if rc is not None else ""
            raise HarnessError(
                f"{self.sup_name} did not start every child (deadline {deadline_s:.0f}s): "
                f"{len(missing)} of {len(names)} never notified "
                f"(first: {', '.join(missing[:3])}){extra}"
            ) from e

    def __exit__(self, *exc) -> None:
        groups, pids = [], []
        if self.sup and self.sup.proc:
            groups.append(self.sup.proc.pid)
            pids.append(self.sup.proc.pid)
        if self.notes:
            self.notes.drain()
            pids += self.notes.pids()
        left = kill_everything(self.tag.encode(), groups, pids)
        if self.sup and self.sup.proc:
            try:
                self.sup.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                left.append(self.sup.proc.pid)
        reap_orphans()
        if self.notes:
            self.notes.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        if left:
            raise HarnessError(f"could not kill {left} after {self.sup_name}")
