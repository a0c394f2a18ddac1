"""Reusable helpers for the integration tests.

Import it from any test module in this folder (``import harness`` or
``from harness import Simulator, parse_sse``); ``conftest.py`` builds its fixtures on it.

Contents
--------
Binaries
    ``REPO_ROOT``, ``bin_dir()``, ``binary(name)``.
Waiting
    ``wait_until(predicate, timeout, interval, message)`` — deadline-based, never a fixed sleep.
Processes
    ``Proc`` — a child process whose stdout/stderr go to files; ``wait_for_line``,
    ``terminate``, ``kill``, ``output``; ``Proc.kill_all()`` ends leftovers.
The simulator
    ``Simulator`` — ``Simulator.start(tmp_path, *args)``, ``.url`` and admin helpers
    (``fault``, ``clear_faults``, ``faults``, ``stats``, ``requests``, ``set_jwt``,
    ``jwts``, ``add_license``, ``reset``, ``health``, ``protocol``, ``set_protocol``,
    ``profiles``, ``set_profiles``, ``add_refresh_token``, ``oauth``) and upstream calls
    (``chat``, ``responses``, ``quota``, ``license``, ``profiles_endpoint``,
    ``oauth_exchange``); ``write_config``.
Upstream protocol
    Paths (``CHAT_V8_PATH`` …), ``jwt_headers``, chat body builders (``chat_body_v8``,
    ``chat_body_v7``, message helpers, ``tool``, ``parameter_data``), SSE parsing
    (``parse_sse``, ``sse_events``, ``content_text``, ``finish_reason``, ``tool_calls_v8``,
    ``tool_calls_v8_by_index``, ``function_calls_v7``), JWT helpers (``decode_jwt``,
    ``make_jwt``), ``free_port``.
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Mapping, Sequence, TypeVar

import httpx

T = TypeVar("T")

#: The package root: two levels up from this file (tests/integration/harness.py).
REPO_ROOT = Path(__file__).resolve().parents[2]

SIMULATOR_BINARY = "jetbrains-ai-simulator"

CHAT_V8_PATH = "/user/v5/llm/chat/stream/v8"
CHAT_V7_PATH = "/user/v5/llm/chat/stream/v7"
QUOTA_PATH = "/user/v5/quota/get"
LICENSE_PATH = "/auth/jetbrains-jwt/provide-access/license/v2"
RESPONSES_PATH = "/user/v5/llm/responses/stream/v8"
PROFILES_PATH = "/user/v5/llm/profiles/v3"
OAUTH_PATH = "/api/rest/oauth2/token"
JWT_HEADER = "grazie-authenticate-jwt"


# --------------------------------------------------------------------------- binaries


def bin_dir() -> Path:
    """Where the built executables are: ``$JBAI_BIN_DIR`` if set, else ``<repo>/.build/debug``."""
    override = os.environ.get("JBAI_BIN_DIR")
    return Path(override).resolve() if override else REPO_ROOT / ".build" / "debug"


def _fail(message: str) -> None:
    """Fails the current test (``pytest.fail``) or raises ``AssertionError`` outside pytest."""
    try:
        import pytest
    except ImportError:  # pragma: no cover - harness used without pytest
        raise AssertionError(message) from None
    pytest.fail(message, pytrace=False)


def binary(name: str) -> Path:
    """The path of executable ``name`` in ``bin_dir()``; fails the test clearly if it is missing."""
    path = bin_dir() / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        _fail(
            f"executable {name!r} not found at {path}; build it first "
            f"(`swift build --product {name}`) or point JBAI_BIN_DIR at the directory holding it"
        )
    return path


# --------------------------------------------------------------------------- waiting


class WaitTimeout(AssertionError):
    """Raised by ``wait_until`` and ``Proc.wait_for_line`` when the deadline passes."""


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.05,
    message: str | Callable[[], str] | None = None,
) -> T:
    """Calls ``predicate`` every ``interval`` seconds until it returns something truthy, and
    returns that value. Exceptions from ``predicate`` count as "not yet" (the last one is
    chained). Raises ``WaitTimeout`` (an ``AssertionError``) after ``timeout`` seconds;
    ``message`` (text or a callable giving text, e.g. the process output) explains what was
    awaited."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    last_value: Any = None
    while True:
        try:
            last_value = predicate()
            if last_value:
                return last_value
        except Exception as error:  # noqa: BLE001 - retried until the deadline
            last_error = error
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            detail = f"; last error: {last_error!r}" if last_error else f"; last value: {last_value!r}"
            raise WaitTimeout(f"timed out after {timeout}s waiting for {text or 'condition'}{detail}") from last_error
        time.sleep(min(interval, max(deadline - time.monotonic(), 0)))


# --------------------------------------------------------------------------- processes


class Proc:
    """A child process with stdout and stderr captured to files in ``log_dir``.

    ``env`` is merged over ``os.environ`` (a value of ``None`` removes the variable).
    Every ``Proc`` is tracked until it has stopped, so ``Proc.kill_all()`` (run by the
    session fixture in ``conftest.py``) can end leftovers. Usable as a context manager.
    """

    _live: ClassVar[set["Proc"]] = set()

    def __init__(
        self,
        executable: str | os.PathLike[str],
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str | None] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        log_dir: str | os.PathLike[str] | None = None,
        name: str | None = None,
        pass_fds: Sequence[int] = (),
    ) -> None:
        """``pass_fds``: descriptors kept open in the child (e.g. an inherited listener)."""
        self.executable = str(executable)
        self.args = [str(a) for a in args]
        self.name = name or Path(self.executable).name
        self.log_dir = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix=f"{self.name}-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        stem = self._unique_stem()
        self.stdout_path = self.log_dir / f"{stem}.stdout"
        self.stderr_path = self.log_dir / f"{stem}.stderr"
        full_env = dict(os.environ)
        for key, value in (env or {}).items():
            if value is None:
                full_env.pop(key, None)
            else:
                full_env[key] = str(value)
        self._stdout = open(self.stdout_path, "wb")
        self._stderr = open(self.stderr_path, "wb")
        self.popen = subprocess.Popen(
            [self.executable, *self.args],
            stdin=subprocess.DEVNULL,
            stdout=self._stdout,
            stderr=self._stderr,
            env=full_env,
            cwd=str(cwd) if cwd is not None else None,
            start_new_session=True,
            pass_fds=tuple(pass_fds),
        )
        Proc._live.add(self)

    def _unique_stem(self) -> str:
        stem, n = self.name, 1
        while (self.log_dir / f"{stem}.stdout").exists():
            n += 1
            stem = f"{self.name}-{n}"
        return stem

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} pid={self.pid} rc={self.returncode}>"

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.terminate()

    # -- state

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        """The exit status, or None while running (negative: killed by that signal)."""
        return self.popen.poll()

    def is_running(self) -> bool:
        return self.popen.poll() is None

    # -- output

    def stdout_text(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def output(self) -> str:
        """Everything captured so far: stdout, then stderr."""
        return self.stdout_text() + self.stderr_text()

    def describe(self) -> str:
        """A report for failure messages: command, status and captured output."""
        return (
            f"{self.name} (pid {self.pid}, returncode {self.returncode}): {self.executable} {' '.join(self.args)}\n"
            f"--- stdout ---\n{self.stdout_text()}--- stderr ---\n{self.stderr_text()}"
        )

    def lines(self) -> list[str]:
        return self.stdout_text().splitlines() + self.stderr_text().splitlines()

    def wait_for_line(self, pattern: str | re.Pattern[str], timeout: float = 10.0) -> re.Match[str]:
        """Polls the captured stdout and stderr until a line matches ``pattern`` (``re.search``)
        and returns the match. Fails early, with the output, if the process exits first."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern

        def find() -> re.Match[str] | None:
            for line in self.lines():
                match = regex.search(line)
                if match:
                    return match
            return None

        deadline = time.monotonic() + timeout
        while True:
            exited = not self.is_running()
            match = find()
            if match:
                return match
            if exited:
                raise WaitTimeout(f"process exited before printing a line matching {regex.pattern!r}\n{self.describe()}")
            if time.monotonic() >= deadline:
                raise WaitTimeout(f"no line matching {regex.pattern!r} within {timeout}s\n{self.describe()}")
            time.sleep(0.02)

    # -- stopping

    def send_signal(self, sig: int) -> None:
        if self.is_running():
            self.popen.send_signal(sig)

    def wait(self, timeout: float | None = None) -> int:
        """Waits for the exit and returns the status (``subprocess.TimeoutExpired`` on timeout)."""
        return self.popen.wait(timeout=timeout)

    def terminate(self, timeout: float = 5.0) -> int:
        """SIGTERM, wait up to ``timeout``, then SIGKILL. Returns the exit status."""
        if self.is_running():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self._finish()

    def kill(self) -> int:
        """SIGKILL to the process (and its process group), then reap it."""
        if self.is_running():
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.popen.kill()
            self.popen.wait(timeout=10)
        return self._finish()

    def _finish(self) -> int:
        rc = self.popen.wait()
        for handle in (self._stdout, self._stderr):
            if not handle.closed:
                handle.close()
        Proc._live.discard(self)
        return rc

    @classmethod
    def kill_all(cls) -> None:
        """Kills every tracked process that is still running."""
        for proc in list(cls._live):
            try:
                proc.kill()
            except Exception:  # noqa: BLE001 - best effort cleanup
                pass


atexit.register(Proc.kill_all)


# --------------------------------------------------------------------------- simulator


def write_config(directory: str | os.PathLike[str], config: Mapping[str, Any], name: str = "simulator.json") -> Path:
    """Writes a simulator ``--config`` file and returns its path."""
    path = Path(directory) / name
    path.write_text(json.dumps(config))
    return path


class Simulator(Proc):
    """A running ``jetbrains-ai-simulator`` and a client for its ``/_sim/`` admin API.

    ``Simulator.start(tmp_path, "--chunks", "2")`` listens on ``127.0.0.1:0`` unless
    ``--listen`` is among the arguments, waits for the ``Simulator listening on URL`` line
    and sets ``.url``. ``.client`` is an ``httpx.Client`` on that URL.
    """

    LISTENING = re.compile(r"Simulator listening on (http://\S+)")

    url: str
    client: httpx.Client

    @classmethod
    def start(
        cls,
        tmp_path: str | os.PathLike[str],
        *args: str,
        env: Mapping[str, str | None] | None = None,
        timeout: float = 15.0,
    ) -> "Simulator":
        args_list = [str(a) for a in args]
        if not any(a == "--listen" or a.startswith("--listen=") for a in args_list):
            args_list = ["--listen", "127.0.0.1:0", *args_list]
        sim = cls(binary(SIMULATOR_BINARY), args_list, env=env, log_dir=tmp_path, name="simulator")
        try:
            sim.url = sim.wait_for_line(cls.LISTENING, timeout=timeout).group(1)
        except BaseException:
            sim.kill()
            raise
        sim.client = httpx.Client(base_url=sim.url, timeout=10.0)
        return sim

    def _finish(self) -> int:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()
        return super()._finish()

    # -- admin API

    def _admin(self, method: str, path: str, **kw: Any) -> Any:
        response = self.client.request(method, f"/_sim/{path}", **kw)
        if response.status_code != 200:
            raise AssertionError(f"admin {method} /_sim/{path} -> {response.status_code}: {response.text}")
        return response.json()

    def fault(self, **kw: Any) -> str:
        """Adds a fault and returns its id. Keywords as the API: ``kind`` (status, delay, hang,
        drop, garbage, error_event), ``jwt`` (omit for global), ``endpoint`` (chat, quota,
        license, profiles, oauth, any; default chat), ``status``, ``body`` (status: the body
        instead of the default), ``retry_after``, ``delay_ms``, ``after_events``, ``count``,
        ``message``, ``with_type``, ``no_end`` (error_event). ``None`` values are left out."""
        body = {k: v for k, v in kw.items() if v is not None}
        return self._admin("POST", "faults", json=body)["id"]

    def clear_faults(self, fault_id: str | None = None) -> int:
        """Deletes all faults, or the one with ``fault_id``; returns how many were deleted."""
        return self._admin("DELETE", f"faults/{fault_id}" if fault_id else "faults")["deleted"]

    def faults(self) -> list[dict[str, Any]]:
        return self._admin("GET", "faults")["faults"]

    def stats(self) -> dict[str, Any]:
        """``{"totals": {chat, quota, license, profiles, oauth}, "by_jwt": {jwt: {chat, quota,
        profiles}}, "by_path": {chat path: n}, "by_license": {id: n}, "in_flight": n,
        "faults_applied": {kind: n}}``"""
        return self._admin("GET", "stats")

    def requests(self, last: int | None = None) -> list[dict[str, Any]]:
        """Recorded chat requests ``{jwt, path, endpoint, api_version, body, headers}``, newest
        last (``endpoint``: chat or responses; ``headers``: grazie-agent, user-agent, accept,
        content-type as sent, lower-case names)."""
        params = {"last": str(last)} if last is not None else None
        return self._admin("GET", "requests", params=params)["requests"]

    def set_jwt(
        self,
        jwt: str,
        *,
        valid: bool = True,
        quota_current: float | None = None,
        quota_maximum: float | None = None,
        until: str | int | None = None,
        topup_current: float | None = None,
        topup_maximum: float | None = None,
    ) -> None:
        """Adds or updates a JWT (this makes unknown JWTs get 401 from then on). ``until``: an
        ISO 8601 date or epoch milliseconds; ``topup_*``: paid top-up credit, spent once the
        tariff quota is used up."""
        body: dict[str, Any] = {"jwt": jwt, "valid": valid}
        for key, value in (
            ("quota_current", quota_current),
            ("quota_maximum", quota_maximum),
            ("until", until),
            ("topup_current", topup_current),
            ("topup_maximum", topup_maximum),
        ):
            if value is not None:
                body[key] = value
        self._admin("POST", "jwts", json=body)

    def jwts(self) -> dict[str, dict[str, Any]]:
        """Known JWTs: ``{jwt: {valid, quota_current, quota_maximum, until, expires_at, configured}}``."""
        return self._admin("GET", "jwts")["jwts"]

    def add_license(
        self,
        license_id: str,
        authorization: str | None,
        state: str = "PAID",
        jwt_ttl_s: int = 3600,
        issue_token: bool = True,
    ) -> None:
        """Adds or replaces a license. ``authorization`` None: only OAuth id tokens minted for
        it are accepted; ``issue_token`` False: the answer is ``{"state"}`` without a token."""
        self._admin(
            "POST",
            "licenses",
            json={
                "license_id": license_id,
                "authorization": authorization,
                "state": state,
                "jwt_ttl_s": jwt_ttl_s,
                "issue_token": issue_token,
            },
        )

    def reset(self) -> None:
        """Clears faults, stats and recorded requests and restores the protocol settings and the
        profile list given by the flags (JWTs, licenses and refresh tokens stay)."""
        self._admin("POST", "reset")

    def protocol(self) -> dict[str, Any]:
        """The wire variants in force: ``{until_format, amount_format, event_type, quota_shape,
        extra_noise, reject_unknown_profiles, reject_unsupported_parameters,
        omit_parallel_index_when_single}``."""
        return self._admin("GET", "protocol")

    def set_protocol(self, **settings: Any) -> dict[str, Any]:
        """Merges ``settings`` over the wire variants in force; returns the full result."""
        return self._admin("POST", "protocol", json=settings)

    def profiles(self) -> list[str]:
        """The profile ids offered (admin view)."""
        return self._admin("GET", "profiles")["profiles"]

    def set_profiles(self, profiles: Iterable[str]) -> list[str]:
        """Replaces the profile list."""
        return self._admin("POST", "profiles", json={"profiles": list(profiles)})["profiles"]

    def add_refresh_token(
        self,
        refresh_token: str,
        license_id: str | None = None,
        id_token_ttl_s: int | None = None,
        rotate: bool | None = None,
    ) -> str:
        """Registers an OAuth refresh token; returns its record id (``rt-N``)."""
        body: dict[str, Any] = {"refresh_token": refresh_token}
        for key, value in (("license_id", license_id), ("id_token_ttl_s", id_token_ttl_s), ("rotate", rotate)):
            if value is not None:
                body[key] = value
        return self._admin("POST", "oauth", json=body)["id"]

    def oauth(self) -> dict[str, Any]:
        """Refresh-token records without secrets: ``{refresh_tokens: [{id, license_id, valid,
        uses, rejected_uses, rotate, id_token_ttl_s, rotated_from, replaced_by}], valid_count,
        used_count, id_tokens_issued}``."""
        return self._admin("GET", "oauth")

    def health(self) -> bool:
        try:
            return self.client.get("/_sim/health", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    # -- upstream calls

    def chat(self, jwt: str | None, body: Any, version: str = "v8", **kw: Any) -> httpx.Response:
        """POSTs a chat request (``body`` a dict, or raw ``str``/``bytes``) and reads the whole answer."""
        path = CHAT_V8_PATH if version == "v8" else CHAT_V7_PATH
        content = body if isinstance(body, (str, bytes)) else json.dumps(body)
        return self.client.post(path, content=content, headers=jwt_headers(jwt), **kw)

    def responses(self, jwt: str | None, body: Any, **kw: Any) -> httpx.Response:
        """POSTs to the Codex responses endpoint and reads the whole answer."""
        content = body if isinstance(body, (str, bytes)) else json.dumps(body)
        return self.client.post(RESPONSES_PATH, content=content, headers=jwt_headers(jwt), **kw)

    def profiles_endpoint(self, jwt: str | None, **kw: Any) -> httpx.Response:
        """``GET /user/v5/llm/profiles/v3`` with ``jwt``."""
        return self.client.get(PROFILES_PATH, headers=jwt_headers(jwt), **kw)

    def oauth_exchange(
        self, refresh_token: str, grant_type: str = "refresh_token", client_id: str = "ide", **kw: Any
    ) -> httpx.Response:
        """The JetBrains Account refresh-token exchange (form-encoded)."""
        return self.client.post(
            OAUTH_PATH,
            data={"grant_type": grant_type, "refresh_token": refresh_token, "client_id": client_id},
            **kw,
        )

    def quota(self, jwt: str | None, **kw: Any) -> httpx.Response:
        return self.client.post(QUOTA_PATH, headers=jwt_headers(jwt), **kw)

    def license(self, license_id: str, authorization: str, **kw: Any) -> httpx.Response:
        return self.client.post(
            LICENSE_PATH,
            json={"licenseId": license_id},
            headers={"Authorization": f"Bearer {authorization}"},
            **kw,
        )


# --------------------------------------------------------------------------- protocol helpers


def jwt_headers(jwt: str | None) -> dict[str, str]:
    """The headers the worker sends upstream, with ``jwt`` (left out when None)."""
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream",
        "Accept-Charset": "UTF-8",
        "Cache-Control": "no-cache",
        "User-Agent": "ktor-client",
        "grazie-agent": '{"name":"aia:pycharm","version":"251.26094.80.13:251.26094.141"}',
    }
    if jwt is not None:
        headers[JWT_HEADER] = jwt
    return headers


def user_message(content: str) -> dict[str, Any]:
    return {"type": "user_message", "content": content}


def system_message(content: str) -> dict[str, Any]:
    return {"type": "system_message", "content": content}


def assistant_text(content: str) -> dict[str, Any]:
    return {"type": "assistant_message_text", "content": content}


def assistant_tool(call_id: str, tool_name: str, arguments: str) -> dict[str, Any]:
    """v8 assistant tool call message (``content`` is the arguments' JSON text)."""
    return {"type": "assistant_message_tool", "id": call_id, "toolName": tool_name, "content": arguments}


def tool_message(call_id: str, tool_name: str, result: str) -> dict[str, Any]:
    """v8 tool result message."""
    return {"type": "tool_message", "id": call_id, "toolName": tool_name, "result": result}


def function_message(function_name: str, content: str) -> dict[str, Any]:
    """v7 function result message."""
    return {"type": "function_message", "functionName": function_name, "content": content}


def tool(name: str, description: str = "", parameters: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An OpenAI-style function definition ``{name, description, parameters}``."""
    return {
        "name": name,
        "description": description or f"the {name} tool",
        "parameters": dict(parameters or {"type": "object", "properties": {"query": {"type": "string"}}}),
    }


def _messages(messages: str | Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [user_message(messages)] if isinstance(messages, str) else [dict(m) for m in messages]


def chat_body_v8(
    messages: str | Iterable[Mapping[str, Any]],
    tools: Iterable[Mapping[str, Any]] | None = None,
    profile: str = "openai-gpt-4o",
    prompt: str = "ij.chat.request.new-chat-on-start",
) -> dict[str, Any]:
    """A v8 chat body; a ``str`` is one user message. ``tools`` (OpenAI function objects,
    see ``tool``) become ``parameters.data`` with fqdn ``llm.parameters.tools`` and a JSON
    text value of ``[{name, description, parameters: {schema}}]``."""
    body: dict[str, Any] = {"prompt": prompt, "profile": profile, "chat": {"messages": _messages(messages)}}
    tools = list(tools or [])
    if tools:
        value = [
            {"name": t["name"], "description": t.get("description", ""), "parameters": {"schema": t.get("parameters", {})}}
            for t in tools
        ]
        body["parameters"] = {
            "data": [
                {"type": "json", "fqdn": "llm.parameters.tools"},
                {"type": "json", "value": json.dumps(value), "modified": 1730000000000},
            ]
        }
    return body


def chat_body_v7(
    messages: str | Iterable[Mapping[str, Any]],
    functions: Iterable[Mapping[str, Any]] | None = None,
    profile: str = "openai-gpt-4o",
    prompt: str = "ij.chat.request.new-chat",
) -> dict[str, Any]:
    """A v7 chat body; ``functions`` (OpenAI function objects) go under fqdn
    ``llm.parameters.functions`` as the JSON text of the plain list."""
    body: dict[str, Any] = {"prompt": prompt, "profile": profile, "chat": {"messages": _messages(messages)}}
    functions = list(functions or [])
    if functions:
        body["parameters"] = {
            "data": [
                {"type": "json", "fqdn": "llm.parameters.functions"},
                {"type": "json", "value": json.dumps(functions)},
            ]
        }
    return body


def parse_sse(text: str) -> list[str]:
    """The ``data`` payloads of a server-sent event stream, in order (an event's several
    ``data:`` lines are joined with newlines; other fields and comments are ignored). The
    final ``end`` payload is included as the string ``"end"``."""
    payloads: list[str] = []
    data: list[str] | None = None
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line == "":
            if data is not None:
                payloads.append("\n".join(data))
            data = None
        elif line.startswith("data:"):
            value = line[5:]
            if value.startswith(" "):
                value = value[1:]
            data = (data or []) + [value]
    if data is not None:
        payloads.append("\n".join(data))
    return payloads


def sse_events(text: str, *, require_end: bool = True) -> list[dict[str, Any]]:
    """The JSON events of a JetBrains answer stream, without the final ``end``. Asserts that
    the stream ends with ``data: end`` (unless ``require_end`` is false) and that every other
    payload is JSON."""
    payloads = parse_sse(text)
    if require_end:
        assert payloads and payloads[-1] == "end", f"stream does not end with 'data: end': {payloads[-3:]!r}"
    return [json.loads(p) for p in payloads if p != "end"]


def content_text(events: Iterable[Mapping[str, Any]]) -> str:
    """The answer text: the ``Content`` events' pieces joined."""
    return "".join(e["content"] for e in events if e.get("type") == "Content")


def finish_reason(events: Iterable[Mapping[str, Any]]) -> str | None:
    reasons = [e.get("reason") for e in events if e.get("type") == "FinishMetadata"]
    return reasons[-1] if reasons else None


def tool_calls_v8(events: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Assembles v8 ``ToolCall`` events into ``[{id, name, arguments}]``: an event with an
    ``id`` starts a call, later ``content`` pieces append to its arguments."""
    calls: list[dict[str, str]] = []
    for event in events:
        if event.get("type") != "ToolCall":
            continue
        if event.get("id") is not None:
            calls.append({"id": event["id"], "name": event.get("name") or "", "arguments": ""})
        assert calls, f"ToolCall continuation before any call: {event!r}"
        calls[-1]["arguments"] += event.get("content") or ""
    return calls


def tool_calls_v8_by_index(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Assembles v8 ``ToolCall`` events as the protocol says: pieces grouped by
    ``parallelToolIndex`` (0 when absent), not by arrival order; the piece with ``id`` and
    ``name`` names the call. Returns ``[{index, id, name, arguments}]`` sorted by index."""
    calls: dict[int, dict[str, Any]] = {}
    for event in events:
        if event.get("type") != "ToolCall":
            continue
        index = event.get("parallelToolIndex") or 0
        call = calls.setdefault(index, {"index": index, "id": None, "name": None, "arguments": ""})
        if event.get("id") is not None:
            call["id"] = event["id"]
        if event.get("name") is not None:
            call["name"] = event["name"]
        call["arguments"] += event.get("content") or ""
    return [calls[i] for i in sorted(calls)]


def parameter_data(*pairs: tuple[str, str, Any]) -> dict[str, Any]:
    """``parameters`` for a chat body from ``(name, type, value)`` triples, e.g.
    ``("temperature", "double", 0.2)`` → key ``{type, fqdn: llm.parameters.temperature}`` and
    value ``{type, value}``."""
    data: list[dict[str, Any]] = []
    for name, kind, value in pairs:
        data.append({"type": kind, "fqdn": f"llm.parameters.{name}"})
        data.append({"type": kind, "value": value})
    return {"data": data}


def function_calls_v7(events: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Assembles v7 ``FunctionCall`` events into ``[{name, arguments}]``: an event with a
    non-null ``name`` starts a call."""
    calls: list[dict[str, str]] = []
    for event in events:
        if event.get("type") != "FunctionCall":
            continue
        if event.get("name") is not None:
            calls.append({"name": event["name"], "arguments": ""})
        assert calls, f"FunctionCall continuation before any call: {event!r}"
        calls[-1]["arguments"] += event.get("content") or ""
    return calls


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def decode_jwt(token: str) -> dict[str, Any]:
    """The payload of a three-part JWT (not verified)."""
    parts = token.split(".")
    assert len(parts) == 3, f"not a three-part JWT: {token!r}"
    return json.loads(_b64url_decode(parts[1]))


def make_jwt(payload: Mapping[str, Any] | None = None, **claims: Any) -> str:
    """An unsigned three-part JWT with ``payload`` (plus ``claims``), e.g. ``make_jwt(exp=…)``."""
    header = _b64url_encode(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = _b64url_encode(json.dumps({**(payload or {}), **claims}).encode())
    return f"{header}.{body}.{_b64url_encode(b'test-signature')}"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (prefer port 0 where a program supports it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]
