"""Processes of a chaos run: the simulator, the supervisor and its fleet file, /proc helpers.

Everything here belongs to one run and lives in its temporary directory. Every process the
run starts (and every worker the supervisor starts for it) carries ``JBAI_CHAOS_RUN=<dir>``
in its environment (the supervisor passes ``JBAI_*`` variables on to its workers), so
leftovers can be found without touching anybody else's processes on a shared machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

MARKER_ENV = "JBAI_CHAOS_RUN"
WORKER_NAME = "jetbrains-ai-proxy"

#: The client limits of the run's listeners, shorter than the defaults (10 s / 60 s / 60 s,
#: 4096 connections, 32 KiB) so the hostile clients see them act within the run. charlie's
#: connection cap is far under the burst's 2,000 connections, so the cap sheds part of each burst.
LIMITS: dict[str, Any] = {
    "header_timeout_s": 4.0,
    "idle_timeout_s": 5.0,
    "body_timeout_s": 3.0,
    "max_header_size": 16 << 10,
    "max_connections": {"charlie": 400},
}


def limit_keys() -> dict[str, Any]:
    return {
        "header_timeout": f"{LIMITS['header_timeout_s']:g}s",
        "idle_timeout": f"{LIMITS['idle_timeout_s']:g}s",
        "body_timeout": f"{LIMITS['body_timeout_s']:g}s",
        "max_header_size": f"{LIMITS['max_header_size'] >> 10}KiB",
    }


class Clock:
    """Seconds since the start of the run (monotonic); ``wall0`` is the wall clock then."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.wall0 = time.time()

    def now(self) -> float:
        return time.monotonic() - self.t0


# --------------------------------------------------------------------------- /proc


def pid_state(pid: int) -> str | None:
    """The one-letter state of ``pid`` (R, S, T, Z…) or None when it does not exist."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def pid_alive(pid: int) -> bool:
    return pid_state(pid) not in (None, "Z", "X")


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def environ_has(pid: int, needle: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return needle in f.read().split(b"\0")
    except OSError:
        return False


def fd_targets(pid: int) -> list[str] | None:
    """What each open fd of ``pid`` points at, or None if the process is gone."""
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    targets = []
    for name in names:
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{name}"))
        except OSError:
            pass
    return targets


def fd_kind(target: str) -> str:
    """``socket:[123]`` → ``socket``, ``anon_inode:[eventfd]`` → ``anon_inode:eventfd``, a path → ``file``."""
    m = re.match(r"^(\w+):\[(\d+)\]$", target)
    if m:
        return m.group(1)
    m = re.match(r"^anon_inode:\[?([\w-]+)\]?$", target)
    if m:
        return f"anon_inode:{m.group(1)}"
    return "file"


def rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cwd_of(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""


def run_processes(run_dir: Path) -> list[tuple[int, str]]:
    """Live processes of this run (not ourselves): the marker in the environment, the run
    directory in the command line, or a working directory inside it (e.g. the
    ``swift-backtrace`` a crashing worker starts, which gets a cleaned environment)."""
    needle = f"{MARKER_ENV}={run_dir}".encode()
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        if pid == me or not pid_alive(pid):
            continue
        line = cmdline(pid)
        if str(run_dir) in line or cwd_of(pid).startswith(str(run_dir)) or environ_has(pid, needle):
            found.append((pid, line))
    return found


# --------------------------------------------------------------------------- child processes


class Child:
    """A process we started, in its own session, output to ``log``."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str], cwd: Path) -> None:
        self.name = name
        self.log = log
        self._out = open(log, "wb")
        self.popen = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self._out, stderr=subprocess.STDOUT,
            env=env, cwd=str(cwd), start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    async def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = regex.search(self.text())
            if m:
                return m
            if not self.running():
                raise RuntimeError(f"{self.name} exited (rc {self.popen.returncode}) before printing {pattern!r}:\n{self.text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not print {pattern!r} within {timeout}s:\n{self.text()[-3000:]}")
            await asyncio.sleep(0.05)

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        """Sends ``sig``, waits up to ``timeout`` s, then SIGKILLs. Returns the exit status
        (negative: killed by that signal); None when we had to SIGKILL it."""
        if self.running():
            self.popen.send_signal(sig)
            deadline = time.monotonic() + timeout
            while self.running() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        forced = False
        if self.running():
            forced = True
            self.popen.kill()
        rc = self.popen.wait()
        if not self._out.closed:
            self._out.close()
        return None if forced else rc


# --------------------------------------------------------------------------- the simulator


class Simulator:
    def __init__(self, bin_dir: Path, run_dir: Path, env: dict[str, str]) -> None:
        self.child = Child(
            "simulator", [str(bin_dir / "jetbrains-ai-simulator"), "--listen", "127.0.0.1:0"],
            run_dir / "simulator.log", env, run_dir,
        )
        self.url = ""
        self.http: httpx.AsyncClient | None = None

    async def start(self) -> None:
        m = await self.child.wait_for(r"Simulator listening on (http://\S+)", timeout=20)
        self.url = m.group(1)
        self.http = httpx.AsyncClient(base_url=self.url, timeout=10.0)

    async def admin(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        assert self.http is not None
        r = await self.http.request(method, f"/_sim/{path}", **kw)
        try:
            body = r.json()
        except ValueError:
            body = r.text
        return r.status_code, body

    async def add_jwt(self, jwt: str) -> None:
        code, body = await self.admin("POST", "jwts", json={"jwt": jwt, "valid": True, "quota_maximum": 1e12})
        if code != 200:
            raise RuntimeError(f"simulator refused JWT: {code} {body}")

    async def add_fault(self, **fault: Any) -> str:
        code, body = await self.admin("POST", "faults", json={k: v for k, v in fault.items() if v is not None})
        if code != 200:
            raise RuntimeError(f"simulator refused fault {fault}: {code} {body}")
        return body["id"]

    async def delete_fault(self, fault_id: str) -> bool:
        code, _ = await self.admin("DELETE", f"faults/{fault_id}")
        return code == 200

    async def fault_ids(self) -> set[str]:
        code, body = await self.admin("GET", "faults")
        if code != 200:
            raise RuntimeError(f"GET /_sim/faults: {code}")
        return {f["id"] for f in body["faults"]}

    async def clear_faults(self) -> None:
        await self.admin("DELETE", "faults")

    async def stats(self) -> dict[str, Any]:
        return (await self.admin("GET", "stats"))[1]

    async def close(self) -> None:
        if self.http is not None:
            await self.http.aclose()
        await self.child.stop(signal.SIGTERM, timeout=5)


# --------------------------------------------------------------------------- the fleet file


@dataclass
class TokenSpec:
    name: str
    jwt: str


@dataclass
class TenantSpec:
    name: str
    key: str
    tokens: list[TokenSpec] = field(default_factory=list)
    next_token: int = 1


class FleetFile:
    """The fleet YAML of the run; ``write()`` replaces it atomically."""

    def __init__(self, path: Path, upstream: str, worker_binary: Path, tenants: list[TenantSpec]) -> None:
        self.path = path
        self.upstream = upstream
        self.worker_binary = worker_binary
        self.tenants = {t.name: t for t in tenants}

    def document(self) -> dict[str, Any]:
        return {
            "version": 1,
            "supervisor": {
                "listen": "127.0.0.1:0",
                "control_socket": "run/supervisor.sock",
                "run_dir": "run",
                "log_dir": "logs",
                "worker_binary": str(self.worker_binary),
                "restart": {"initial_backoff": "100ms", "max_backoff": "2s", "max_restarts": 20, "window": "60s"},
                "heartbeat_interval": "200ms",
                "heartbeat_timeout": "2s",
                "shutdown_timeout": "5s",
                **limit_keys(),
            },
            "defaults": {
                "upstream": self.upstream,
                "health_check_interval": "1s",
                "request_timeout": "5s",
                # As many attempts as a tenant can have JWTs (2..4 during the run), so a request
                # fails over to every JWT and fails only when none of them is usable.
                "max_attempts": 4,
                **limit_keys(),
            },
            "tenants": {
                t.name: {
                    "listen": "127.0.0.1:0",
                    "api_keys": [t.key],
                    "tokens": [{"name": k.name, "jwt": k.jwt} for k in t.tokens],
                    **({"max_connections": LIMITS["max_connections"][t.name]} if t.name in LIMITS["max_connections"] else {}),
                }
                for t in self.tenants.values()
            },
        }

    def write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(self.document(), sort_keys=False))
        os.replace(tmp, self.path)


# --------------------------------------------------------------------------- the supervisor


class Supervisor:
    def __init__(self, bin_dir: Path, run_dir: Path, fleet: FleetFile, env: dict[str, str]) -> None:
        self.bin_dir = bin_dir
        self.run_dir = run_dir
        self.fleet = fleet
        self.env = env
        self.socket = run_dir / "run" / "supervisor.sock"
        self.child = Child(
            "supervisor", [str(bin_dir / "jetbrains-ai-supervisor"), "run", str(fleet.path)],
            run_dir / "supervisor.log", env, run_dir,
        )
        self.uds = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=str(self.socket)), base_url="http://supervisor", timeout=10.0,
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    @property
    def pid(self) -> int:
        return self.child.pid

    async def start(self) -> None:
        await self.child.wait_for(r"control socket at \S+", timeout=30)

    async def status(self) -> dict[str, Any]:
        r = await self.uds.get("/status")
        r.raise_for_status()
        return r.json()

    async def wait_running(self, names: list[str], timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = await self.status()
                tenants = last["tenants"]
                if all(n in tenants and tenants[n]["state"] == "running" and tenants[n]["pid"] for n in names):
                    return last
            except (httpx.HTTPError, KeyError, ValueError) as e:
                last = e
            await asyncio.sleep(0.1)
        raise RuntimeError(f"tenants {names} not running within {timeout}s; last status: {last}")

    async def reload_http(self) -> tuple[int, Any]:
        r = await self.uds.post("/reload")
        try:
            return r.status_code, r.json()
        except ValueError:
            return r.status_code, r.text

    async def reload_ctl(self) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            str(self.bin_dir / "jetbrains-ai-supervisor"), "ctl", "reload", "--socket", str(self.socket),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=self.env,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
        return proc.returncode or 0, out.decode(errors="replace").strip()

    def sighup(self) -> None:
        os.kill(self.pid, signal.SIGHUP)

    async def close(self, timeout: float) -> int | None:
        await self.uds.aclose()
        return await self.child.stop(signal.SIGTERM, timeout=timeout)


def tenant_logs(run_dir: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted((run_dir / "logs").glob("*.log"))}


def dump_json(path: Path, items: list[Any]) -> None:
    with open(path, "w") as f:
        for item in items:
            f.write(json.dumps(item, default=str) + "\n")


# --------------------------------------------------------------------------- the supervisor's log

_EXIT_LINES = [
    (re.compile(r"tenant (\S+): worker pid (\d+) crashed \(([^)]*)\)(?: after it was killed: (.*))?"), "crashed"),
    (re.compile(r"tenant (\S+): replaced worker pid (\d+) exited \(([^)]*)\)"), "replaced"),
    (re.compile(r"tenant (\S+): replacement worker pid (\d+) failed \(([^)]*)\)"), "replacement failed"),
    (re.compile(r"tenant (\S+): worker pid (\d+) stopped \(([^)]*)\)"), "stopped"),
]
_KILL_LINE = re.compile(r"tenant (\S+): killing worker pid (\d+): (.*)")
FATAL_LINE = re.compile(r"(?:\S+\.swift:\d+: )?(?:Fatal error|Precondition failed|Assertion failed)[^\n*]*")


def worker_exits(supervisor_log: Path) -> dict[int, dict[str, str]]:
    """pid → {tenant, how, status, killed_for} from the supervisor's own log lines."""
    out: dict[int, dict[str, str]] = {}
    try:
        text = supervisor_log.read_text(errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        m = _KILL_LINE.search(line)
        if m:
            out.setdefault(int(m.group(2)), {"tenant": m.group(1)})["killed_for"] = m.group(3).strip()
            continue
        for regex, how in _EXIT_LINES:
            m = regex.search(line)
            if m:
                entry = out.setdefault(int(m.group(2)), {"tenant": m.group(1)})
                entry["how"], entry["status"] = how, m.group(3)
                if how == "crashed" and m.group(4):
                    entry["killed_for"] = m.group(4).strip()
                break
    return out


def fatal_messages(log_dir: Path) -> dict[str, dict[str, int]]:
    """tenant → {fatal runtime message: count} from the workers' logs."""
    out: dict[str, dict[str, int]] = {}
    for path in sorted(log_dir.glob("*.log*")):
        tenant = path.name.split(".log")[0]
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        for m in FATAL_LINE.finditer(text):
            line = m.group(0).strip()
            counts = out.setdefault(tenant, {})
            counts[line] = counts.get(line, 0) + 1
    return out


_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)([+-]\d{4})? ")
_ATTEMPT = re.compile(r"error=(.*?) tenant=\S+ token=\S+ \[Worker(?:Core)?\] upstream attempt failed")


def log_lines_between(path: Path, wall_from: float, wall_to: float, pattern: re.Pattern[str]) -> list[str]:
    """Lines of a worker log stamped (to the second) within [wall_from, wall_to] matching ``pattern``."""
    import datetime as dt

    out = []
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return out
    for line in lines:
        m = _LOG_TIME.match(line)
        if not m:
            continue
        stamp = dt.datetime.strptime(m.group(1) + (m.group(2) or "+0000"), "%Y-%m-%dT%H:%M:%S%z").timestamp()
        if wall_from - 1 <= stamp <= wall_to + 1 and pattern.search(line):
            out.append(line)
    return out


def attempt_errors(log_dir: Path) -> dict[str, int]:
    """Why upstream attempts failed, per the workers' logs (fault ids and details folded)."""
    out: dict[str, int] = {}
    for path in sorted(log_dir.glob("*.log*")):
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        for m in _ATTEMPT.finditer(text):
            reason = m.group(1)
            reason = re.sub(r": \{.*", "", reason)
            reason = re.sub(r"\(fault-\d+\)", "", reason).strip()
            out[reason] = out.get(reason, 0) + 1
    return out
