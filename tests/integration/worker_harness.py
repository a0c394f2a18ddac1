"""Helpers for the integration tests of the worker (``jetbrains-ai-proxy``).

``Worker`` starts a worker seed-style (``-c/-k/... --upstream SIM``) or fleet-style
(``--config fleet.yaml --tenant NAME``), parses the real port from the
``Server starting on HOST:PORT`` log line, and offers ``.url``, ``.client`` (an
``httpx.Client`` sending the key), ``.openai()`` and small helpers for the management
endpoints. ``start_worker`` / ``start_sim`` are fixture factories; test modules import them
(``from worker_harness import start_worker, start_sim``).

Every worker runs in its own working directory with ``HOME`` pointing into the test's
temporary folder and the seed's environment variables removed, so nothing of the machine
(a ``config.json`` or ``.env`` lying around, ``JWT_TOKENS`` set in the shell) leaks in.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import httpx
import pytest
import yaml

from harness import Proc, Simulator, binary, parse_sse, wait_until

WORKER_BINARY = "jetbrains-ai-proxy"
KEY = "test-client-key-0123456789"
STARTED = re.compile(r"Server starting on (?P<host>\S+):(?P<port>\d+)\s*$")
PROBED = re.compile(r"Health check completed: \d+/\d+ tokens healthy")

#: Environment variables of the seed interface; removed unless a test sets them.
SEED_ENV = (
    "JWT_TOKENS",
    "JWT_TOKEN",
    "BEARER_TOKEN",
    "LOAD_BALANCE_STRATEGY",
    "SERVER_HOST",
    "SERVER_PORT",
    "CONFIG_FILE",
    "JETBRAINS_AI_UPSTREAM",
    "JETBRAINS_AI_API_VERSION",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
    "LOG_LEVEL",
)


def jwt_name(label: str) -> str:
    """A distinct, long enough fake JWT whose fingerprint (first 10 characters) is unique
    among the labels used in one test, e.g. ``jwt_name("a")`` → ``"jwta000000-…"``."""
    head = ("jwt" + label + "0" * 10)[:10]
    return f"{head}-secret-tail-{label}-0123456789abcdef"


def fingerprint(secret: str) -> str:
    """Like the programs' ``fingerprint``: the first 10 characters, ``...``, and from 24
    characters on ``#`` and 4 hex digits of the secret's SHA-256."""
    import hashlib

    if len(secret) >= 24:
        return secret[:10] + "...#" + hashlib.sha256(secret.encode()).hexdigest()[:4]
    if len(secret) >= 14:
        return secret[:10] + "..."
    return secret[:3] + "..." if len(secret) > 3 else "..."


# --------------------------------------------------------------------------- fleet files


def fleet_document(
    upstream: str,
    tokens: Sequence[Mapping[str, Any]],
    *,
    tenant: str = "team-a",
    keys: Sequence[str] = (KEY,),
    listen: str = "127.0.0.1:0",
    supervisor: Mapping[str, Any] | None = None,
    defaults: Mapping[str, Any] | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """A fleet document with one tenant. ``tokens`` are token entries (``name`` plus ``jwt``
    or ``license_id``/``authorization``, optional ``priority``/``weight``); ``settings`` are
    tenant keys (``strategy``, ``health_check_interval``…). A long probe interval is the
    default so tests control when the pool's state changes."""
    tenant_doc: dict[str, Any] = {
        "listen": listen,
        "api_keys": list(keys),
        "tokens": [dict(t) for t in tokens],
        "upstream": upstream,
        "health_check_interval": "60s",
    }
    tenant_doc.update(settings)
    doc: dict[str, Any] = {"version": 1}
    if supervisor:
        doc["supervisor"] = dict(supervisor)
    if defaults:
        doc["defaults"] = dict(defaults)
    doc["tenants"] = {tenant: tenant_doc}
    return doc


def write_fleet(path: str | os.PathLike[str], document: Mapping[str, Any]) -> Path:
    path = Path(path)
    path.write_text(yaml.safe_dump(dict(document), sort_keys=False))
    return path


def tokens_for(jwts: Mapping[str, str] | Sequence[str], **common: Any) -> list[dict[str, Any]]:
    """Token entries for plain JWTs: a mapping name → JWT, or a list (named ``t1``, ``t2``…)."""
    items = jwts.items() if isinstance(jwts, Mapping) else ((f"t{i + 1}", j) for i, j in enumerate(jwts))
    return [{"name": name, "jwt": jwt, **common} for name, jwt in items]


# --------------------------------------------------------------------------- the worker


def isolated_env(home: Path, env: Mapping[str, str | None] | None) -> dict[str, str | None]:
    result: dict[str, str | None] = {name: None for name in SEED_ENV}
    result["HOME"] = str(home)
    result.update(env or {})
    return result


class Worker(Proc):
    """A running worker. Create with ``Worker.seed(...)``, ``Worker.fleet(...)`` or
    ``Worker.launch(...)``; ``.url``, ``.port``, ``.key``, ``.client``."""

    url: str
    port: int
    host: str
    key: str | None
    client: httpx.Client
    fleet_path: Path | None = None
    control_socket: Path | None = None

    # -- starting

    @classmethod
    def launch(
        cls,
        workdir: str | os.PathLike[str],
        args: Sequence[str],
        *,
        key: str | None = KEY,
        env: Mapping[str, str | None] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        wait_probe: bool = True,
        timeout: float = 15.0,
        pass_fds: Sequence[int] = (),
        executable: str | os.PathLike[str] | None = None,
    ) -> "Worker":
        """Starts ``jetbrains-ai-proxy ARGS`` with its own cwd (``workdir/cwd`` unless given)
        and ``HOME`` (``workdir/home``), waits for the listening line (and, with
        ``wait_probe``, for the first health-check round so the pool's state is settled)."""
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        home = workdir / "home"
        home.mkdir(exist_ok=True)
        run_dir = Path(cwd) if cwd is not None else workdir / "cwd"
        run_dir.mkdir(parents=True, exist_ok=True)
        exe = executable or binary(WORKER_BINARY)
        worker = cls(exe, args, env=isolated_env(home, env), cwd=run_dir, log_dir=workdir, name="worker", pass_fds=pass_fds)
        worker.key = key
        worker.workdir = workdir
        try:
            match = worker.wait_for_line(STARTED, timeout=timeout)
            worker.host, worker.port = match.group("host"), int(match.group("port"))
            if wait_probe:
                worker.wait_for_line(PROBED, timeout=timeout)
        except BaseException:
            worker.kill()
            raise
        shown = "127.0.0.1" if worker.host in ("0.0.0.0", "*") else worker.host
        worker.url = f"http://{shown}:{worker.port}"
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        worker.client = httpx.Client(base_url=worker.url, headers=headers, timeout=30.0)
        return worker

    @classmethod
    def seed(
        cls,
        workdir: str | os.PathLike[str],
        upstream: str | None,
        jwts: Sequence[str],
        *,
        key: str | None = KEY,
        extra: Sequence[str] = (),
        **kw: Any,
    ) -> "Worker":
        """Seed style: ``-c JWT,JWT -k KEY -h 127.0.0.1 -p 0 --upstream URL EXTRA…``."""
        args: list[str] = []
        if jwts:
            args += ["-c", ",".join(jwts)]
        if key:
            args += ["-k", key]
        args += ["-h", "127.0.0.1", "-p", "0"]
        if upstream:
            args += ["--upstream", upstream]
        args += list(extra)
        return cls.launch(workdir, args, key=key, **kw)

    @classmethod
    def fleet(
        cls,
        workdir: str | os.PathLike[str],
        document: Mapping[str, Any],
        *,
        tenant: str = "team-a",
        key: str | None = KEY,
        control_socket: str | os.PathLike[str] | None = None,
        extra: Sequence[str] = (),
        **kw: Any,
    ) -> "Worker":
        """Fleet style: writes ``workdir/fleet.yaml`` and runs ``--config … --tenant …``."""
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        path = write_fleet(workdir / "fleet.yaml", document)
        args = ["--config", str(path), "--tenant", tenant]
        if control_socket is not None:
            args += ["--control-socket", str(control_socket)]
        worker = cls.launch(workdir, [*args, *extra], key=key, **kw)
        worker.fleet_path = path
        worker.control_socket = Path(control_socket) if control_socket is not None else None
        return worker

    def _finish(self) -> int:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()
        return super()._finish()

    # -- clients

    def openai(self, api_key: str | None = None, **kw: Any):
        import openai

        kw.setdefault("max_retries", 0)
        kw.setdefault("timeout", 30.0)
        return openai.OpenAI(base_url=self.url + "/v1", api_key=api_key or self.key or "none", **kw)

    def raw_client(self, **kw: Any) -> httpx.Client:
        """An ``httpx.Client`` on the worker without any key."""
        kw.setdefault("timeout", 30.0)
        return httpx.Client(base_url=self.url, **kw)

    def control(self) -> httpx.Client:
        """An ``httpx.Client`` on the control socket."""
        assert self.control_socket is not None, "worker started without --control-socket"
        return httpx.Client(transport=httpx.HTTPTransport(uds=str(self.control_socket)), base_url="http://worker", timeout=10.0)

    # -- requests

    def chat(self, content: str | list[dict[str, Any]] = "hello", *, model: str = "gpt-4o", **body: Any) -> httpx.Response:
        """POST /v1/chat/completions (non-stream unless ``stream=True`` is given, then the
        whole SSE text is in ``.text``)."""
        messages = [{"role": "user", "content": content}] if isinstance(content, str) else content
        return self.client.post("/v1/chat/completions", json={"model": model, "messages": messages, **body})

    def stream(self, content: str | list[dict[str, Any]] = "hello", *, model: str = "gpt-4o", **body: Any) -> "StreamResult":
        messages = [{"role": "user", "content": content}] if isinstance(content, str) else content
        return stream_request(self.client, {"model": model, "messages": messages, "stream": True, **body})

    def health(self) -> dict[str, Any]:
        return self.client.get("/health").json()

    def tokens(self) -> dict[str, dict[str, Any]]:
        """/health's tokens by name."""
        return {t["name"]: t for t in self.health()["tokens"]}

    def states(self) -> dict[str, str]:
        return {name: t["state"] for name, t in self.tokens().items()}

    def wait_state(self, name: str, state: str, timeout: float = 10.0) -> dict[str, Any]:
        return wait_until(
            lambda: self.tokens()[name] if self.tokens().get(name, {}).get("state") == state else None,
            timeout=timeout,
            message=lambda: f"token {name!r} to be {state!r}; /health: {self.health()}",
        )

    def log(self) -> str:
        return self.output()


# --------------------------------------------------------------------------- streams


class StreamResult:
    """What a client saw of one streamed answer."""

    def __init__(self, status: int, headers: httpx.Headers, lines: list[str], arrivals: list[float], error: BaseException | None):
        self.status = status
        self.headers = headers
        self.lines = lines
        #: seconds after the request was sent, one per ``data:`` line
        self.arrivals = arrivals
        self.error = error

    @property
    def text(self) -> str:
        return "\n".join(self.lines) + "\n"

    @property
    def payloads(self) -> list[str]:
        return parse_sse(self.text)

    @property
    def done(self) -> bool:
        return bool(self.payloads) and self.payloads[-1] == "[DONE]"

    @property
    def chunks(self) -> list[dict[str, Any]]:
        """The JSON payloads (everything but ``[DONE]``)."""
        return [json.loads(p) for p in self.payloads if p != "[DONE]"]

    @property
    def content(self) -> str:
        return "".join(
            (c["choices"][0]["delta"].get("content") or "") for c in self.chunks if c.get("choices")
        )

    @property
    def finish_reasons(self) -> list[str]:
        return [c["choices"][0]["finish_reason"] for c in self.chunks if c.get("choices") and c["choices"][0].get("finish_reason")]

    def json_error(self) -> dict[str, Any]:
        return json.loads(self.text) if self.status != 200 else {}


def stream_request(
    client: httpx.Client,
    body: Mapping[str, Any],
    *,
    path: str = "/v1/chat/completions",
    on_line: Callable[[str, float], bool | None] | None = None,
) -> StreamResult:
    """Streams a POST and records each line and when each ``data:`` line arrived. ``on_line``
    may return True to stop reading (the connection is then closed)."""
    lines: list[str] = []
    arrivals: list[float] = []
    error: BaseException | None = None
    start = time.monotonic()
    with client.stream("POST", path, json=dict(body)) as response:
        status, headers = response.status_code, response.headers
        try:
            for line in response.iter_lines():
                now = time.monotonic() - start
                lines.append(line)
                if line.startswith("data:"):
                    arrivals.append(now)
                if on_line is not None and on_line(line, now):
                    break
        except httpx.HTTPError as e:
            error = e
    return StreamResult(status, headers, lines, arrivals, error)


class BackgroundStream:
    """Runs ``stream_request`` in a thread; ``.first_data`` is set when the first content
    delta has arrived, ``.result`` once the stream ended."""

    def __init__(self, client: httpx.Client, body: Mapping[str, Any]):
        self.first_data = threading.Event()
        self.result: StreamResult | None = None
        self.exception: BaseException | None = None
        self._client = client
        self._body = body
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        def seen(line: str, _t: float) -> None:
            if line.startswith("data:") and '"content":"' in line and '"content":""' not in line:
                self.first_data.set()

        try:
            self.result = stream_request(self._client, self._body, on_line=seen)
        except BaseException as e:  # noqa: BLE001 - reported by join()
            self.exception = e
        finally:
            self.first_data.set()

    def join(self, timeout: float = 30.0) -> StreamResult:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "stream did not end in time"
        if self.exception is not None:
            raise self.exception
        assert self.result is not None
        return self.result

    def is_alive(self) -> bool:
        return self._thread.is_alive()


# --------------------------------------------------------------------------- misc


def sim_chat_counts(sim: Simulator) -> dict[str, int]:
    """Chat requests the simulator received, per JWT."""
    return {jwt: v["chat"] for jwt, v in sim.stats()["by_jwt"].items()}


def sim_quota_counts(sim: Simulator) -> dict[str, int]:
    return {jwt: v["quota"] for jwt, v in sim.stats()["by_jwt"].items()}


def connection_refused(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def is_listening(port: int) -> bool:
    """Whether some socket on this machine listens on TCP ``port`` (read from /proc/net/tcp*,
    without connecting: a connection attempt would itself be a new client)."""
    wanted = f"{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[1].rsplit(":", 1)[1] == wanted and fields[3] == "0A":
                return True
    return False


def assert_openai_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """Asserts an OpenAI-shaped error ``{"error": {"message", "type", "code"}}`` with ``status``."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    assert response.headers.get("content-type", "").startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error.get("message"), str) and error["message"], body
    assert isinstance(error.get("type"), str) and error["type"], body
    assert "code" in error, body
    if code is not None:
        assert error["code"] == code, body
    return error


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def start_sim(tmp_path: Path) -> Iterator[Callable[..., Simulator]]:
    """``start_sim(*args)``: a simulator (stopped after the test)."""
    started: list[Simulator] = []

    def start(*args: str, **kw: Any) -> Simulator:
        log_dir = tmp_path / f"sim-{len(started) + 1}"
        log_dir.mkdir()
        sim = Simulator.start(log_dir, *args, **kw)
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.terminate()


@pytest.fixture
def sim(start_sim) -> Simulator:
    return start_sim()


class WorkerFactory:
    """``start_worker.seed(sim_url, jwts, ...)``, ``start_worker.fleet(document, ...)``,
    ``start_worker.launch(args, ...)``: each worker gets its own folder under ``tmp_path``;
    all are stopped after the test (and their output is attached to a failure report)."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.started: list[Worker] = []

    def folder(self) -> Path:
        path = self.tmp_path / f"w{len(self.started) + 1}"
        n = len(self.started) + 1
        while path.exists():
            n += 1
            path = self.tmp_path / f"w{n}"
        path.mkdir()
        return path

    def _track(self, worker: Worker) -> Worker:
        self.started.append(worker)
        return worker

    def seed(self, upstream: str | None, jwts: Sequence[str], **kw: Any) -> Worker:
        return self._track(Worker.seed(kw.pop("workdir", None) or self.folder(), upstream, jwts, **kw))

    def fleet(self, document: Mapping[str, Any], **kw: Any) -> Worker:
        return self._track(Worker.fleet(kw.pop("workdir", None) or self.folder(), document, **kw))

    def launch(self, args: Sequence[str], **kw: Any) -> Worker:
        return self._track(Worker.launch(kw.pop("workdir", None) or self.folder(), args, **kw))

    def stop_all(self) -> None:
        for worker in self.started:
            try:
                worker.terminate(timeout=5)
            except Exception:  # noqa: BLE001 - best effort
                worker.kill()


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[WorkerFactory]:
    factory = WorkerFactory(tmp_path)
    yield factory
    factory.stop_all()
    # pytest shows this only when the test failed: the workers' logs help explain why.
    for worker in factory.started:
        print(worker.describe()[-6000:])


def run_worker_once(
    workdir: str | os.PathLike[str],
    args: Sequence[str],
    *,
    env: Mapping[str, str | None] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 20.0,
) -> subprocess.CompletedProcess[str]:
    """Runs the worker to completion (``--help``, ``--print-config``, ``--generate-config``…)
    with the same isolation as ``Worker.launch``; returns the completed process."""
    workdir = Path(workdir)
    home = workdir / "home"
    home.mkdir(parents=True, exist_ok=True)
    run_dir = Path(cwd) if cwd is not None else workdir / "cwd"
    run_dir.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ)
    for k, v in isolated_env(home, env).items():
        if v is None:
            full_env.pop(k, None)
        else:
            full_env[k] = v
    return subprocess.run(
        [str(binary(WORKER_BINARY)), *[str(a) for a in args]],
        cwd=str(run_dir),
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
