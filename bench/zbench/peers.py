"""One adapter per supervisor, all with the same interface.

An adapter writes N service definitions (each runs bench-child, optionally
`after` other services, optionally in BENCH_MODE=lines with its output
logged) into a fresh directory, starts the supervisor as a process group we
own, names the whole-CLI status command for one service, asks the
supervisor to stop, and lists the supervisor's own processes (for memory
and CPU). Killing is done by the scenario runner (util.kill_everything).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field

from .util import HarnessError, comm, count_lines_in, descendants


@dataclass
class Svc:
    name: str
    after: list[str] = field(default_factory=list)
    lines: bool = False  # BENCH_MODE=lines with its stdout logged by the supervisor
    # zinit only: resource limits (memory, CPU, tasks) written to the
    # service's cgroups before each run; prices `resources:` per spawn.
    limits: bool = False


class Supervisor:
    name = "?"
    # how `after` is honoured: "native", "run-script" or "none"
    deps = "native"
    deps_note = ""
    own_comms: tuple[str, ...] = ()
    logger_comms: tuple[str, ...] = ()

    def __init__(self, tools: "Tools", workdir: str, env: dict[str, str]):
        self.t = tools
        self.work = workdir
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.svcs: list[Svc] = []

    # -- configuration
    def write(self, svcs: list[Svc]) -> None:
        self.svcs = svcs
        os.makedirs(os.path.join(self.work, "logs"), exist_ok=True)
        self._write(svcs)

    def _write(self, svcs: list[Svc]) -> None:
        raise NotImplementedError

    # -- life cycle
    def argv(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> subprocess.Popen:
        self.proc = subprocess.Popen(
            self.argv(),
            env=self.env,
            cwd=self.work,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, which we kill
        )
        return self.proc

    def request_stop(self) -> None:
        """Ask the supervisor to stop every service (and itself)."""
        os.kill(self.proc.pid, signal.SIGTERM)

    def status_argv(self, name: str) -> list[str]:
        raise NotImplementedError

    # -- measurement
    def own_pids(self) -> list[int]:
        """The supervisor's own processes (not the services, not loggers)."""
        if not self.proc:
            return []
        return [
            p
            for p in descendants(self.proc.pid)
            if p == self.proc.pid or comm(p) in self.own_comms
        ]

    def logger_pids(self) -> list[int]:
        if not self.proc or not self.logger_comms:
            return []
        return [p for p in descendants(self.proc.pid) if comm(p) in self.logger_comms]

    def log_lines(self, name: str) -> int:
        """Lines of service NAME captured so far."""
        d = os.path.join(self.work, "logs", name)
        files = [os.path.join(d, f) for f in os.listdir(d)] if os.path.isdir(d) else []
        return count_lines_in([f for f in files if os.path.isfile(f)])


# ------------------------------------------------------------------ zinit


class Zinit(Supervisor):
    name = "zinit"
    own_comms = ("zinit",)

    @property
    def sock(self) -> str:
        return os.path.join(self.work, "zinit.sock")

    def _write(self, svcs):
        d = os.path.join(self.work, "services")
        os.makedirs(d)
        for s in svcs:
            lines = [f'exec: "{self.t.child} {s.name}"']
            if s.after:
                lines.append("after: [" + ", ".join(s.after) + "]")
            if s.lines:
                lines.append("env:\n  BENCH_MODE: lines")
            if s.limits:
                lines.append("resources:\n  memory_max: 1GiB\n  cpu: 2\n  pids_max: 1000")
            with open(os.path.join(d, s.name + ".yaml"), "w") as f:
                f.write("\n".join(lines) + "\n")

    def argv(self):
        return [
            self.t.zinit, "-s", self.sock, "init",
            "-c", os.path.join(self.work, "services"),
            "--env-file", "/dev/null",
            "--log-dir", os.path.join(self.work, "logs"),
        ]

    def status_argv(self, name):
        return [self.t.zinit, "-s", self.sock, "status", name]

    def own_pids(self):
        return [self.proc.pid] if self.proc else []

    def rpc(self, method: str, params=None, timeout: float = 5.0):
        """One JSON-RPC call on a fresh connection to the control socket."""
        req = {"jsonrpc": "2.0", "id": 1, "method": method}
        if params is not None:
            req["params"] = params
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.sock)
            s.sendall(json.dumps(req).encode() + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        answer = json.loads(buf)
        if "error" in answer:
            raise HarnessError(f"zinit {method}: {answer['error']}")
        return answer["result"]

    def log_lines(self, name):
        m = self.rpc("system_metrics")
        try:
            return int(m["log"]["lines_total"])
        except (KeyError, TypeError) as e:
            raise HarnessError(f"system_metrics has no log.lines_total: {str(m)[:200]}") from e


# ------------------------------------------------------------------ runit


class ServiceDirSupervisor(Supervisor):
    """runit and s6: a scan directory with one directory per service whose
    `run` is bench-child itself (a symlink: no shell at all), or a tiny
    script when it must wait for dependencies or write lines; a `log/run`
    logger for the line-writing service."""

    @property
    def sdir(self) -> str:
        return os.path.join(self.work, "service")

    def wait_for_deps(self, deps: str) -> str:
        """The run-script line that waits until `deps` are up."""
        raise NotImplementedError

    def write_logger(self, service_dir: str, logdir: str) -> None:
        """Set up `service_dir/log/run` to keep every line in `logdir`."""
        raise NotImplementedError

    def _write(self, svcs):
        os.makedirs(self.sdir)
        for s in svcs:
            d = os.path.join(self.sdir, s.name)
            os.makedirs(d)
            run = os.path.join(d, "run")
            if not s.after and not s.lines:
                os.symlink(self.t.child, run)  # no shell at all
            else:
                body = "#!/bin/sh\n"
                if s.after:
                    body += self.wait_for_deps(" ".join("../" + a for a in s.after)) + "\n"
                if s.lines:
                    body += "BENCH_MODE=lines; export BENCH_MODE\n"
                body += f"exec {self.t.child}\n"
                _script(run, body)
            if s.lines:
                self.write_logger(d, os.path.join(self.work, "logs", s.name))

    def log_lines(self, name):
        d = os.path.join(self.work, "logs", name)
        if not os.path.isdir(d):
            return 0
        files = [os.path.join(d, f) for f in os.listdir(d)
                 if f == "current" or f.startswith("@")]
        return count_lines_in(files)


class Runit(ServiceDirSupervisor):
    name = "runit"
    deps = "run-script"
    deps_note = ("runit has no native dependencies: `after` is a run script "
                 "doing `sv -w 60 check ../DEP || exit 1; exec bench-child`")
    own_comms = ("runsvdir", "runsv")
    logger_comms = ("svlogd",)

    def wait_for_deps(self, deps):
        return f"sv -w 60 check {deps} >/dev/null || exit 1"

    def write_logger(self, service_dir, logdir):
        os.makedirs(logdir)
        # s0: never rotate (svlogd(8)); no timestamps: lines stay as written
        with open(os.path.join(logdir, "config"), "w") as f:
            f.write("s0\n")
        os.makedirs(os.path.join(service_dir, "log"))
        _script(os.path.join(service_dir, "log", "run"),
                f"#!/bin/sh\nexec {self.t.svlogd} {logdir}\n")

    def _write(self, svcs):
        super()._write(svcs)
        # runsvdir(8) does not scan a directory modified within the current
        # second: it sleeps until the next one. A directory written just now
        # would cost runit up to 1 s of start-up that no real boot pays.
        past = time.time() - 10
        os.utime(self.sdir, (past, past))

    def argv(self):
        return [self.t.runsvdir, self.sdir]

    def request_stop(self):
        # runsvdir(8): on SIGHUP it sends TERM to every runsv and exits; each
        # runsv then stops its service (TERM) and exits.
        os.kill(self.proc.pid, signal.SIGHUP)

    def status_argv(self, name):
        return [self.t.sv, "status", os.path.join(self.sdir, name)]


# --------------------------------------------------------------------- s6


class S6(ServiceDirSupervisor):
    name = "s6"
    deps = "run-script"
    deps_note = ("s6 has no dependencies without s6-rc (out of scope): `after` is "
                 "a run script doing `s6-svwait -u ../DEP; exec bench-child`")
    own_comms = ("s6-svscan", "s6-supervise")
    logger_comms = ("s6-log",)

    def wait_for_deps(self, deps):
        return f"{self.t.s6_svwait} -u {deps} || exit 1"

    def write_logger(self, service_dir, logdir):
        os.makedirs(os.path.join(service_dir, "log"))
        # n1000 archives of the largest size s6-log accepts; no timestamps
        _script(os.path.join(service_dir, "log", "run"),
                f"#!/bin/sh\nexec {self.t.s6_log} n1000 s268435455 {logdir}\n")

    def argv(self):
        return [self.t.s6_svscan, self.sdir]

    def request_stop(self):
        subprocess.run([self.t.s6_svscanctl, "-t", self.sdir], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)

    def status_argv(self, name):
        return [self.t.s6_svstat, os.path.join(self.sdir, name)]


# ------------------------------------------------------------ supervisord


class Supervisord(Supervisor):
    name = "supervisord"
    deps = "none"
    deps_note = ("supervisord has no dependencies: `after` becomes only a start "
                 "priority (not waited on)")
    own_comms = ()

    @property
    def conf(self) -> str:
        return os.path.join(self.work, "supervisord.conf")

    @property
    def sock(self) -> str:
        return os.path.join(self.work, "supervisor.sock")

    def _write(self, svcs):
        w = self.work
        out = [
            "[supervisord]", "nodaemon=true", f"logfile={w}/supervisord.log",
            f"pidfile={w}/supervisord.pid", f"childlogdir={w}/logs", "minfds=16384",
            "", "[unix_http_server]", f"file={self.sock}", "",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            "", "[supervisorctl]", f"serverurl=unix://{self.sock}", "",
        ]
        depth = _depths(svcs)
        for s in svcs:
            out += [
                f"[program:{s.name}]", f"command={self.t.child} {s.name}",
                "startsecs=0", "autorestart=true", "stopsignal=TERM",
                f"priority={min(999, 1 + depth[s.name])}",
            ]
            if s.lines:
                out += [
                    'environment=BENCH_MODE="lines"',
                    f"stdout_logfile={w}/logs/{s.name}/out.log",
                    "stdout_logfile_maxbytes=0", "stdout_logfile_backups=0",
                ]
                os.makedirs(os.path.join(w, "logs", s.name))
            else:
                out += ["stdout_logfile=NONE", "stderr_logfile=NONE"]
            out.append("")
        with open(self.conf, "w") as f:
            f.write("\n".join(out))

    def argv(self):
        return [*self.t.supervisord, "-n", "-c", self.conf]

    def status_argv(self, name):
        return [*self.t.supervisorctl, "-c", self.conf, "status", name]

    def own_pids(self):
        return [self.proc.pid] if self.proc else []


# ---------------------------------------------------------------- helpers


def _script(path: str, body: str) -> None:
    with open(path, "w") as f:
        f.write(body)
    os.chmod(path, 0o755)


def _depths(svcs: list[Svc]) -> dict[str, int]:
    by = {s.name: s for s in svcs}
    memo: dict[str, int] = {}

    def depth(n: str) -> int:
        if n not in memo:
            memo[n] = 0  # cycle guard
            memo[n] = 1 + max((depth(a) for a in by[n].after if a in by), default=-1)
        return memo[n]

    return {s.name: depth(s.name) for s in svcs}


@dataclass
class Tools:
    """Absolute paths of every program the harness runs."""
    child: str
    tool: str
    zinit: str
    runsvdir: str | None = None
    sv: str | None = None
    svlogd: str | None = None
    s6_svscan: str | None = None
    s6_svscanctl: str | None = None
    s6_svstat: str | None = None
    s6_svwait: str | None = None
    s6_log: str | None = None
    supervisord: list[str] | None = None
    supervisorctl: list[str] | None = None


def real_python_script(name: str) -> list[str] | None:
    """supervisord/supervisorctl without a pyenv shim in front (the shim is a
    bash script that would add tens of milliseconds to every start)."""
    path = shutil.which(name)
    if not path:
        return None
    if "/shims/" in path and shutil.which("pyenv"):
        p = subprocess.run(["pyenv", "which", name], capture_output=True, text=True)
        if p.returncode == 0 and p.stdout.strip():
            path = p.stdout.strip()
    return [os.path.realpath(path)]


ADAPTERS = {"zinit": Zinit, "runit": Runit, "s6": S6, "supervisord": Supervisord}
