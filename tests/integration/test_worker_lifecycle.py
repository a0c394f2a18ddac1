"""The worker's life: graceful shutdown, reload (HTTP and SIGHUP) keeping JWT state, the
control socket, an inherited listening socket, and secrets kept out of logs and reports."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from harness import wait_until
from worker_harness import (  # noqa: F401 - fixtures
    KEY,
    BackgroundStream,
    Worker,
    assert_openai_error,
    connection_refused,
    is_listening,
    fleet_document,
    jwt_name,
    sim,
    sim_chat_counts,
    start_sim,
    start_worker,
    tokens_for,
    write_fleet,
)

A, B, C, D = (jwt_name(x) for x in "abcd")

SLOW = "abcdefghijkl [[chunks=6]] [[delay_ms=400]]"  # ~2.4 s of streaming


def slow_body(text: str = SLOW) -> dict:
    return {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": text}]}


@pytest.fixture
def short_dir():
    """A short folder for Unix sockets (paths are limited to ~108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="jbw-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------- shutdown


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_graceful_shutdown_finishes_a_stream_in_flight(sim, start_worker, sig) -> None:
    worker = start_worker.seed(sim.url, [A, B])
    stream = BackgroundStream(worker.client, slow_body())
    assert stream.first_data.wait(10), "no content arrived"
    assert is_listening(worker.port)
    worker.send_signal(sig)
    # the listener closes while the stream drains (checked without connecting: a connection
    # arriving during the shutdown is test_connections_arriving_during_shutdown_...)
    wait_until(lambda: not is_listening(worker.port), timeout=3, message="listener to close")
    assert stream.is_alive(), "the stream should still be running while the worker drains"
    assert worker.is_running()
    result = stream.join(15)
    assert result.status == 200
    assert result.done, result.lines
    assert result.content == "lkjihgfedcba"
    assert result.finish_reasons == ["stop"]
    assert worker.wait(timeout=10) == 0
    assert connection_refused("127.0.0.1", worker.port)
    assert "Shutdown complete" in worker.log()


def test_sigterm_finishes_a_non_stream_request_in_flight(sim, start_worker) -> None:
    import threading

    worker = start_worker.seed(sim.url, [A])
    box: dict = {}

    def call() -> None:
        box["response"] = worker.chat("abcdef [[chunks=3]] [[delay_ms=500]]")

    thread = threading.Thread(target=call)
    thread.start()
    wait_until(lambda: sim.stats()["in_flight"] == 1, timeout=5, message="request upstream")
    worker.send_signal(signal.SIGTERM)
    thread.join(15)
    response = box["response"]
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "fedcba"
    assert worker.wait(timeout=10) == 0


def test_idle_worker_exits_promptly_on_sigterm(sim, start_worker) -> None:
    worker = start_worker.seed(sim.url, [A])
    assert worker.chat("abc").status_code == 200  # leaves an idle keep-alive connection open
    start = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=10) == 0
    assert time.monotonic() - start < 5


def test_shutdown_timeout_bounds_the_drain(sim, start_worker) -> None:
    doc = fleet_document(sim.url, tokens_for([A]), supervisor={"shutdown_timeout": "1s"})
    worker = start_worker.fleet(doc)
    stream = BackgroundStream(worker.client, slow_body("abcdefghijkl [[chunks=10]] [[delay_ms=1000]]"))
    assert stream.first_data.wait(10)
    start = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=10) == 0
    assert time.monotonic() - start < 5, "the drain should stop after shutdown_timeout"
    result = stream.join(10)
    assert not result.done or result.content != "lkjihgfedcba"
    wait_until(lambda: sim.stats()["in_flight"] == 0, timeout=5, message="the upstream call to end")


# --------------------------------------------------------------------------- reload


def make_invalid_via_401(worker, sim, jwt: str, name: str) -> None:
    sim.fault(kind="status", status=401, jwt=jwt)
    before = sim_chat_counts(sim).get(jwt, 0)
    for _ in range(4):
        assert worker.chat("abc").status_code == 200
        if sim_chat_counts(sim).get(jwt, 0) > before:
            break
    assert worker.tokens()[name]["state"] == "invalid"


def test_reload_keeps_state_of_jwts_that_stay(sim, start_worker) -> None:
    worker = start_worker.fleet(fleet_document(sim.url, tokens_for({"ta": A, "tb": B})))
    make_invalid_via_401(worker, sim, A, "ta")
    sim.clear_faults()

    # POST /reload with a JWT added and the strategy changed
    write_fleet(worker.fleet_path, fleet_document(sim.url, tokens_for({"ta": A, "tb": B, "tc": C}), strategy="random"))
    response = worker.client.post("/reload")
    assert response.status_code == 200, response.text
    summary = response.json()
    assert summary["added"] == ["tc"] and sorted(summary["kept"]) == ["ta", "tb"] and summary["removed"] == []
    health = worker.health()
    assert health["total_tokens"] == 3 and health["strategy"] == "random"
    assert worker.states() == {"ta": "invalid", "tb": "healthy", "tc": "healthy"}
    assert worker.tokens()["tb"]["successes"] >= 1, "counters of a kept JWT survive too"

    # SIGHUP: another JWT added, one removed
    write_fleet(worker.fleet_path, fleet_document(sim.url, tokens_for({"ta": A, "tc": C, "td": D})))
    worker.send_signal(signal.SIGHUP)
    wait_until(lambda: set(worker.states()) == {"ta", "tc", "td"}, timeout=5, message=lambda: f"SIGHUP reload; /health {worker.health()}")
    assert worker.states() == {"ta": "invalid", "tc": "healthy", "td": "healthy"}
    assert worker.health()["strategy"] == "round_robin"
    before = sim_chat_counts(sim)
    for _ in range(4):
        assert worker.chat("abc").status_code == 200
    after = sim_chat_counts(sim)
    assert after.get(A, 0) == before.get(A, 0), "an invalid JWT must stay out after reload"
    assert after.get(B, 0) == before.get(B, 0), "a removed JWT must not be used"
    assert after[C] - before.get(C, 0) == 2 and after[D] - before.get(D, 0) == 2
    assert worker.is_running()


def test_reload_picks_up_new_keys_and_models(sim, start_worker) -> None:
    worker = start_worker.fleet(fleet_document(sim.url, tokens_for([A])))
    write_fleet(worker.fleet_path, fleet_document(sim.url, tokens_for([A]), keys=["rotated-key-0123456789"], models={"house": "openai-o3"}))
    assert worker.client.post("/reload").status_code == 200
    assert worker.client.get("/v1/models").status_code == 401
    with worker.raw_client(headers={"Authorization": "Bearer rotated-key-0123456789"}) as client:
        response = client.post("/v1/chat/completions", json={"model": "house", "messages": [{"role": "user", "content": "abc"}]})
        assert response.status_code == 200, response.text
    assert sim.requests(last=1)[0]["body"]["profile"] == "openai-o3"


def test_invalid_reload_changes_nothing(sim, start_worker) -> None:
    worker = start_worker.fleet(fleet_document(sim.url, tokens_for({"ta": A, "tb": B})))
    make_invalid_via_401(worker, sim, A, "ta")
    sim.clear_faults()
    good = worker.fleet_path.read_text()
    before = worker.health()
    doc = fleet_document(sim.url, tokens_for({"ta": A, "tc": C}))
    doc["tenants"]["team-a"]["strategi"] = "random"  # a typo: unknown keys are errors
    write_fleet(worker.fleet_path, doc)
    response = worker.client.post("/reload")
    error = assert_openai_error(response, response.status_code)
    assert response.status_code >= 400
    assert "strategi" in error["message"]
    assert "fleet.yaml" in error["message"]
    after = worker.health()
    assert [t["name"] for t in after["tokens"]] == ["ta", "tb"]
    assert after["strategy"] == before["strategy"]
    assert worker.states() == {"ta": "invalid", "tb": "healthy"}
    # SIGHUP with the broken file: logged, nothing changes, still serving
    worker.send_signal(signal.SIGHUP)
    worker.wait_for_line(r"reload failed", timeout=5)
    assert worker.is_running()
    assert worker.states() == {"ta": "invalid", "tb": "healthy"}
    assert worker.chat("abc").status_code == 200
    # a file that is not even YAML
    worker.fleet_path.write_text("tenants: [unclosed\n")
    assert worker.client.post("/reload").status_code >= 400
    assert worker.states() == {"ta": "invalid", "tb": "healthy"}
    # back to a good file: reload works again
    worker.fleet_path.write_text(good)
    assert worker.client.post("/reload").status_code == 200
    assert worker.states() == {"ta": "invalid", "tb": "healthy"}


def test_reload_of_a_tenant_that_disappeared_fails_safely(sim, start_worker) -> None:
    worker = start_worker.fleet(fleet_document(sim.url, tokens_for([A])))
    write_fleet(worker.fleet_path, fleet_document(sim.url, tokens_for([A]), tenant="team-b"))
    response = worker.client.post("/reload")
    assert response.status_code >= 400
    assert "team-a" in response.json()["error"]["message"]
    assert worker.chat("abc").status_code == 200


# --------------------------------------------------------------------------- control socket


def test_control_socket(sim, start_worker, short_dir) -> None:
    path = short_dir / "w.sock"
    worker = start_worker.fleet(fleet_document(sim.url, tokens_for({"ta": A, "tb": B})), control_socket=path)
    worker.wait_for_line(r"Control socket listening on", timeout=5)
    mode = os.stat(path).st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600, oct(stat.S_IMODE(mode))
    with worker.control() as ctl:
        response = ctl.get("/health")
        assert response.status_code == 200
        health = response.json()
        assert health["pid"] == worker.pid
        assert isinstance(health["uptime_s"], (int, float)) and health["uptime_s"] >= 0
        assert isinstance(health["version"], str) and health["version"]
        assert health["requests_in_flight"] == 0
        # the same document as the public /health, plus the extras
        public = worker.health()
        for key in ("status", "healthy_tokens", "total_tokens", "strategy"):
            assert health[key] == public[key]
        assert [t["name"] for t in health["tokens"]] == ["ta", "tb"]

        stream = BackgroundStream(worker.client, slow_body())
        assert stream.first_data.wait(10)
        assert ctl.get("/health").json()["requests_in_flight"] == 1
        stats = ctl.get("/stats")
        assert stats.status_code == 200 and isinstance(stats.json(), dict)
        assert ctl.get("/drain").status_code == 405
        assert ctl.get("/nope").status_code == 404

        # drain: stop accepting, finish the stream, exit 0
        response = ctl.post("/drain")
        assert response.status_code in (200, 202)
        # the control socket keeps answering while the public server drains
        during = ctl.get("/health")
        assert during.status_code == 200
        assert during.json().get("draining") is True
        assert during.json()["requests_in_flight"] == 1
    wait_until(lambda: not is_listening(worker.port), timeout=3, message="listener to close on drain")
    result = stream.join(15)
    assert result.done and result.content == "lkjihgfedcba"
    assert worker.wait(timeout=10) == 0
    assert not path.exists(), "the control socket file should be removed at exit"


def test_control_socket_answers_without_a_key(sim, start_worker, short_dir) -> None:
    path = short_dir / "c.sock"
    worker = start_worker.fleet(fleet_document(sim.url, tokens_for([A])), control_socket=path)
    wait_until(path.exists, timeout=5)
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(path)), base_url="http://w", timeout=5) as ctl:
        assert ctl.get("/health").json()["pid"] == worker.pid


# --------------------------------------------------------------------------- inherited listener


def spawn_with_listener(start_worker, sim, listener: socket.socket, *, listen_pid: str = "$$", port_arg: int = 0) -> Worker:
    fd = listener.fileno()
    script = f'export LISTEN_PID={listen_pid} LISTEN_FDS=1; exec "$0" "$@" 3<&{fd}'
    from harness import binary

    args = ["-c", script, str(binary("jetbrains-ai-proxy")), "-c", f"{A},{B}", "-k", KEY, "-h", "127.0.0.1", "-p", str(port_arg), "--upstream", sim.url]
    # bash, not sh: dash only accepts single-digit file descriptors in redirections
    return start_worker.launch(args, executable=shutil.which("bash") or "/bin/bash", pass_fds=(fd,))


def test_inherited_listener_is_served(sim, start_worker) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    # a port the worker could not bind itself: held by a socket without SO_REUSEADDR
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    blocker.bind(("127.0.0.1", 0))
    blocked = blocker.getsockname()[1]
    try:
        worker = spawn_with_listener(start_worker, sim, listener, port_arg=blocked)
        assert worker.port == port, worker.output()
        listener.close()  # the worker holds its own copy
        response = worker.chat("abc")
        assert response.status_code == 200, response.text
        assert response.json()["choices"][0]["message"]["content"] == "cba"
        assert connection_refused("127.0.0.1", blocked)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=10) == 0
    finally:
        listener.close()
        blocker.close()


def test_listen_pid_of_another_process_is_ignored(sim, start_worker) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        worker = spawn_with_listener(start_worker, sim, listener, listen_pid="1")
        assert worker.port != listener.getsockname()[1]
        assert worker.chat("abc").status_code == 200
    finally:
        listener.close()


# --------------------------------------------------------------------------- secrets


def test_secrets_never_shown_in_full(sim, start_worker) -> None:
    sim.add_license("L-secret-license-id-0123456789", "license-authorization-secret-0123456789")
    tokens = [
        {"name": "ta", "jwt": A},
        {"name": "tb", "jwt": B},
        {"name": "lic", "license_id": "L-secret-license-id-0123456789", "authorization": "license-authorization-secret-0123456789"},
    ]
    worker = start_worker.fleet(fleet_document(sim.url, tokens), env={"LOG_LEVEL": "trace"})
    wrong_key = "wrong-client-key-0123456789abcdef"
    minted = []

    for _ in range(3):
        assert worker.chat("abc").status_code == 200
    assert worker.stream("abc").done
    with worker.raw_client() as client:
        assert client.get("/v1/models", headers={"Authorization": f"Bearer {wrong_key}"}).status_code == 401
        assert client.get("/v1/models", headers={"x-api-key": wrong_key}).status_code == 401
    make_invalid_via_401(worker, sim, A, "ta")
    assert worker.client.post("/reload").status_code == 200
    minted = [r["jwt"] for r in sim.requests() if r["jwt"] not in (A, B)]
    assert minted, "the license JWT should have been used"

    reports = {
        "/config": worker.client.get("/config").text,
        "/health": worker.client.get("/health").text,
        "/stats": worker.client.get("/stats").text,
    }
    secrets = [A, B, KEY, wrong_key, "license-authorization-secret-0123456789", *minted]
    for where, text in {**reports, "log": worker.log()}.items():
        for secret in secrets:
            assert secret not in text, f"{secret[:12]}… appears in full in {where}"
    config = reports["/config"]
    assert A[:10] + "..." in config and B[:10] + "..." in config
    assert KEY[:10] + "..." in config
    # a rejected key is at most fingerprinted in the log
    assert any("wrong-clie..." in line or "rejected" in line for line in worker.lines())


# --------------------------------------------------------------------------- known bugs


def test_connections_arriving_during_shutdown_do_not_crash_the_worker(sim, start_worker) -> None:
    import threading

    # Each round: clients keep connecting while the worker gets SIGTERM. The crash is a race
    # (about half of the rounds on a 2-core machine), so up to 12 rounds are tried.
    for round_ in range(12):
        worker = start_worker.seed(sim.url, [A], wait_probe=False, env={"SWIFT_BACKTRACE": "enable=no"})
        stop = threading.Event()
        ready = threading.Barrier(5)

        def hammer() -> None:
            ready.wait()
            while not stop.is_set():
                try:
                    socket.create_connection(("127.0.0.1", worker.port), timeout=1).close()
                except OSError:
                    pass

        threads = [threading.Thread(target=hammer, daemon=True) for _ in range(4)]
        for thread in threads:
            thread.start()
        ready.wait()
        worker.send_signal(signal.SIGTERM)
        try:
            code = worker.wait(timeout=20)
        finally:
            stop.set()
            for thread in threads:
                thread.join(5)
        assert code == 0, f"round {round_}: exit status {code}\n{worker.stderr_text()[-1500:]}"
