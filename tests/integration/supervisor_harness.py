"""Helpers for the integration tests of the supervisor (``jetbrains-ai-supervisor``).

``Fleet``
    Writes a fleet YAML (from a dict) into its own folder, starts the supervisor against a
    simulator, waits until every tenant is ``running``, and talks to it: ``status()``,
    ``health()`` (the TCP ``/health``), ``control()`` (HTTP over the control socket),
    ``reload()``, ``ctl(*args)`` (the CLI, returns ``(code, stdout, stderr)``),
    ``tenant_url(name)``, ``complete(name)``, ``worker_pids()``. ``close()`` stops the
    supervisor and makes sure no worker of this fleet is left (returns the leaked pids).
``Hammer``
    A background thread sending chat completions to one tenant port in a loop, a new TCP
    connection per request (raw socket, ``Connection: close``, read until the server closes)
    so a refused connection is visible, recording every shot (start, end, outcome).
    ``start()``/``stop()``; bounded by ``max_duration``. ``raw_request`` is the same for one
    request, returning an ``httpx.Response``.
Checks
    ``check_replacement_requests`` (zero failed requests across a replacement), ``give_unlimited_quota``.
Orphans
    ``child_subreaper()`` and ``try_reap(pid)``: how workers of a killed supervisor ended.
Fixtures (import them into a test module)
    ``make_fleet`` — factory of ``Fleet`` objects on the test's simulator, all closed (and
    checked for leaked workers) after the test; ``running_fleet`` — a context manager for
    module-scoped fleets.
Tenants and secrets
    ``secret_jwt(label)`` / ``api_key(label)`` make distinct secrets whose fingerprint (the
    first 10 characters) is unique per label and whose tail holds ``SECRET_MARK``, so a leak
    of any part beyond the fingerprint can be searched for; ``tenant(label, ...)`` builds a
    tenant entry; ``fleet_document(...)`` the whole file with short test timings.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import httpx
import pytest
import yaml

from harness import Proc, Simulator, binary, wait_until

SUPERVISOR_BINARY = "jetbrains-ai-supervisor"
WORKER_BINARY = "jetbrains-ai-proxy"

#: Appears in every secret made here, after the fingerprinted prefix.
SECRET_MARK = "S3CR3T"

HEALTH_LINE = re.compile(r"health on (http://\S+)/health")
TENANT_LINE = re.compile(r"tenant (?P<name>[a-z0-9-]+): listening on (?P<host>\S+):(?P<port>\d+)")
CONTROL_LINE = re.compile(r"control socket at (\S+)")

#: Short timings for test fleets.
TEST_SUPERVISOR: dict[str, Any] = {
    "listen": "127.0.0.1:0",
    "control_socket": "run/supervisor.sock",
    "run_dir": "run",
    "log_dir": "logs",
    "restart": {"initial_backoff": "100ms", "max_backoff": "1s", "max_restarts": 3, "window": "30s"},
    "heartbeat_interval": "200ms",
    "heartbeat_timeout": "2s",
    "shutdown_timeout": "5s",
}


# --------------------------------------------------------------------------- secrets and documents


def secret_jwt(label: str) -> str:
    """A fake JWT: ``jwt<label>`` padded to 10 characters (its fingerprint), then a secret tail."""
    head = ("jwt" + label + "0" * 10)[:10]
    return f"{head}-{SECRET_MARK}-jwt-{label}-5f2c9a7e41d08b36"


def api_key(label: str) -> str:
    """A client API key: ``key-<label>`` padded to 10 characters, then a secret tail."""
    head = ("key-" + label + "0" * 10)[:10]
    return f"{head}-{SECRET_MARK}-key-{label}-93ab0c6d1e7f2458"


def tenant(label: str, *, jwts: int | Sequence[str] = 1, listen: str = "127.0.0.1:0", **settings: Any) -> dict[str, Any]:
    """A tenant entry: key ``api_key(label)``, tokens ``t1..tN`` with ``secret_jwt(label+i)``
    (or the given JWT labels), plus any tenant ``settings`` (``strategy`` …)."""
    labels = [f"{label}{i + 1}" for i in range(jwts)] if isinstance(jwts, int) else list(jwts)
    entry: dict[str, Any] = {
        "listen": listen,
        "api_keys": [api_key(label)],
        "tokens": [{"name": f"t{i + 1}", "jwt": secret_jwt(l)} for i, l in enumerate(labels)],
    }
    entry.update(settings)
    return entry


def fleet_document(
    upstream: str,
    tenants: Mapping[str, Mapping[str, Any]],
    *,
    supervisor: Mapping[str, Any] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    sup = json.loads(json.dumps(TEST_SUPERVISOR))
    sup.update(supervisor or {})
    dflt: dict[str, Any] = {"upstream": upstream, "health_check_interval": "2s"}
    dflt.update(defaults or {})
    return {"version": 1, "supervisor": sup, "defaults": dflt, "tenants": {k: dict(v) for k, v in tenants.items()}}


def chat_payload(text: str = "hello", *, stream: bool = False, model: str = "gpt-4o") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], "stream": stream}


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def pid_state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return None


def port_accepts(url_or_port: str | int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    """Whether a TCP connect to the port succeeds."""
    import socket

    if isinstance(url_or_port, str):
        hostport = url_or_port.split("://", 1)[-1].split("/", 1)[0]
        host, port = hostport.rsplit(":", 1)
        port_n = int(port)
    else:
        port_n = url_or_port
    try:
        with socket.create_connection((host, port_n), timeout=timeout):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- the fleet


class Fleet:
    """One supervisor with its fleet file in ``directory`` (``fleet.yaml`` there; control
    socket, run and log dirs relative to it)."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        upstream: str,
        tenants: Mapping[str, Mapping[str, Any]],
        *,
        supervisor: Mapping[str, Any] | None = None,
        defaults: Mapping[str, Any] | None = None,
        file_name: str = "fleet.yaml",
    ) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.upstream = upstream
        self.path = self.dir / file_name
        self.doc = fleet_document(upstream, tenants, supervisor=supervisor, defaults=defaults)
        self.proc: Proc | None = None
        self.health_url: str | None = None
        self._uds: httpx.Client | None = None
        self.write()

    # -- the file

    @property
    def run_dir(self) -> Path:
        return (self.dir / self.doc["supervisor"].get("run_dir", "run")).resolve()

    @property
    def log_dir(self) -> Path:
        return (self.dir / self.doc["supervisor"].get("log_dir", "logs")).resolve()

    @property
    def control_socket(self) -> Path:
        return (self.dir / self.doc["supervisor"].get("control_socket", "run/supervisor.sock")).resolve()

    @property
    def tenants(self) -> dict[str, dict[str, Any]]:
        return self.doc["tenants"]

    def write(self, doc: Mapping[str, Any] | None = None) -> Path:
        if doc is not None:
            self.doc = json.loads(json.dumps(doc))
        self.path.write_text(yaml.safe_dump(self.doc, sort_keys=False))
        return self.path

    def write_text(self, text: str) -> Path:
        """Writes raw text as the fleet file (``self.doc`` is not changed)."""
        self.path.write_text(text)
        return self.path

    # -- the supervisor process

    def start(
        self,
        *,
        wait: bool = True,
        default_subcommand: bool = False,
        env: Mapping[str, str | None] | None = None,
        timeout: float = 20.0,
    ) -> "Fleet":
        self.env = dict(env or {})
        args = [str(self.path)] if default_subcommand else ["run", str(self.path)]
        self.proc = Proc(binary(SUPERVISOR_BINARY), args, env=env, cwd=self.dir, log_dir=self.dir / "proc", name="supervisor")
        if wait:
            self.health_url = self.proc.wait_for_line(HEALTH_LINE, timeout=timeout).group(1)
            self.proc.wait_for_line(CONTROL_LINE, timeout=timeout)
            self.wait_running(timeout=timeout)
        return self

    def stderr(self) -> str:
        return self.proc.stderr_text() if self.proc else ""

    def describe(self) -> str:
        return self.proc.describe() if self.proc else "(supervisor not started)"

    def close(self) -> list[int]:
        """Stops the supervisor (SIGTERM, then SIGKILL), then waits for this fleet's workers to
        go; kills and returns any that did not go on their own."""
        if self._uds is not None:
            self._uds.close()
            self._uds = None
        if self.proc is not None and self.proc.is_running():
            self.proc.terminate(timeout=15.0)
        elif self.proc is not None:
            self.proc.kill()
        leaked: list[int] = []
        try:
            wait_until(lambda: not self.worker_pids(), timeout=10.0, interval=0.1)
        except AssertionError:
            leaked = self.worker_pids()
            for pid in leaked:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            wait_until(lambda: not self.worker_pids(), timeout=10.0, interval=0.1)
        return leaked

    def worker_pids(self) -> list[int]:
        """Live processes whose command line names this fleet's run dir (``pgrep -f``)."""
        out = subprocess.run(
            ["pgrep", "-f", "--", f"--control-socket {self.run_dir}/"], capture_output=True, text=True
        ).stdout
        return [pid for pid in (int(p) for p in out.split()) if pid != os.getpid() and pid_alive(pid)]

    # -- the control socket

    @property
    def uds(self) -> httpx.Client:
        if self._uds is None:
            self._uds = httpx.Client(
                transport=httpx.HTTPTransport(uds=str(self.control_socket)), base_url="http://supervisor", timeout=30.0
            )
        return self._uds

    def control(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.uds.request(method, path, **kw)

    def status(self) -> dict[str, Any]:
        response = self.control("GET", "/status")
        assert response.status_code == 200, response.text
        return response.json()

    def tenant(self, name: str) -> dict[str, Any]:
        return self.status()["tenants"][name]

    def pid(self, name: str) -> int | None:
        return self.tenant(name)["pid"]

    def health(self, timeout: float = 5.0) -> httpx.Response:
        """``GET /health`` on ``supervisor.listen``."""
        if not self.health_url:
            assert self.proc is not None, "supervisor not started"
            self.health_url = self.proc.wait_for_line(HEALTH_LINE, timeout=20).group(1)
        return httpx.get(f"{self.health_url}/health", timeout=timeout)

    def reload(self) -> tuple[int, dict[str, Any]]:
        """``POST /reload`` on the control socket: (HTTP status, report)."""
        response = self.control("POST", "/reload")
        return response.status_code, response.json()

    def ctl(
        self,
        *args: str,
        socket: bool = True,
        env: Mapping[str, str | None] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        timeout: float = 60.0,
    ) -> tuple[int, str, str]:
        """Runs ``jetbrains-ai-supervisor ctl ARGS`` (adding ``--socket`` unless told not to)."""
        return run_ctl(*args, *(["--socket", str(self.control_socket)] if socket else []), env=env, cwd=cwd, timeout=timeout)

    # -- waiting

    def wait_running(self, names: Sequence[str] | None = None, timeout: float = 20.0) -> dict[str, Any]:
        """Until every (or every named) tenant is ``running`` with a pid; returns the status."""

        def ready() -> dict[str, Any] | None:
            status = self.status()
            wanted = names if names is not None else list(status["tenants"])
            ok = all(
                n in status["tenants"] and status["tenants"][n]["state"] == "running" and status["tenants"][n]["pid"]
                for n in wanted
            )
            return status if ok else None

        return wait_until(ready, timeout=timeout, interval=0.05, message=lambda: f"tenants running\n{self.describe()}")

    def wait_state(self, name: str, state: str, timeout: float = 15.0) -> dict[str, Any]:
        return wait_until(
            lambda: (t := self.status()["tenants"].get(name)) is not None and t["state"] == state and t,
            timeout=timeout,
            interval=0.05,
            message=lambda: f"tenant {name} {state}: {self.status()['tenants'].get(name)}",
        )

    def wait_new_pid(self, name: str, old_pid: int, timeout: float = 15.0) -> dict[str, Any]:
        """Until ``name`` is running on a pid other than ``old_pid``; returns its entry."""
        return wait_until(
            lambda: (t := self.status()["tenants"][name])["state"] == "running" and t["pid"] not in (None, old_pid) and t,
            timeout=timeout,
            interval=0.05,
            message=lambda: f"tenant {name} replaced: {self.status()['tenants'][name]}",
        )

    def wait_health(self, status: str, timeout: float = 15.0) -> dict[str, Any]:
        return wait_until(
            lambda: (doc := self.health().json())["status"] == status and doc,
            timeout=timeout,
            interval=0.1,
            message=lambda: f"fleet health {status}: {self.health().text}",
        )

    # -- tenants

    def tenant_url(self, name: str) -> str:
        host, port = self.tenant(name)["listen"].rsplit(":", 1)
        if host in ("0.0.0.0", "", "*"):
            host = "127.0.0.1"
        return f"http://{host}:{port}"

    def key(self, name: str) -> str:
        """The tenant's first API key (a ``${VAR}`` is resolved from the supervisor's env)."""
        key = self.tenants[name]["api_keys"][0]
        match = re.fullmatch(r"\$\{(\w+)\}", key)
        if match:
            return getattr(self, "env", {}).get(match.group(1)) or os.environ[match.group(1)]
        return key

    def complete(
        self, name: str, text: str = "hello", *, key: str | None = None, url: str | None = None, timeout: float = 15.0
    ) -> httpx.Response:
        """A non-streaming chat completion on tenant ``name``'s port with its key (see
        ``raw_request``: the client never closes the connection first)."""
        return raw_request(
            url or self.tenant_url(name),
            "POST",
            "/v1/chat/completions",
            body=json.dumps(chat_payload(text)).encode(),
            headers={"Authorization": f"Bearer {key or self.key(name)}", "Content-Type": "application/json"},
            timeout=timeout,
        )

    def hammer(self, name: str, **kw: Any) -> "Hammer":
        return Hammer(self.tenant_url(name), self.key(name), name=name, **kw)

    def all_log_text(self) -> str:
        """Every worker log file (rotated ones too) and the supervisor's own output."""
        texts = [p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log*")) if p.is_file()]
        if self.proc is not None:
            texts.append(self.proc.output())
        return "\n".join(texts)


def raw_request(
    url: str,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    timeout: float = 15.0,
) -> httpx.Response:
    """One HTTP/1.1 request with ``Connection: close`` on a new connection, read until the
    server closes it, returned as an ``httpx.Response``. Unlike an HTTP client library it never
    closes its end first (a worker bug crashes on clients that close right after the body)."""
    hostport = url.split("://", 1)[-1].rstrip("/")
    host, port = hostport.rsplit(":", 1)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {hostport}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    data = b""
    with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as conn:
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        while chunk := conn.recv(65536):
            data += chunk
    head, sep, payload = data.partition(b"\r\n\r\n")
    if not sep:
        raise httpx.RemoteProtocolError(f"no complete response head: {data[:200]!r}")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    pairs = [(k.strip(), v.strip()) for k, _, v in (l.partition(":") for l in header_lines)]
    if any(k.lower() == "transfer-encoding" and v.lower() == "chunked" for k, v in pairs):
        decoded, rest = b"", payload
        while True:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            decoded, rest = decoded + rest[:size], rest[size + 2 :]
        payload = decoded
        pairs = [(k, v) for k, v in pairs if k.lower() != "transfer-encoding"]
    return httpx.Response(int(status_line.split()[1]), headers=pairs, content=payload)


def run_ctl(
    *args: str,
    env: Mapping[str, str | None] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 60.0,
    preexec_fn: Callable[[], None] | None = None,
) -> tuple[int, str, str]:
    """``jetbrains-ai-supervisor ctl ARGS`` → (exit code, stdout, stderr)."""
    full_env = dict(os.environ)
    full_env.pop("JBAI_SUPERVISOR_SOCKET", None)
    for k, v in (env or {}).items():
        if v is None:
            full_env.pop(k, None)
        else:
            full_env[k] = v
    done = subprocess.run(
        [str(binary(SUPERVISOR_BINARY)), "ctl", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=str(cwd) if cwd is not None else None,
        timeout=timeout,
        preexec_fn=preexec_fn,
    )
    return done.returncode, done.stdout, done.stderr


# --------------------------------------------------------------------------- the hammer


@dataclass(frozen=True)
class Shot:
    """One request of a ``Hammer``: monotonic start and end, outcome kind and detail."""

    start: float
    end: float
    outcome: str  # ok | refused | timeout | dropped | http_NNN | bad_body | error:Type
    detail: str = ""


class Hammer:
    """Sends non-streaming chat completions to ``url`` in a loop on a background thread, until
    ``stop()`` or ``max_duration``. Each request is a new TCP connection (raw socket, HTTP/1.1
    with ``Connection: close``, read until the server closes it), so a refused connection is
    visible and the client never closes first. Outcomes: ``ok``, ``refused``
    (ECONNREFUSED), ``timeout``, ``dropped`` (reset, or closed without a complete answer),
    ``http_NNN``, ``bad_body``, ``error:Type``."""

    def __init__(
        self,
        url: str,
        key: str,
        *,
        name: str = "",
        timeout: float = 10.0,
        pause: float = 0.02,
        max_duration: float = 90.0,
    ) -> None:
        self.url = url.rstrip("/")
        hostport = self.url.split("://", 1)[-1]
        host, port = hostport.rsplit(":", 1)
        self.address = (host.strip("[]"), int(port))
        self.key = key
        self.name = name or url
        self.timeout = timeout
        self.pause = pause
        self.max_duration = max_duration
        self._shots: list[Shot] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started_at: float | None = None

    def __enter__(self) -> "Hammer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> "Hammer":
        self.started_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"hammer-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> "Hammer":
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout if timeout is not None else self.timeout + 5)
        return self

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        n = 0
        deadline = time.monotonic() + self.max_duration
        while not self._stop.is_set() and time.monotonic() < deadline:
            n += 1
            start = time.monotonic()
            try:
                outcome, detail = self._shoot(n)
            except Exception as e:  # noqa: BLE001 - recorded, the loop goes on
                outcome, detail = f"error:{type(e).__name__}", repr(e)
            with self._lock:
                self._shots.append(Shot(start, time.monotonic(), outcome, detail))
            self._stop.wait(self.pause)

    def _shoot(self, n: int) -> tuple[str, str]:
        body = json.dumps(chat_payload(f"hammer {self.name} {n}")).encode()
        head = (
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: {self.address[0]}:{self.address[1]}\r\n"
            f"Authorization: Bearer {self.key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        end_by = time.monotonic() + self.timeout
        try:
            conn = socket.create_connection(self.address, timeout=self.timeout)
        except ConnectionRefusedError as e:
            return "refused", repr(e)
        except (socket.timeout, TimeoutError) as e:
            return "timeout", f"connect: {e!r}"
        data = b""
        try:
            with conn:
                conn.sendall(head + body)
                while True:
                    remaining = end_by - time.monotonic()
                    if remaining <= 0:
                        return "timeout", f"after {len(data)} bytes"
                    conn.settimeout(remaining)
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        except (socket.timeout, TimeoutError):
            return "timeout", f"after {len(data)} bytes"
        except (ConnectionResetError, BrokenPipeError) as e:
            return "dropped", f"{e!r} after {len(data)} bytes"
        return self._judge(data)

    @staticmethod
    def _judge(data: bytes) -> tuple[str, str]:
        if not data:
            return "dropped", "closed without a response"
        head, sep, payload = data.partition(b"\r\n\r\n")
        if not sep:
            return "dropped", f"incomplete head: {data[:200]!r}"
        lines = head.decode(errors="replace").split("\r\n")
        parts = lines[0].split()
        if len(parts) < 2 or not parts[1].isdigit():
            return "bad_body", lines[0]
        status = int(parts[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
        if headers.get("transfer-encoding", "").lower() == "chunked":
            decoded, rest = b"", payload
            while True:
                size_line, _, rest = rest.partition(b"\r\n")
                try:
                    size = int(size_line.split(b";")[0], 16)
                except ValueError:
                    return "dropped", "broken chunked body"
                if size == 0:
                    break
                decoded, rest = decoded + rest[:size], rest[size + 2 :]
            payload = decoded
        elif "content-length" in headers and len(payload) < int(headers["content-length"]):
            return "dropped", f"body cut at {len(payload)} of {headers['content-length']} bytes"
        if status != 200:
            return f"http_{status}", payload[:300].decode(errors="replace")
        try:
            if json.loads(payload).get("choices"):
                return "ok", ""
        except ValueError:
            pass
        return "bad_body", payload[:300].decode(errors="replace")

    # -- results

    @property
    def shots(self) -> list[Shot]:
        with self._lock:
            return list(self._shots)

    @property
    def counts(self) -> Counter:
        return Counter(s.outcome for s in self.shots)

    @property
    def successes(self) -> int:
        return self.counts["ok"]

    @property
    def failures(self) -> list[Shot]:
        return [s for s in self.shots if s.outcome != "ok"]

    def successes_since(self, t: float) -> int:
        return sum(1 for s in self.shots if s.outcome == "ok" and s.start >= t)

    def wait_successes(self, n: int = 3, *, since: float | None = None, timeout: float = 15.0) -> None:
        since = since if since is not None else (self.started_at or 0.0)
        wait_until(
            lambda: self.successes_since(since) >= n,
            timeout=timeout,
            interval=0.02,
            message=lambda: f"{n} successful requests on {self.name}: {self.summary()}",
        )

    def first_success_after(self, t: float) -> Shot | None:
        """The first successful shot that started at or after ``t``."""
        return next((s for s in self.shots if s.outcome == "ok" and s.start >= t), None)

    def in_flight_at(self, t: float) -> list[Shot]:
        return [s for s in self.shots if s.start <= t <= s.end]

    def summary(self) -> str:
        counts = dict(self.counts)
        fails = [f"{s.outcome} at +{s.start - (self.started_at or 0):.3f}s..+{s.end - (self.started_at or 0):.3f}s: {s.detail}" for s in self.failures[:10]]
        return f"hammer {self.name}: {sum(counts.values())} requests {counts}" + ("\n  " + "\n  ".join(fails) if fails else "")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def make_fleet(tmp_path: Path, simulator: Simulator) -> Iterator[Callable[..., Fleet]]:
    """``make_fleet(tenants, supervisor=…, defaults=…, start=True, name="fleet")`` → a ``Fleet``
    in ``tmp_path/name`` on the test's simulator, started unless ``start=False``. After the
    test every fleet is stopped and the test errors if a worker of it was left behind."""
    fleets: list[Fleet] = []

    def make(
        tenants: Mapping[str, Mapping[str, Any]],
        *,
        start: bool = True,
        name: str = "fleet",
        **kw: Any,
    ) -> Fleet:
        fleet = Fleet(tmp_path / name, simulator.url, tenants, **{k: v for k, v in kw.items() if k in ("supervisor", "defaults", "file_name")})
        fleets.append(fleet)
        if start:
            fleet.start(**{k: v for k, v in kw.items() if k in ("wait", "default_subcommand", "env", "timeout")})
        return fleet

    yield make
    leaks: dict[str, list[int]] = {}
    for fleet in fleets:
        leaked = fleet.close()
        if leaked:
            leaks[str(fleet.dir)] = leaked
    assert not leaks, f"workers left running after their supervisor stopped (killed now): {leaks}"


@contextlib.contextmanager
def running_fleet(directory: Path, tenants: Mapping[str, Mapping[str, Any]], **kw: Any) -> Iterator[tuple[Fleet, Simulator]]:
    """A simulator and a started fleet in ``directory`` (for module-scoped fixtures); both
    stopped afterwards, failing if a worker was left behind."""
    sim_dir = directory / "simulator"
    sim_dir.mkdir(parents=True, exist_ok=True)
    sim = Simulator.start(sim_dir)
    fleet = Fleet(directory / "fleet", sim.url, tenants, **{k: v for k, v in kw.items() if k in ("supervisor", "defaults", "file_name")})
    try:
        fleet.start(**{k: v for k, v in kw.items() if k in ("wait", "default_subcommand", "env", "timeout")})
        yield fleet, sim
    finally:
        leaked = fleet.close()
        sim.terminate()
        assert not leaked, f"workers left running after their supervisor stopped (killed now): {leaked}"


# --------------------------------------------------------------------------- known bugs

#: A worker log line of NIO's debug-build assertion when a readable listener yields no connection.
NIO_ACCEPT_ASSERT = "BaseSocketChannel.swift:1250: Assertion failed"

class BackgroundStream:
    """Reads one streamed completion in a background thread. ``result`` gets ``status``,
    ``chunks`` (the ``data:`` payloads, ``[DONE]`` last) and ``error``; ``first_chunk`` is set
    at the first payload (or at the end, whatever happened)."""

    def __init__(self, url: str, key: str, text: str, timeout: float = 20) -> None:
        self.result: dict[str, Any] = {}
        self.first_chunk = threading.Event()
        self.thread = threading.Thread(target=self._read, args=(url, key, text, timeout), daemon=True)
        self.thread.start()

    def _read(self, url: str, key: str, text: str, timeout: float) -> None:
        chunks: list[str] = []
        try:
            with httpx.stream(
                "POST",
                f"{url}/v1/chat/completions",
                json=chat_payload(text, stream=True),
                headers={"Authorization": f"Bearer {key}"},
                timeout=timeout,
            ) as response:
                self.result["status"] = response.status_code
                for line in response.iter_lines():
                    if line.startswith("data:"):
                        chunks.append(line[5:].strip())
                        self.first_chunk.set()
        except Exception as e:  # noqa: BLE001
            self.result["error"] = repr(e)
        self.result["chunks"] = chunks
        self.first_chunk.set()

    def join(self, timeout: float) -> dict[str, Any]:
        self.thread.join(timeout)
        return self.result


def check_replacement_requests(fleet: Fleet, hammers: Sequence[Hammer], tenants: Sequence[str] = ()) -> None:
    """For tests that replace a worker under load: zero failed requests and no crashed worker is
    the contract."""
    failures = [s for h in hammers for s in h.failures]
    crashed = [n for n in tenants if fleet.tenant(n)["restarts"]]
    if not failures and not crashed:
        return
    report = "\n".join(h.summary() for h in hammers) + (f"\ncrashed workers of: {crashed}" if crashed else "")
    raise AssertionError(f"failed requests or crashed workers during a replacement:\n{report}")


def give_unlimited_quota(simulator: Simulator, *jwts: str) -> None:
    """Registers ``jwts`` with a huge quota (heavy load would exhaust the default 1000). Any JWT
    not registered gets 401 from then on."""
    for jwt in jwts:
        simulator.set_jwt(jwt, quota_maximum=1e12, quota_current=0)


# --------------------------------------------------------------------------- orphans

_PR_SET_CHILD_SUBREAPER = 36


@contextlib.contextmanager
def child_subreaper() -> Iterator[None]:
    """Makes this process the subreaper of its descendants for the block, so workers orphaned by
    a killed supervisor become our children and ``os.waitpid`` tells how they ended."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        pytest.skip("prctl(PR_SET_CHILD_SUBREAPER) is not available")
    try:
        yield
    finally:
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def try_reap(pid: int) -> str | None:
    """``None`` while ``pid`` (our child) runs, else how it ended: ``exit N`` or the signal name."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return "gone (not our child)"
    if done != pid:
        return None
    if os.WIFSIGNALED(status):
        return signal.Signals(os.WTERMSIG(status)).name
    return f"exit {os.WEXITSTATUS(status)}"
