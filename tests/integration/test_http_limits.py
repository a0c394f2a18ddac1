"""Hostile and broken clients on a worker's port: the head, idle and body timeouts, the head
size limit, the connection cap, CONNECT, and the cap on requests answered at once. Each test
fails without its limit (the connection would stay open, or the request would be served).

The limits are set short in the fleet file so the tests take a second, not a minute."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from harness import wait_until
from worker_harness import (  # noqa: F401 - fixtures
    KEY,
    BackgroundStream,
    fleet_document,
    jwt_name,
    sim,
    start_sim,
    start_worker,
    tokens_for,
)

A = jwt_name("a")

LIMITS = {
    "header_timeout": "600ms",
    "idle_timeout": "800ms",
    "body_timeout": "600ms",
    "max_connections": 6,
    "max_header_size": "4KiB",
}


@pytest.fixture
def worker(sim, start_worker):
    return start_worker.fleet(fleet_document(sim.url, tokens_for([A]), **LIMITS))


def connect(worker) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", worker.port), timeout=10)
    s.settimeout(10)
    return s


def read_until_closed(s: socket.socket, deadline: float = 10.0) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    start = time.monotonic()
    data = b""
    s.settimeout(deadline)
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        except TimeoutError:
            data += b"<still open after %.1fs>" % deadline
            break
        if not chunk:
            break
        data += chunk
    return data, time.monotonic() - start


def status_and_body(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body


def test_half_sent_head_gets_408_and_is_closed(worker) -> None:
    s = connect(worker)
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Ty")
    raw, took = read_until_closed(s)
    status, headers, body = status_and_body(raw)
    assert status == 408
    assert headers["connection"] == "close"
    assert json.loads(body)["error"]["code"] == "request_timeout"
    assert 0.4 < took < 5, took


def test_silent_new_connection_is_closed_without_an_answer(worker) -> None:
    s = connect(worker)
    raw, took = read_until_closed(s)
    assert raw == b""
    assert 0.4 < took < 5, took


def test_idle_keep_alive_connection_is_closed(worker) -> None:
    s = connect(worker)
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    first = s.recv(65536)
    assert first.startswith(b"HTTP/1.1 200")
    # The answer is complete; the connection now idles until idle_timeout closes it.
    rest, took = read_until_closed(s)
    assert rest == b""
    assert 0.5 < took < 5, took


def test_a_connection_in_use_is_not_closed_by_the_idle_timeout(worker) -> None:
    s = connect(worker)
    for _ in range(4):  # 4 × 0.4 s > idle_timeout, but never idle that long
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
        time.sleep(0.4)  # the client's own pace, not synchronization
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert s.recv(65536).startswith(b"HTTP/1.1 200")


def test_stalled_body_gets_408(worker) -> None:
    s = connect(worker)
    s.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode()
        + b"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"model\":"
    )
    raw, took = read_until_closed(s)
    status, _, body = status_and_body(raw)
    assert status == 408
    assert json.loads(body)["error"]["code"] == "request_timeout"
    assert 0.4 < took < 5, took


def test_stalled_body_on_messages_is_answered_in_anthropic_shape(worker) -> None:
    s = connect(worker)
    s.sendall(
        b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: " + KEY.encode()
        + b"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
    )
    raw, _ = read_until_closed(s)
    status, _, body = status_and_body(raw)
    assert status == 408
    doc = json.loads(body)
    assert doc["type"] == "error" and doc["error"]["message"]


def test_oversized_head_gets_431(worker) -> None:
    s = connect(worker)
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-Filler: " + b"a" * 6000 + b"\r\n\r\n")
    raw, _ = read_until_closed(s)
    status, headers, body = status_and_body(raw)
    assert status == 431
    assert headers["connection"] == "close"
    assert json.loads(body)["error"]["code"] == "request_header_too_large"


def test_head_under_the_limit_is_served(worker) -> None:
    s = connect(worker)
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Filler: " + b"a" * 3000 + b"\r\n\r\n")
    raw, _ = read_until_closed(s)
    assert status_and_body(raw)[0] == 200


def test_connect_gets_405_with_a_body_and_is_closed(worker) -> None:
    s = connect(worker)
    s.sendall(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
    raw, took = read_until_closed(s)
    status, headers, body = status_and_body(raw)
    assert status == 405
    assert int(headers["content-length"]) == len(body) > 0
    assert json.loads(body)["error"]["code"] == "method_not_allowed"
    assert took < 5


def test_connections_past_the_cap_are_closed_at_once(sim, start_worker) -> None:
    # A head timeout far longer than the test, so the held connections stay held.
    worker = start_worker.fleet(fleet_document(sim.url, tokens_for([A]), max_connections=6, header_timeout="20s"))
    held = [connect(worker) for _ in range(6)]
    for s in held:
        s.sendall(b"GET /health HTTP/1.1\r\n")
    extra = connect(worker)
    raw, took = read_until_closed(extra, deadline=15)
    assert raw == b"" and took < 5, (raw, took)
    assert wait_until(lambda: "connection limit reached" in worker.output(), timeout=5)
    # Places given back are usable again.
    for s in held:
        s.close()

    def served() -> bool:
        s = connect(worker)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw, _ = read_until_closed(s)
        return raw.startswith(b"HTTP/1.1 200")

    assert wait_until(served, timeout=5)


def test_requests_past_max_concurrent_requests_get_503_at_once(sim, start_worker) -> None:
    # The hanging upstream calls end by request_timeout, so the worker drains quickly afterwards.
    worker = start_worker.fleet(
        fleet_document(sim.url, tokens_for([A]), max_concurrent_requests=2, request_timeout="4s", max_attempts=1)
    )
    sim.fault(kind="hang", endpoint="chat")
    hanging = [BackgroundStream(worker.client, {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": True}) for _ in range(2)]
    try:
        wait_until(lambda: len([r for r in sim.requests() if r.get("endpoint") == "chat"]) >= 2, timeout=10)
        started = time.monotonic()
        refused = worker.chat("third")
        assert time.monotonic() - started < 2
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["code"] == "server_overloaded"
        anthropic = worker.client.post(
            "/v1/messages", headers={"anthropic-version": "2023-06-01"},
            json={"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]},
        )
        assert anthropic.status_code == 503
        assert anthropic.json()["error"]["type"] == "overloaded_error"
        # Reads are never refused.
        assert worker.client.get("/health").status_code == 200
        assert worker.client.get("/v1/models").status_code == 200
    finally:
        sim.clear_faults()
        for stream in hanging:
            stream._thread.join(15)
    assert wait_until(lambda: worker.chat("after").status_code == 200, timeout=10)


def test_body_spanning_many_reads_is_served(worker) -> None:
    # Reads of a big body arrive while no head is due; none of them counts toward the 4 KiB
    # head limit, and a pause shorter than body_timeout between them is fine.
    r = worker.chat("x" * 300_000)
    assert r.status_code == 200, r.text
    s = connect(worker)
    body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "y" * 20_000}]}).encode()
    s.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY.encode()
        + b"\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    for i in range(0, len(body), 5000):
        s.sendall(body[i:i + 5000])
        time.sleep(0.2)  # the client's pace: under body_timeout (600 ms) each time
    raw, _ = read_until_closed(s)
    assert status_and_body(raw)[0] == 200


def rss_mib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) // 1024
    raise AssertionError(field)


def test_big_bodies_cost_a_bounded_amount_of_memory(sim, start_worker) -> None:
    """16 bodies of 9 MB at once: the worker keeps about two copies of each while it answers
    (it kept five, ~51 MB a request, and held half its peak afterwards)."""
    import httpx
    import threading

    worker = start_worker.fleet(fleet_document(sim.url, tokens_for([A])))
    base = rss_mib(worker.pid, "VmRSS")
    body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * (9 << 20) + " [[text=ok]]"}]})
    statuses: list[object] = []

    def post() -> None:
        try:
            r = httpx.post(
                worker.url + "/v1/chat/completions", content=body, timeout=120,
                headers={"Authorization": f"Bearer {KEY}", "content-type": "application/json"},
            )
            statuses.append(r.status_code)
        except Exception as e:  # noqa: BLE001 - reported below
            statuses.append(repr(e))

    threads = [threading.Thread(target=post) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert statuses == [200] * 16, statuses
    peak = rss_mib(worker.pid, "VmHWM") - base
    held = rss_mib(worker.pid, "VmRSS") - base
    assert peak < 16 * 30, f"peak grew by {peak} MiB for 16 bodies of 9 MiB"
    assert held < 250, f"{held} MiB still held after the requests"


def test_expect_continue_behind_a_response_in_flight_does_not_break_it(worker) -> None:
    """A pipelined request asking for `100 Continue` while the previous answer still streams:
    the server used to write the 100 into the middle of that answer, which NIO's HTTP error
    handler treats as a programming error and kills the worker for (seen in the chaos run)."""
    first = json.dumps({"model": "gpt-4o", "stream": True,
                        "messages": [{"role": "user", "content": "abcdef [[chunks=3]] [[delay_ms=300]]"}]}).encode()
    second = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).encode()
    auth = b"Authorization: Bearer " + KEY.encode() + b"\r\nContent-Type: application/json\r\n"
    s = connect(worker)
    s.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Length: " + str(len(first)).encode() + b"\r\n\r\n" + first
        + b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" + auth + b"Expect: 100-continue\r\nConnection: close\r\n"
        + b"Content-Length: " + str(len(second)).encode() + b"\r\n\r\n"
    )
    time.sleep(0.3)  # the client's own wait for a 100 before it sends the body anyway
    s.sendall(second)
    raw, _ = read_until_closed(s, deadline=20)
    assert raw.count(b"HTTP/1.1 200") == 2, raw[:2000]
    assert b"HTTP/1.1 100" not in raw.split(b"HTTP/1.1 200", 2)[1], "a 100 inside the first answer"
    assert worker.is_running
    assert worker.client.get("/health").status_code == 200
