"""Never hang a client during a crash loop: while a tenant has no serving worker for longer
than ``backlog_grace``, the supervisor answers its port itself (503, ``Retry-After``, in the
caller's API shape) and hands the port back the moment a worker serves again. A single crash
after a healthy run is restarted at once, refusing nothing."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from harness import wait_until
from supervisor_harness import (
    Fleet,
    make_fleet,  # noqa: F401 - fixture
    tenant,
)

GRACE = 1.0
#: A real crash loop: the back-off stays short, and it never goes FATAL.
LOOP_RESTART = {"initial_backoff": "300ms", "max_backoff": "2s", "max_restarts": 100, "window": "60s"}
PATHS = ("/v1/chat/completions", "/v1/messages")


@dataclass
class Answer:
    path: str
    start: float
    end: float
    outcome: str  # "http" | "refused" | "timeout" | "dropped"
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def wait(self) -> float:
        return self.end - self.start


def _body(path: str, n: int) -> bytes:
    if path == "/v1/messages":
        return json.dumps({"model": "claude-sonnet-4-6", "max_tokens": 32, "messages": [{"role": "user", "content": f"hi {n}"}]}).encode()
    return json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": f"hi {n}"}]}).encode()


def shoot(address: tuple[str, int], key: str, path: str, n: int, timeout: float = 8.0) -> Answer:
    """One request on a new connection, read until the server closes it."""
    body = _body(path, n)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {address[0]}:{address[1]}\r\nAuthorization: Bearer {key}\r\n"
        f"anthropic-version: 2023-06-01\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    start = time.monotonic()
    data = b""
    try:
        with socket.create_connection(address, timeout=timeout) as conn:
            conn.sendall(head + body)
            while chunk := conn.recv(65536):
                data += chunk
    except ConnectionRefusedError:
        return Answer(path, start, time.monotonic(), "refused")
    except (socket.timeout, TimeoutError):
        return Answer(path, start, time.monotonic(), "timeout")
    except (ConnectionResetError, BrokenPipeError):
        return Answer(path, start, time.monotonic(), "dropped")
    end = time.monotonic()
    raw_head, sep, payload = data.partition(b"\r\n\r\n")
    if not sep:
        return Answer(path, start, end, "dropped", body=data)
    lines = raw_head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    return Answer(path, start, end, "http", int(lines[0].split()[1]), headers, payload)


class SteadyClient:
    """Starts a request every ``interval`` seconds (open loop: a slow answer does not delay the
    next one), alternating between the OpenAI and the Anthropic path."""

    def __init__(self, fleet: Fleet, name: str, interval: float = 0.05) -> None:
        host, port = fleet.tenant_url(name).split("://", 1)[1].rsplit(":", 1)
        self.address = (host, int(port))
        self.key = fleet.key(name)
        self.interval = interval
        self.answers: list[Answer] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=64)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "SteadyClient":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._pool.shutdown(wait=True)

    def _one(self, n: int) -> None:
        answer = shoot(self.address, self.key, PATHS[n % 2], n)
        with self._lock:
            self.answers.append(answer)

    def _run(self) -> None:
        n = 0
        next_at = time.monotonic()
        while not self._stop.is_set():
            self._pool.submit(self._one, n)
            n += 1
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def since(self, t: float) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if a.start >= t]


def _check_503(answer: Answer) -> None:
    assert answer.headers.get("connection", "").lower() == "close", answer.headers
    retry = answer.headers.get("retry-after", "")
    assert retry.isdigit() and 1 <= int(retry) <= 3, f"Retry-After {retry!r} (max_backoff 2s + jitter, rounded up)"
    doc = json.loads(answer.body)
    if answer.path == "/v1/messages":
        assert doc["type"] == "error" and doc["error"]["type"] == "overloaded_error", doc
        message = doc["error"]["message"]
    else:
        assert doc["error"]["type"] == "server_error" and doc["error"]["code"] == "worker_unavailable", doc
        message = doc["error"]["message"]
    assert "tenant 'loop' has no worker serving right now" in message, message


def test_a_crash_loop_never_leaves_a_client_waiting_longer_than_the_grace(make_fleet) -> None:
    fleet = make_fleet(
        {"loop": tenant("loop", backlog_grace="1s"), "calm": tenant("calm")},
        supervisor={"restart": LOOP_RESTART},
    )
    calm_pid = fleet.pid("calm")
    kills: list[float] = []
    with SteadyClient(fleet, "loop") as client:
        wait_until(lambda: len([a for a in client.since(0) if a.status == 200]) >= 10, timeout=15)
        t_loop = time.monotonic()
        # SIGKILL the worker every 1.5 s for ~10 s (when there is one: in a back-off there is not).
        while time.monotonic() - t_loop < 10:
            pid = fleet.pid("loop")
            if pid:
                kills.append(time.monotonic())
                os.kill(pid, signal.SIGKILL)
            time.sleep(1.5)
        t_stopped = time.monotonic()
        # The loop is over: the next worker comes up and serves both APIs again.
        entry = fleet.wait_state("loop", "running", timeout=15)
        wait_until(
            lambda: {a.path for a in client.since(time.monotonic() - 0.5) if a.status == 200} == set(PATHS),
            timeout=15, message=lambda: f"200s on both paths again: {[(a.path, a.status) for a in client.since(t_stopped)][-10:]}",
        )
        t_served = time.monotonic()
        time.sleep(1.0)  # one more second of steady traffic, all of which must be served
    during = [a for a in client.answers if t_loop <= a.start <= t_stopped]
    after = [a for a in client.answers if a.start >= t_served]
    outcomes: dict[str, int] = {}
    for a in during:
        key = f"{a.outcome}_{a.status}" if a.outcome == "http" else a.outcome
        outcomes[key] = outcomes.get(key, 0) + 1
    longest = max(during, key=lambda a: a.wait)
    print(
        f"\n{len(kills)} kills in {t_stopped - t_loop:.1f}s, {len(during)} requests during the loop: {outcomes}; "
        f"longest wait {longest.wait:.3f}s ({longest.path} {longest.outcome} {longest.status}); "
        f"loop end → 200s on both paths {t_served - t_stopped:.2f}s; restarts {entry['restarts']}"
    )
    assert len(kills) >= 4, kills
    assert outcomes.get("refused", 0) == 0 and outcomes.get("timeout", 0) == 0, outcomes
    # No client waits longer than backlog_grace + 1 s for an answer.
    assert longest.wait <= GRACE + 1.0, f"{longest}"
    # Only requests a killed worker had accepted are cut.
    for a in during:
        if a.outcome == "dropped":
            assert any(a.start - 0.05 <= k <= a.end + 0.05 for k in kills), f"dropped with no kill around it: {a}"
        else:
            assert a.outcome == "http" and a.status in (200, 503), a
    unavailable = [a for a in during if a.status == 503]
    assert {a.path for a in unavailable} == set(PATHS), "the outage was answered on both APIs"
    for a in unavailable:
        _check_503(a)
    assert after and all(a.outcome == "http" and a.status == 200 for a in after), [(a.path, a.outcome, a.status) for a in after]
    assert entry["restarts"] >= len(kills) and entry["state"] == "running"
    assert fleet.pid("calm") == calm_pid, "the other tenant was touched"
    assert "the supervisor answers its requests with 503" in fleet.all_log_text()


def test_a_single_crash_after_a_healthy_run_is_served_again_at_once(make_fleet) -> None:
    fleet = make_fleet({"alpha": tenant("alpha")}, supervisor={"restart": {**LOOP_RESTART, "initial_backoff": "5s", "max_backoff": "10s"}})
    old_pid = fleet.pid("alpha")
    with fleet.hammer("alpha", pause=0.01) as hammer:
        hammer.wait_successes(20)
        t_kill = time.monotonic()
        os.kill(old_pid, signal.SIGKILL)
        hammer.wait_successes(10, since=t_kill)
    first = hammer.first_success_after(t_kill)
    print(f"\nSIGKILL → next successful answer {first.end - t_kill:.3f}s\n{hammer.summary()}")
    assert hammer.counts["refused"] == 0, hammer.summary()
    # No back-off (initial_backoff 5s would show): served again well within the grace.
    assert first.end - t_kill < 2.0, hammer.summary()
    assert not [s for s in hammer.failures if s.start > t_kill], hammer.summary()
    assert "restarting now (first crash after a healthy run)" in fleet.all_log_text()
    entry = fleet.tenant("alpha")
    assert entry["restarts"] == 1 and entry["pid"] != old_pid


def test_a_stopped_tenant_is_answered_503_and_served_again_after_start(make_fleet) -> None:
    fleet = make_fleet({"alpha": tenant("alpha", backlog_grace="300ms")})
    address = tuple(fleet.tenant_url("alpha").split("://", 1)[1].rsplit(":", 1))
    address = (address[0], int(address[1]))
    key = fleet.key("alpha")
    code, out, err = fleet.ctl("stop", "alpha")
    assert code == 0, (out, err)
    fleet.wait_state("alpha", "stopped")
    for n, path in enumerate(PATHS):
        answer = wait_until(lambda: (a := shoot(address, key, path, n, timeout=5)).status == 503 and a, timeout=5)
        assert answer.wait < 1.0, answer
        # Nothing is scheduled: the hint is max_backoff (1s in the test fleets).
        assert answer.headers.get("retry-after") == "1", answer.headers
        assert answer.headers.get("connection") == "close", answer.headers
        doc = json.loads(answer.body)
        assert "it is stopped" in doc["error"]["message"], doc
    code, out, err = fleet.ctl("start", "alpha")
    assert code == 0, (out, err)
    fleet.wait_state("alpha", "running")
    for n, path in enumerate(PATHS):
        answer = shoot(address, key, path, n)
        assert answer.status == 200, (answer.status, answer.body[:200])
