"""Real-process tests of ``jetbrains-ai-supervisor run``: serving a fleet, ``check``, startup
errors, secrets, process groups, the control socket's mode, the unified health states and a
graceful SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from worker_harness import fingerprint
from harness import Proc, Simulator, binary, wait_until
from supervisor_harness import (
    BackgroundStream,
    SECRET_MARK,
    SUPERVISOR_BINARY,
    Fleet,
    api_key,
    make_fleet,  # noqa: F401 - fixture
    pid_alive,
    running_fleet,
    secret_jwt,
    tenant,
)

TENANTS = ("alpha", "beta", "gamma")


@pytest.fixture(scope="module")
def fleet3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Three tenants (different strategies, gamma with two JWTs), started with the default
    subcommand (``jetbrains-ai-supervisor FLEET.yaml``)."""
    tenants = {
        "alpha": tenant("alpha"),
        "beta": tenant("beta", strategy="random"),
        "gamma": tenant("gamma", jwts=2, strategy="least_busy"),
    }
    with running_fleet(tmp_path_factory.mktemp("run3"), tenants, default_subcommand=True) as (fleet, _sim):
        yield fleet


# --------------------------------------------------------------------------- serving


def test_every_tenant_answers_on_its_own_port_with_its_own_keys(fleet3: Fleet) -> None:
    status = fleet3.status()
    assert set(status["tenants"]) == set(TENANTS)
    ports = {name: fleet3.tenant_url(name) for name in TENANTS}
    assert len(set(ports.values())) == 3, ports
    # The supervisor's stderr names every tenant's real (OS-picked) port.
    for name in TENANTS:
        port = ports[name].rsplit(":", 1)[1]
        assert f"tenant {name}: listening on 127.0.0.1:{port}" in fleet3.stderr()
    for name in TENANTS:
        response = fleet3.complete(name, f"hello from {name}")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["object"] == "chat.completion"
        assert body["choices"][0]["message"]["content"], body
    # A key of one tenant is rejected by every other tenant.
    for owner in TENANTS:
        for other in TENANTS:
            if other == owner:
                continue
            response = fleet3.complete(other, key=fleet3.key(owner))
            assert response.status_code == 401, f"{owner}'s key on {other}: {response.status_code} {response.text}"
    assert {status["tenants"][n]["strategy"] for n in TENANTS} == {"round_robin", "random", "least_busy"}
    assert status["tenants"]["gamma"]["total_tokens"] == 2


def test_workers_get_no_secret_in_argv_and_lead_their_own_process_group(fleet3: Fleet) -> None:
    status = fleet3.status()
    secrets = [api_key(n) for n in TENANTS] + [secret_jwt(l) for l in ("alpha1", "beta1", "gamma1", "gamma2")]
    supervisor_pgid = os.getpgid(fleet3.proc.pid)
    for name in TENANTS:
        pid = status["tenants"][name]["pid"]
        port = int(status["tenants"][name]["listen"].rsplit(":", 1)[1])
        # Socket activation: the supervisor's listener is fd 3, announced systemd-style.
        environ = dict(
            item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0") if "=" in item
        )
        assert environ.get("LISTEN_FDS") == "1" and environ.get("LISTEN_PID") == str(pid), environ
        assert environ.get("LISTEN_FDNAMES") == name
        assert os.readlink(f"/proc/{pid}/fd/3").startswith("socket:")
        assert _listening_inode(port) == os.readlink(f"/proc/{pid}/fd/3")[len("socket:["):-1]
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        joined = " ".join(cmdline)
        assert "jetbrains-ai-proxy" in joined and "--settings-from-stdin" in joined, joined
        assert f"--tenant {name}" in joined, joined
        assert SECRET_MARK not in joined, f"secret in worker {name}'s argv: {joined}"
        for secret in secrets:
            assert secret not in joined and secret[10:] not in joined
        # Its own process group, not the supervisor's.
        assert os.getpgid(pid) == pid, f"worker {name} pid {pid} is in group {os.getpgid(pid)}"
        assert os.getpgid(pid) != supervisor_pgid
        # Spawned by the supervisor itself.
        ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        assert ppid == fleet3.proc.pid


def _listening_inode(port: int) -> str | None:
    """The inode of the IPv4 socket listening on ``port`` (from /proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
            return fields[9]
    return None


def test_control_socket_and_run_dir_are_private(fleet3: Fleet) -> None:
    mode = os.stat(fleet3.control_socket).st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600, oct(stat.S_IMODE(mode))
    assert stat.S_IMODE(os.stat(fleet3.run_dir).st_mode) & 0o077 == 0, oct(os.stat(fleet3.run_dir).st_mode)


def test_no_secret_in_logs_supervisor_output_or_documents(fleet3: Fleet) -> None:
    # Make every worker log something about a request, a rejected key and its JWT probe.
    for name in TENANTS:
        assert fleet3.complete(name).status_code == 200
        assert fleet3.complete(name, key=f"wrong-{SECRET_MARK}-not-a-key-0000").status_code == 401
    for name in TENANTS:
        wait_until(lambda: "Health check completed" in (fleet3.log_dir / f"{name}.log").read_text(), timeout=10)
    logs = sorted(p.name for p in fleet3.log_dir.glob("*.log"))
    assert logs == sorted(f"{n}.log" for n in TENANTS), logs
    text = fleet3.all_log_text()
    assert text.strip()
    documents = [
        fleet3.health().text,
        fleet3.control("GET", "/status").text,
        *(fleet3.ctl("logs", n, "--lines", "200")[1] for n in TENANTS),
        fleet3.ctl("status", "--json")[1],
        fleet3.ctl("status")[1],
    ]
    for where, blob in [("worker logs / supervisor output", text)] + [(f"document {i}", d) for i, d in enumerate(documents)]:
        leaks = [line for line in blob.splitlines() if SECRET_MARK in line]
        assert not leaks, f"secret material in {where}: {leaks[:5]}"
    # Fingerprints are what is shown.
    health = fleet3.health().json()
    fingerprints = {t["fingerprint"] for n in TENANTS for t in health["tenants"][n]["tokens"]}
    assert fingerprints == {fingerprint(secret_jwt(l)) for l in ("alpha1", "beta1", "gamma1", "gamma2")}


# --------------------------------------------------------------------------- check


def test_check_accepts_a_valid_file(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path, "http://127.0.0.1:9", {"alpha": tenant("alpha"), "beta": tenant("beta")})
    done = Proc(binary(SUPERVISOR_BINARY), ["check", str(fleet.path)], log_dir=tmp_path / "proc")
    assert done.wait(timeout=20) == 0, done.describe()
    assert "OK" in done.stdout_text() and "alpha" in done.stdout_text() and "beta" in done.stdout_text()
    assert not (tmp_path / "run").exists(), "check must not start anything"


INVALID = """\
version: 1
supervisor:
  listen: 127.0.0.1:0
  heartbeat_intervall: 1s
tenants:
  alpha:
    listen: 127.0.0.1:18081
    api_keys: []
    tokens:
      - name: one
        jwt: "jwt-one"
  beta:
    listen: 127.0.0.1:18081
    strategy: bogus
    api_keys: ["k"]
    tokens: []
"""


def test_check_reports_every_error_with_file_line_column_and_key_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(INVALID)
    done = Proc(binary(SUPERVISOR_BINARY), ["check", str(path)], log_dir=tmp_path / "proc")
    assert done.wait(timeout=20) == 1, done.describe()
    lines = [l for l in done.stderr_text().splitlines() if re.match(rf"^{re.escape(str(path))}:\d+:\d+: ", l)]
    found = {}
    for line in lines:
        m = re.match(rf"^{re.escape(str(path))}:(\d+):(\d+): (\S+): (.*)$", line)
        assert m, line
        found[m.group(3)] = (int(m.group(1)), int(m.group(2)), m.group(4))
    expected = {
        "supervisor.heartbeat_intervall": 4,
        "tenants.alpha.api_keys": 8,
        "tenants.beta.listen": 13,
        "tenants.beta.strategy": 14,
        "tenants.beta.tokens": 16,
    }
    for key, line in expected.items():
        assert key in found, f"no error for {key}: {done.stderr_text()}"
        assert found[key][0] == line, (key, found[key])
    assert "18081" in found["tenants.beta.listen"][2] and "tenants.alpha" in found["tenants.beta.listen"][2]
    # `run` validates the same way and starts nothing.
    run = Proc(binary(SUPERVISOR_BINARY), ["run", str(path)], log_dir=tmp_path / "proc-run")
    assert run.wait(timeout=20) == 1, run.describe()
    assert "tenants.beta.strategy" in run.stderr_text()
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------- startup errors


def test_a_port_already_in_use_is_a_clear_error_naming_the_tenant(tmp_path: Path, simulator: Simulator) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        fleet = Fleet(
            tmp_path, simulator.url, {"alpha": tenant("alpha"), "busy-one": tenant("busy", listen=f"127.0.0.1:{port}")}
        )
        fleet.start(wait=False)
        try:
            code = fleet.proc.wait(timeout=20)
        finally:
            leaked = fleet.close()
    assert code != 0, fleet.describe()
    err = fleet.stderr()
    assert "busy-one" in err and str(port) in err and "in use" in err, err
    assert not leaked, f"workers started although a listener could not be bound: {leaked}"
    assert not fleet.control_socket.exists()


def test_a_missing_worker_binary_is_a_clear_error_that_says_how_to_build(tmp_path: Path, simulator: Simulator) -> None:
    fleet = Fleet(tmp_path, simulator.url, {"alpha": tenant("alpha")}, supervisor={"worker_binary": "/nonexistent"})
    fleet.start(wait=False)
    try:
        code = fleet.proc.wait(timeout=20)
    finally:
        leaked = fleet.close()
    assert code != 0
    err = fleet.stderr()
    assert "/nonexistent" in err and "swift build" in err and "jetbrains-ai-proxy" in err, err
    assert not leaked


# --------------------------------------------------------------------------- unified health


def _tenant_shape(entry: dict[str, Any]) -> None:
    for key in ("state", "pid", "uptime_s", "restarts", "last_exit", "listen", "status", "healthy_tokens", "total_tokens", "strategy", "tokens"):
        assert key in entry, f"{key} missing from {entry}"
    for token in entry["tokens"]:
        assert set(token) >= {"name", "fingerprint", "state"}, token


def test_unified_health_ok_degraded_down(make_fleet, simulator: Simulator) -> None:
    fleet = make_fleet({"alpha": tenant("alpha"), "beta": tenant("beta", jwts=2)})
    doc = fleet.wait_health("ok")
    response = fleet.health()
    assert response.status_code == 200
    assert doc["healthy_tenants"] == 2 and doc["total_tenants"] == 2
    for name in ("alpha", "beta"):
        entry = doc["tenants"][name]
        _tenant_shape(entry)
        assert entry["state"] == "running" and entry["status"] == "ok" and entry["last_exit"] is None
        assert entry["healthy_tokens"] == entry["total_tokens"]
        assert all(t["state"] == "healthy" for t in entry["tokens"])
    assert doc["tenants"]["beta"]["total_tokens"] == 2

    # A stopped tenant making the fleet degraded is a reconciler unit test; here the workers' own
    # reports of their JWTs.
    # alpha's only JWT turns invalid (401 from upstream) → degraded, alpha can no longer serve.
    simulator.fault(kind="status", status=401, jwt=secret_jwt("alpha1"), endpoint="any")
    doc = wait_until(
        lambda: (d := fleet.health().json())["tenants"]["alpha"]["healthy_tokens"] == 0 and d,
        timeout=10,
        message=lambda: fleet.health().text,
    )
    assert doc["status"] == "degraded", doc
    assert fleet.health().status_code == 200
    assert doc["healthy_tenants"] == 1
    alpha = doc["tenants"]["alpha"]
    assert alpha["state"] == "running" and alpha["tokens"][0]["state"] == "invalid", alpha
    assert alpha["tokens"][0]["fingerprint"] == fingerprint(secret_jwt("alpha1"))

    # One JWT of beta's two invalid → still degraded, beta counts as able to serve.
    simulator.fault(kind="status", status=401, jwt=secret_jwt("beta1"), endpoint="any")
    wait_until(lambda: fleet.health().json()["tenants"]["beta"]["healthy_tokens"] == 1, timeout=10)
    assert fleet.health().json()["status"] == "degraded"

    # Every tenant stopped → down, HTTP 503.
    code, out, err = fleet.ctl("stop")
    assert code == 0, err
    for name in ("alpha", "beta"):
        fleet.wait_state(name, "stopped")
    doc = fleet.wait_health("down")
    response = fleet.health()
    assert response.status_code == 503
    assert doc["healthy_tenants"] == 0 and doc["total_tenants"] == 2
    assert all(t["pid"] is None for t in doc["tenants"].values())
    # The control socket's /health is the same document.
    assert fleet.control("GET", "/health").status_code == 503


# --------------------------------------------------------------------------- SIGTERM


def test_sigterm_drains_a_stream_in_flight_then_exits_0_and_removes_its_socket(make_fleet) -> None:
    fleet = make_fleet({"alpha": tenant("alpha"), "beta": tenant("beta")})
    pids = [fleet.pid(n) for n in ("alpha", "beta")]
    url = fleet.tenant_url("alpha")
    reader = BackgroundStream(url, fleet.key("alpha"), "[[chunks=8]][[delay_ms=300]] a slow answer")
    result = reader.result
    assert reader.first_chunk.wait(10), "the slow stream did not start"
    assert "error" not in result, result
    t0 = time.monotonic()
    fleet.proc.send_signal(signal.SIGTERM)
    code = fleet.proc.wait(timeout=20)
    elapsed = time.monotonic() - t0
    reader.join(10)
    print(f"\nSIGTERM → supervisor exit: {elapsed:.2f}s")
    assert code == 0, fleet.describe()
    assert "error" not in result, result
    assert result["status"] == 200
    assert result["chunks"] and result["chunks"][-1] == "[DONE]", result["chunks"]
    contents = [json.loads(c) for c in result["chunks"][:-1]]
    assert any(c["choices"][0].get("finish_reason") == "stop" for c in contents), contents[-2:]
    assert elapsed < 5 + 3, f"shutdown took {elapsed:.1f}s (shutdown_timeout 5s)"
    assert not fleet.control_socket.exists(), "the control socket was left behind"
    assert not any(pid_alive(p) for p in pids), "a worker outlived its supervisor's graceful exit"
    assert not list(fleet.run_dir.glob("*.sock")), list(fleet.run_dir.iterdir())


# --------------------------------------------------------------------------- worker output


def test_worker_logs_rotate_by_size(make_fleet) -> None:
    fleet = make_fleet({"alpha": tenant("alpha")}, supervisor={"log_max_bytes": "2KiB", "log_backups": 2})
    # Every rejected request logs a warning line of its own.
    with httpx.Client(base_url=fleet.tenant_url("alpha"), timeout=10) as client:
        for i in range(80):
            assert client.get("/v1/models", headers={"Authorization": f"Bearer wrong-key-{i:04d}"}).status_code == 401
    wait_until(lambda: (fleet.log_dir / "alpha.log.2").exists(), timeout=10, message=lambda: str(sorted(p.name for p in fleet.log_dir.iterdir())))
    names = sorted(p.name for p in fleet.log_dir.iterdir())
    assert names == ["alpha.log", "alpha.log.1", "alpha.log.2"], names
    for name in names:
        size = (fleet.log_dir / name).stat().st_size
        assert size <= 2048 + 1024, f"{name} has {size} bytes (log_max_bytes 2KiB)"
    assert "rejected request" in (fleet.log_dir / "alpha.log.1").read_text()
    # `ctl logs` still has the latest lines.
    code, out, err = fleet.ctl("logs", "alpha", "--lines", "5")
    assert code == 0 and len(out.splitlines()) == 5, (out, err)


def test_log_dir_dash_sends_worker_output_to_the_supervisors_stderr(make_fleet) -> None:
    fleet = make_fleet({"alpha": tenant("alpha"), "beta": tenant("beta")}, supervisor={"log_dir": "-"})
    assert fleet.complete("alpha").status_code == 200
    fleet.proc.wait_for_line(r"^\[alpha\] .*tenant=alpha", timeout=10)
    fleet.proc.wait_for_line(r"^\[beta\] .*tenant=beta", timeout=10)
    assert not (fleet.dir / "-").exists() and not (fleet.dir / "logs").exists()
    code, out, err = fleet.ctl("logs", "beta")
    assert code == 0 and "tenant=beta" in out, (out, err)
