"""Issue 9: the fleet's Prometheus metrics (parsed with prometheus_client's own parser), the
event history (`ctl events`, `GET /events`), the worker access log, and the status page
rendered in headless Chromium."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness import binary, wait_until
from supervisor_harness import (
    SECRET_MARK,
    SUPERVISOR_BINARY,
    Fleet,
    api_key,
    make_fleet,  # noqa: F401 - fixture
    pid_alive,
    secret_jwt,
    tenant,
)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by (name, sorted labels); the parser raises on text
    that is not valid exposition format."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, tuple(sorted(labels.items()))))


def families(text: str) -> dict[str, str]:
    return {f.name: f.type for f in text_string_to_metric_families(text)}


def scrape(fleet: Fleet, headers: dict[str, str] | None = None) -> httpx.Response:
    assert fleet.health_url
    return httpx.get(f"{fleet.health_url}/metrics", headers=headers, timeout=5)


def metrics(fleet: Fleet) -> str:
    response = scrape(fleet)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def wait_value(fleet: Fleet, name: str, predicate, timeout: float = 10.0, **labels: str) -> str:
    """Scrapes until the sample satisfies ``predicate``; returns that scrape."""
    seen: list[Any] = []

    def check() -> str | None:
        text = metrics(fleet)
        v = value(text, name, **labels)
        seen.append(v)
        return text if predicate(v) else None

    return wait_until(check, timeout=timeout, interval=0.05, message=f"{name}{labels}: last values {seen[-5:]}")


@pytest.fixture
def fleet(make_fleet) -> Fleet:
    return make_fleet({"alpha": tenant("alpha", jwts=2, log_format="json"), "beta": tenant("beta")})


def test_fleet_metrics_parse_and_follow_traffic(fleet: Fleet, simulator) -> None:
    text = metrics(fleet)
    kinds = families(text)
    for name, kind in {
        "jbai_worker_up": "gauge", "jbai_worker_state": "gauge", "jbai_worker_restarts": "counter",
        "jbai_reloads": "counter", "jbai_token_state": "gauge", "jbai_requests_in_flight": "gauge",
        "jbai_request_duration_seconds": "histogram", "jbai_time_to_first_byte_seconds": "histogram",
        "jbai_failovers": "counter",
    }.items():
        assert kinds.get(name) == kind, (name, kinds)
    assert value(text, "jbai_worker_up", tenant="alpha") == 1
    assert value(text, "jbai_worker_state", tenant="alpha", state="running") == 1
    assert value(text, "jbai_worker_state", tenant="alpha", state="fatal") == 0
    assert value(text, "jbai_reloads_total", result="applied") == 1
    assert value(text, "jbai_token_state", tenant="alpha", token="t1", state="healthy") == 1

    labels = dict(tenant="alpha", api="chat", model="gpt-4o", status="200")
    before = value(text, "jbai_requests_total", **labels) or 0
    for _ in range(3):
        assert fleet.complete("alpha").status_code == 200
    text = wait_value(fleet, "jbai_requests_total", lambda v: v == before + 3, **labels)
    assert value(text, "jbai_request_duration_seconds_count", tenant="alpha", api="chat") >= 3
    assert value(text, "jbai_time_to_first_byte_seconds_count", tenant="alpha", api="chat") >= 3
    assert value(text, "jbai_requests_total", tenant="beta", api="chat", model="gpt-4o", status="200") is None
    ok_attempts = sum(value(text, "jbai_upstream_attempts_total", tenant="alpha", token=t, outcome="success") or 0 for t in ("t1", "t2"))
    assert ok_attempts >= 3

    # A JWT that answers 500: requests fail over to the other one.
    simulator.fault(kind="status", status=500, jwt=secret_jwt("alpha1"))
    for _ in range(4):
        assert fleet.complete("alpha").status_code == 200
    text = wait_value(fleet, "jbai_failovers_total", lambda v: (v or 0) >= 1, tenant="alpha")
    assert value(text, "jbai_upstream_attempts_total", tenant="alpha", token="t1", outcome="upstream_error") >= 1
    wait_value(fleet, "jbai_token_state", lambda v: v == 1, tenant="alpha", token="t1", state="cooling_down")
    assert value(text, "jbai_failovers_total", tenant="beta") == 0

    # A bad request is counted with its status.
    response = httpx.post(f"{fleet.tenant_url('alpha')}/v1/chat/completions", json={"model": "gpt-4o", "messages": []},
                          headers={"Authorization": f"Bearer {fleet.key('alpha')}"}, timeout=10)
    assert response.status_code == 400
    wait_value(fleet, "jbai_requests_total", lambda v: v == 1, tenant="alpha", api="chat", model="", status="400")

    text = metrics(fleet)
    assert SECRET_MARK not in text and "jwtalpha1" not in text and "key-alpha" not in text

    # The health document carries the rates the status page shows.
    alpha = wait_until(lambda: (lambda t: t if t.get("requests_per_second") is not None else None)(fleet.health().json()["tenants"]["alpha"]),
                       timeout=5, interval=0.1)
    assert alpha["requests_per_second"] >= 0 and (alpha.get("error_rate") is None or 0 <= alpha["error_rate"] <= 1)


def test_worker_serves_its_own_metrics_behind_a_key_and_on_its_control_socket(fleet: Fleet) -> None:
    url = fleet.tenant_url("alpha")
    assert fleet.complete("alpha").status_code == 200
    assert httpx.get(f"{url}/metrics", timeout=5).status_code == 401
    response = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {fleet.key('alpha')}"}, timeout=5)
    assert response.status_code == 200
    assert value(response.text, "jbai_requests_total", tenant="alpha", api="chat", model="gpt-4o", status="200") >= 1
    sockets = sorted(fleet.run_dir.glob("alpha.*.sock"))
    assert sockets, list(fleet.run_dir.iterdir())
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(sockets[-1])), base_url="http://worker") as uds:
        control = uds.get("/metrics")
    assert control.status_code == 200
    assert value(control.text, "jbai_token_state", tenant="alpha", token="t2", state="healthy") == 1
    # The access log: one JSON line per API request, the JWT and the client key by name (a plain
    # key's name is derived from its hash).
    log = (fleet.log_dir / "alpha.log").read_text()
    lines = [json.loads(l[l.index("{"):]) for l in log.splitlines() if '"api":"chat"' in l]
    assert lines, log[-2000:]
    entry = lines[-1]
    assert entry["tenant"] == "alpha" and entry["status"] == 200 and entry["model"] == "gpt-4o"
    assert entry["token"] in ("t1", "t2") and entry["attempts"] == 1
    assert entry["key"] == "key-" + hashlib.sha256(api_key("alpha").encode()).hexdigest()[:8]
    assert entry["duration_ms"] >= entry["ttfb_ms"] >= 0
    assert SECRET_MARK not in log


def test_text_access_log_is_the_default(fleet: Fleet) -> None:
    assert fleet.complete("beta").status_code == 200
    wait_until(lambda: "access time=" in (fleet.log_dir / "beta.log").read_text(), timeout=5, interval=0.05)
    line = next(l for l in (fleet.log_dir / "beta.log").read_text().splitlines() if "access time=" in l)
    assert "tenant=beta api=chat model=gpt-4o status=200" in line and "token=t1" in line and "attempts=1" in line


def test_hung_worker_is_down_at_once_and_restarts_are_counted(fleet: Fleet) -> None:
    pid = fleet.pid("beta")
    os.kill(pid, signal.SIGSTOP)
    try:
        t = time.monotonic()
        text = wait_value(fleet, "jbai_worker_up", lambda v: v == 0, timeout=5, tenant="beta")
        assert value(text, "jbai_worker_up", tenant="alpha") == 1
        # Its series are gone with it; the scrape did not wait for it.
        assert value(text, "jbai_token_state", tenant="beta", token="t1", state="healthy") is None
        start = time.monotonic()
        metrics(fleet)
        assert time.monotonic() - start < 0.5
        print(f"worker_up 0 after {time.monotonic() - t:.2f}s")
        fleet.wait_new_pid("beta", pid)
    finally:
        if pid_alive(pid):
            os.kill(pid, signal.SIGCONT)
    text = wait_value(fleet, "jbai_worker_up", lambda v: v == 1, tenant="beta")
    assert value(text, "jbai_worker_restarts_total", tenant="beta") == 1

    old = fleet.pid("alpha")
    os.kill(old, signal.SIGKILL)
    fleet.wait_new_pid("alpha", old)
    wait_value(fleet, "jbai_worker_restarts_total", lambda v: v == 1, tenant="alpha")


def test_metrics_key_guards_the_fleet_metrics(make_fleet) -> None:
    key = "metrics-" + SECRET_MARK + "-0123456789"
    fleet = make_fleet({"alpha": tenant("alpha")}, supervisor={"metrics_key": "${METRICS_KEY}"}, env={"METRICS_KEY": key})
    assert scrape(fleet).status_code == 401
    assert scrape(fleet, {"Authorization": "Bearer wrong"}).status_code == 401
    response = scrape(fleet, {"Authorization": f"Bearer {key}"})
    assert response.status_code == 200 and value(response.text, "jbai_worker_up", tenant="alpha") == 1
    assert fleet.health().status_code == 200, "health stays open"


def event_lines(fleet: Fleet, *args: str) -> list[dict[str, Any]]:
    code, out, err = fleet.ctl("events", *args, "--json")
    assert code == 0, err
    return [json.loads(l) for l in out.splitlines() if l.strip()]


def test_ctl_events_show_a_crash_a_hang_and_a_reload_in_order(fleet: Fleet) -> None:
    old = fleet.pid("alpha")
    os.kill(old, signal.SIGKILL)
    crashed = fleet.wait_new_pid("alpha", old)
    hung = crashed["pid"]
    os.kill(hung, signal.SIGSTOP)
    try:
        fleet.wait_new_pid("alpha", hung, timeout=15)
    finally:
        if pid_alive(hung):
            os.kill(hung, signal.SIGCONT)
    fleet.write_text(fleet.path.read_text().replace("tenants:", "tenants:\n  bad tenant name: {}", 1))
    status, report = fleet.reload()
    assert status == 400 and not report["ok"]

    events = event_lines(fleet, "alpha", "-n", "1000")
    kinds = [(e["kind"], e.get("tenant")) for e in events]
    crash = next(i for i, e in enumerate(events) if e["kind"] == "exited" and e["details"].get("signal") == "SIGKILL"
                 and e["details"]["pid"] == str(old))
    hang = next(i for i, e in enumerate(events) if e["kind"] == "hung" and e["details"]["pid"] == str(hung))
    reload = next(i for i, e in enumerate(events) if e["kind"] == "reload_rejected")
    assert crash < hang < reload, kinds
    assert events[crash]["details"]["expected"] == "false"
    # The first crash after a healthy run restarts at once (no back-off).
    assert any(e["kind"] == "started" for e in events[crash:hang])
    assert any(e["kind"] == "running" for e in events[hang:reload])
    assert all(e.get("tenant") in ("alpha", None) for e in events), "filtered to the tenant (and the fleet's own)"
    assert events[reload]["details"], "the errors are kept"
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)

    code, out, _ = fleet.ctl("events", "alpha", "-n", "1000")
    assert code == 0
    lines = out.splitlines()
    assert [i for i, l in enumerate(lines) if "  hung  " in l or " hung " in l], out
    assert "reload_rejected" in lines[-1] or any("reload_rejected" in l for l in lines)

    response = fleet.control("GET", "/events", params={"n": 3})
    assert response.status_code == 200 and len(response.json()) == 3
    assert SECRET_MARK not in out and SECRET_MARK not in response.text

    text = metrics(fleet)
    assert value(text, "jbai_reloads_total", result="rejected") == 1
    assert value(text, "jbai_worker_restarts_total", tenant="alpha") == 2


def test_ctl_events_follow_streams_new_events(fleet: Fleet) -> None:
    proc = subprocess.Popen(
        [str(binary(SUPERVISOR_BINARY)), "ctl", "events", "--follow", "--json", "-n", "0", "--socket", str(fleet.control_socket)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        time.sleep(0)  # the stream is open once the restart's events show up in it
        got: list[dict[str, Any]] = []

        def restart_and_read() -> bool:
            return any(e["kind"] == "replaced" and e.get("tenant") == "beta" for e in got)

        code, _, err = fleet.ctl("restart", "beta")
        assert code == 0, err
        deadline = time.monotonic() + 15
        assert proc.stdout is not None
        while not restart_and_read() and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            got.append(json.loads(line))
        assert restart_and_read(), (got, proc.stderr.read() if proc.poll() is not None else "")
        assert proc.poll() is None, "still following"
    finally:
        proc.terminate()
        proc.wait(timeout=5)


# --------------------------------------------------------------------------- the status page


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "headless_shell"):
        path = shutil.which(name)
        if path:
            return path
    return None


def browser(url: str, *args: str, budget_ms: int = 5000) -> subprocess.CompletedProcess[str]:
    exe = chromium()
    if exe is None:
        pytest.skip("no chromium on this machine (.ci/run installs Debian's `chromium`)")
    return subprocess.run(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--user-data-dir=" + str(Path(os.environ.get("TMPDIR", "/tmp")) / f"chromium-{os.getpid()}"),
         f"--virtual-time-budget={budget_ms}", *args, url],
        capture_output=True, text=True, timeout=90,
    )


def test_status_page_renders_the_fleet_in_chromium(fleet: Fleet, tmp_path: Path) -> None:
    assert fleet.complete("alpha").status_code == 200
    code, _, err = fleet.ctl("stop", "beta")
    assert code == 0, err
    fleet.wait_state("beta", "stopped")
    page = httpx.get(f"{fleet.health_url}/", timeout=5)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "http://" not in page.text and "https://" not in page.text, "no external assets"

    done = browser(f"{fleet.health_url}/", "--dump-dom")
    dom = done.stdout
    assert 'data-rendered="0"' not in dom and "data-rendered=" in dom, (done.stderr[-2000:], dom[:2000])
    assert 'data-tenant="alpha"' in dom and 'data-tenant="beta"' in dom
    assert 'data-state="running"' in dom and 'data-state="stopped"' in dom
    assert 'class="badge s-running state"' in dom, "the state has a colour class"
    assert ">running<" in dom and ">stopped<" in dom, "and a text"
    assert 'data-token="t1"' in dom and 'data-token="t2"' in dom
    assert 'class="event"' in dom or 'class="event" ' in dom or "data-kind=" in dom
    assert "reload applied" in dom or "reload_applied" in dom
    for secret in (SECRET_MARK, "jwtalpha1", "jwtalpha2", api_key("alpha")[:10], api_key("beta")[:10]):
        assert secret not in dom, secret

    shot = tmp_path / "status.png"
    done = browser(f"{fleet.health_url}/", f"--screenshot={shot}", "--window-size=420,900", "--hide-scrollbars")
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", done.stderr[-2000:]
    if os.environ.get("JBAI_STATUS_SCREENSHOT"):
        shutil.copy(shot, os.environ["JBAI_STATUS_SCREENSHOT"])
