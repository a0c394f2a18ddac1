"""``jetbrains-ai-supervisor ctl``: tables and ``--json``, exit codes, start/stop/restart,
logs, finding the socket (``--socket``, ``--config``, ``$JBAI_SUPERVISOR_SOCKET``,
``./fleet.yaml``), no supervisor, and peers of another uid."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

from harness import wait_until
from supervisor_harness import (
    NIO_ACCEPT_ASSERT,
    Fleet,
    check_replacement_requests,
    give_unlimited_quota,
    secret_jwt,
    api_key,
    make_fleet,  # noqa: F401 - fixture
    run_ctl,
    running_fleet,
    tenant,
)

STABLE = ("state", "pid", "restarts", "last_exit", "listen", "status", "healthy_tokens", "total_tokens", "strategy", "tokens")


@pytest.fixture(scope="module")
def fleet2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """A fleet nobody changes (read-only ctl tests): alpha (round robin), beta (random, 2 JWTs)."""
    tenants = {"alpha": tenant("alpha"), "beta": tenant("beta", jwts=2, strategy="random")}
    # alpha's key comes from the supervisor's environment; ctl does not need it to find the socket.
    tenants["alpha"]["api_keys"] = ["${JBAI_TEST_ALPHA_KEY}"]
    env = {"JBAI_TEST_ALPHA_KEY": api_key("alpha")}
    with running_fleet(tmp_path_factory.mktemp("ctl"), tenants, env=env) as (fleet, _sim):
        fleet.wait_health("ok")
        yield fleet


def test_status_table(fleet2: Fleet) -> None:
    code, out, err = fleet2.ctl("status")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"supervisor pid {fleet2.proc.pid}") and str(fleet2.path) in lines[0], out
    header = lines[1].split()
    assert header[:4] == ["TENANT", "STATE", "PID", "UPTIME"] and "LISTEN" in header and "JWTS" in header, out
    status = fleet2.status()
    rows = {l.split()[0]: l.split() for l in lines[2:] if l and not l.startswith(" ")}
    assert set(rows) == {"alpha", "beta"}, out
    for name, row in rows.items():
        t = status["tenants"][name]
        assert row[1] == "RUNNING" and row[2] == str(t["pid"]), row
        assert t["listen"] in row and f"{t['healthy_tokens']}/{t['total_tokens']}" in row, row
    assert "2/2" in " ".join(rows["beta"])
    # One tenant only.
    code, out, err = fleet2.ctl("status", "beta")
    assert code == 0 and "beta" in out and "alpha" not in out.split("\n", 2)[2], out


def test_status_json_has_the_health_documents_tenant_objects(fleet2: Fleet) -> None:
    code, out, err = fleet2.ctl("status", "--json")
    assert code == 0, err
    status = json.loads(out)
    assert status["supervisor_pid"] == fleet2.proc.pid
    assert status["config"] == str(fleet2.path)
    health = fleet2.health().json()
    assert set(status["tenants"]) == set(health["tenants"]) == {"alpha", "beta"}
    for name in ("alpha", "beta"):
        mine, theirs = status["tenants"][name], health["tenants"][name]
        assert set(theirs) <= set(mine), (set(theirs) - set(mine))
        assert {k: mine[k] for k in STABLE} == {k: theirs[k] for k in STABLE}, (mine, theirs)
        assert isinstance(mine["uptime_s"], (int, float))
    # --json before the subcommand too, and for one tenant.
    code, out, err = run_ctl("--json", "status", "alpha", "--socket", str(fleet2.control_socket))
    assert code == 0, err
    assert set(json.loads(out)["tenants"]) == {"alpha"}


def test_health_in_both_forms_exit_0_when_ok(fleet2: Fleet) -> None:
    code, out, err = fleet2.ctl("health")
    assert code == 0, (out, err)
    assert out.startswith("fleet ok: 2/2 tenants can serve"), out
    code, out, err = fleet2.ctl("health", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["status"] == "ok" and doc["healthy_tenants"] == 2 and doc["total_tenants"] == 2


def test_logs_prints_worker_log_lines(fleet2: Fleet) -> None:
    assert fleet2.complete("alpha").status_code == 200
    wait_until(lambda: "Health check completed" in fleet2.ctl("logs", "alpha")[1], timeout=10)
    code, out, err = fleet2.ctl("logs", "alpha", "--lines", "400")
    assert code == 0, err
    assert "tenant=alpha" in out and "[supervisor] started worker pid" in out, out
    assert "tenant=beta" not in out
    code, out, err = fleet2.ctl("logs", "alpha", "--lines", "3")
    assert code == 0 and len(out.splitlines()) == 3, out
    code, out, err = fleet2.ctl("logs", "beta", "--json")
    assert code == 0 and json.loads(out)["tenant"] == "beta" and json.loads(out)["lines"]
    # What ctl logs shows is in the log file too.
    file_text = (fleet2.log_dir / "alpha.log").read_text()
    assert "[supervisor] started worker pid" in file_text


@pytest.mark.parametrize("command", [["status", "nosuch"], ["logs", "nosuch"], ["start", "nosuch"], ["stop", "nosuch"], ["restart", "nosuch"]])
def test_an_unknown_tenant_exits_1(fleet2: Fleet, command: list[str]) -> None:
    code, out, err = fleet2.ctl(*command)
    assert code == 1, (code, out, err)
    assert "nosuch" in err, err
    assert fleet2.status()["tenants"]["alpha"]["state"] == "running"


def test_the_socket_is_found_by_every_documented_means(fleet2: Fleet, tmp_path: Path) -> None:
    sock = str(fleet2.control_socket)
    config = str(fleet2.path)

    def pid_of(code_out_err: tuple[int, str, str]) -> int:
        code, out, err = code_out_err
        assert code == 0, (code, out, err)
        return json.loads(out)["supervisor_pid"]

    me = fleet2.proc.pid
    assert pid_of(run_ctl("status", "--json", "--socket", sock)) == me
    assert pid_of(run_ctl("--socket", sock, "status", "--json")) == me
    assert pid_of(run_ctl("status", "--json", "--config", config)) == me
    assert pid_of(run_ctl("--config", config, "status", "--json")) == me
    assert pid_of(run_ctl("--config=" + config, "status", "--json")) == me
    # A relative --config resolves against the working directory; the socket against the file's folder.
    assert pid_of(run_ctl("status", "--json", "--config", fleet2.path.name, cwd=fleet2.dir)) == me
    assert pid_of(run_ctl("status", "--json", env={"JBAI_SUPERVISOR_SOCKET": sock}, cwd=tmp_path)) == me
    # Without any: ./fleet.yaml's socket.
    assert pid_of(run_ctl("status", "--json", cwd=fleet2.dir)) == me
    # --socket and --config win over the environment.
    bogus = {"JBAI_SUPERVISOR_SOCKET": str(tmp_path / "nope.sock")}
    assert pid_of(run_ctl("status", "--json", "--socket", sock, env=bogus)) == me
    assert pid_of(run_ctl("status", "--json", "--config", config, env=bogus, cwd=tmp_path)) == me
    # The environment wins over ./fleet.yaml.
    assert pid_of(run_ctl("status", "--json", env={"JBAI_SUPERVISOR_SOCKET": sock}, cwd=fleet2.dir)) == me


def test_without_a_supervisor_ctl_exits_3_with_a_clear_message(tmp_path: Path) -> None:
    import socket as pysocket
    from concurrent.futures import ThreadPoolExecutor

    missing = tmp_path / "run" / "supervisor.sock"
    stale = tmp_path / "stale.sock"  # a socket file nobody listens on (a supervisor died)
    s = pysocket.socket(pysocket.AF_UNIX, pysocket.SOCK_STREAM)
    s.bind(str(stale))
    s.close()
    (tmp_path / "cwd").mkdir()
    calls = [
        (("status", "--socket", str(missing)), {}, str(missing)),
        (("health", "--socket", str(missing)), {}, str(missing)),
        (("reload", "--socket", str(missing)), {}, str(missing)),
        (("stop", "alpha", "--socket", str(missing)), {}, str(missing)),
        (("logs", "alpha", "--socket", str(missing)), {}, str(missing)),
        (("status",), {"cwd": tmp_path / "cwd"}, str(tmp_path / "cwd" / "run" / "supervisor.sock")),  # no ./fleet.yaml
        (("status", "--socket", str(stale)), {}, str(stale)),
    ]
    # ctl takes a while to give up (see the next test): ask in parallel.
    with ThreadPoolExecutor(len(calls)) as pool:
        results = list(pool.map(lambda c: run_ctl(*c[0], **c[1]), calls))
    for (args, _, path), (code, out, err) in zip(calls, results):
        assert code == 3, (args, code, out, err)
        assert "jetbrains-ai-supervisor is not running" in err, (args, err)
        if path != str(stale):  # a stale socket: "nothing listens on PATH (Connection refused)"
            assert f"no control socket at {path}" in err, (args, err)
        else:
            assert "nothing listens on" in err and str(stale) in err, (args, err)
        assert out == "", (args, out)


def test_ctl_says_promptly_that_no_supervisor_is_running(tmp_path: Path) -> None:
    t0 = time.monotonic()
    try:
        code, out, err = run_ctl("status", "--socket", str(tmp_path / "missing.sock"), timeout=3)
    except subprocess.TimeoutExpired:
        pytest.fail(f"ctl status on a missing socket still running after {time.monotonic() - t0:.1f}s")
    assert code == 3 and "not running" in err


# --------------------------------------------------------------------------- another uid

def _as_nobody() -> None:
    user = pwd.getpwnam("nobody")
    os.setgroups([])
    os.setgid(user.pw_gid)
    os.setuid(user.pw_uid)


def _probe_as_nobody(path: str) -> dict:
    """In a forked child running as ``nobody``: connect to ``path``, ask ``GET /status`` and
    report ``{connected, response | error}``."""
    import socket as pysocket

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no pytest machinery, just the probe
        out: dict = {}
        try:
            os.close(read_end)
            _as_nobody()
            s = pysocket.socket(pysocket.AF_UNIX, pysocket.SOCK_STREAM)
            s.settimeout(5)
            try:
                s.connect(path)
                out["connected"] = True
                s.sendall(b"GET /status HTTP/1.1\r\nHost: supervisor\r\nConnection: close\r\n\r\n")
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                out["response"] = data.decode(errors="replace")
            except Exception as e:  # noqa: BLE001
                out["error"] = repr(e)
        finally:
            os.write(write_end, json.dumps(out).encode())
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        text = f.read().decode()
    os.waitpid(pid, 0)
    return json.loads(text)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another uid")
def test_a_peer_of_another_uid_gets_no_status(fleet2: Fleet) -> None:
    sock = str(fleet2.control_socket)
    # As created: mode 0600 (and a private run dir) → cannot even connect.
    probe = _probe_as_nobody(sock)
    assert "response" not in probe and "Permission denied" in probe.get("error", ""), probe
    # Even when the file permissions let it in, SO_PEERCRED refuses the other uid.
    public = Path(tempfile.mkdtemp(prefix="jbai-peer-"))
    try:
        public.chmod(0o755)
        link = public / "supervisor.sock"
        os.link(sock, link)  # same socket inode, reachable by nobody
        os.chmod(link, 0o666)
        probe = _probe_as_nobody(str(link))
        assert probe.get("connected"), probe
        assert "tenants" not in probe.get("response", "") and " 200 " not in probe.get("response", ""), probe
        t0 = time.monotonic()
        code, out, err = run_ctl("status", "--json", "--socket", str(link), preexec_fn=_as_nobody)
        print(f"\nctl as nobody: exit {code} after {time.monotonic() - t0:.1f}s: {err.strip()}")
        assert code != 0 and "tenants" not in out, (code, out, err)
        # The owner still gets through the same path.
        code, out, err = run_ctl("status", "--json", "--socket", str(link))
        assert code == 0 and json.loads(out)["tenants"], (code, out, err)
    finally:
        os.chmod(sock, 0o600)
        shutil.rmtree(public, ignore_errors=True)
    assert fleet2.status()["tenants"]["alpha"]["state"] == "running"


# --------------------------------------------------------------------------- changing tenants


def test_health_exit_codes_follow_the_fleet_state(make_fleet) -> None:
    fleet = make_fleet({"alpha": tenant("alpha"), "beta": tenant("beta")})
    fleet.wait_health("ok")
    assert fleet.ctl("health")[0] == 0
    code, out, err = fleet.ctl("stop", "beta")
    assert code == 0 and "beta" in out, (out, err)
    fleet.wait_state("beta", "stopped")
    code, out, err = fleet.ctl("health")
    assert code == 4, (code, out, err)
    assert out.startswith("fleet degraded: 1/2"), out
    code, out, err = fleet.ctl("stop", "alpha")
    assert code == 0
    fleet.wait_state("alpha", "stopped")
    code, out, err = fleet.ctl("health")
    assert code == 5, (code, out, err)
    assert out.startswith("fleet down: 0/2"), out
    code, out, err = fleet.ctl("health", "--json")
    assert code == 5 and json.loads(out)["status"] == "down"
    code, out, err = fleet.ctl("start")
    assert code == 0, (out, err)
    fleet.wait_running()
    fleet.wait_health("ok")
    assert fleet.ctl("health")[0] == 0


def test_restart_one_tenant_gives_a_new_pid_without_a_failed_request(make_fleet) -> None:
    fleet = make_fleet({"alpha": tenant("alpha"), "beta": tenant("beta")})
    before = {n: t["pid"] for n, t in fleet.status()["tenants"].items()}
    with fleet.hammer("alpha") as hammer, fleet.hammer("beta") as other:
        hammer.wait_successes(10)
        t0 = time.monotonic()
        code, out, err = fleet.ctl("restart", "alpha")
        assert code == 0 and "alpha" in out, (out, err)
        entry = fleet.wait_new_pid("alpha", before["alpha"])
        wait_until(lambda: before["alpha"] not in fleet.worker_pids(), timeout=15, message="old alpha worker drained")
        hammer.wait_successes(10, since=time.monotonic())
        other.wait_successes(3, since=t0)
    print(f"\n{hammer.summary()}\n{other.summary()}")
    assert not other.failures, other.summary()
    assert fleet.pid("beta") == before["beta"]
    assert fleet.complete("alpha").status_code == 200
    check_replacement_requests(fleet, [hammer], ["alpha"])
    assert entry["restarts"] == 0, f"a requested restart is not a crash: {entry}"


def test_stop_and_start_one_tenant(make_fleet) -> None:
    fleet = make_fleet({"alpha": tenant("alpha"), "beta": tenant("beta")})
    before = {n: t["pid"] for n, t in fleet.status()["tenants"].items()}
    url = fleet.tenant_url("alpha")

    # stop: drained, stopped, no pid; the other tenant is untouched.
    code, out, err = fleet.ctl("stop", "alpha")
    assert code == 0 and "alpha" in out, (out, err)
    entry = fleet.wait_state("alpha", "stopped")
    assert entry["pid"] is None
    wait_until(lambda: before["alpha"] not in fleet.worker_pids(), timeout=10)
    assert fleet.complete("beta").status_code == 200
    assert fleet.pid("beta") == before["beta"]
    code, out, err = fleet.ctl("status")
    assert "STOPPED" in out, out
    code, out, err = fleet.ctl("stop", "alpha")
    assert code == 0 and "stopped" in out, (out, err)

    # start: running again on the same address.
    code, out, err = fleet.ctl("start", "alpha")
    assert code == 0 and "alpha" in out, (out, err)
    entry = fleet.wait_state("alpha", "running")
    assert entry["pid"] not in (None, before["alpha"])
    assert entry["restarts"] == 0, entry
    assert fleet.tenant_url("alpha") == url
    assert fleet.complete("alpha").status_code == 200
    # Starting a running tenant is fine and changes nothing.
    code, out, err = fleet.ctl("start", "alpha")
    assert code == 0 and "already" in out, (out, err)
    assert fleet.pid("alpha") == entry["pid"]
    # The control socket's JSON API answers the same commands.
    response = fleet.control("POST", "/tenants/nosuch/stop")
    assert response.status_code == 404 and response.json()["ok"] is False
    response = fleet.control("GET", "/tenants/alpha/logs", params={"lines": "5"})
    assert response.status_code == 200 and len(response.json()["lines"]) == 5
    response = fleet.control("POST", "/tenants/*/stop")
    assert response.status_code == 200 and response.json()["ok"], response.text
    for name in ("alpha", "beta"):
        fleet.wait_state(name, "stopped")


def test_repeated_restarts_under_heavy_load_fail_no_request(make_fleet, simulator) -> None:
    """`ctl restart` made likely to hit the replacement races: three hammers without a pause, up
    to eight restarts, stopping at the first failed request or crashed worker."""
    give_unlimited_quota(simulator, secret_jwt("alpha1"))
    fleet = make_fleet({"alpha": tenant("alpha")})
    hammers = [fleet.hammer("alpha", pause=0.0) for _ in range(3)]
    for h in hammers:
        h.start()
    try:
        for h in hammers:
            h.wait_successes(3)
        for cycle in range(8):
            old = fleet.pid("alpha")
            code, out, err = fleet.ctl("restart", "alpha")
            assert code == 0, (out, err)
            fleet.wait_new_pid("alpha", old)
            wait_until(lambda: old not in fleet.worker_pids(), timeout=15, message="old worker drained")
            if any(h.failures for h in hammers) or fleet.tenant("alpha")["restarts"]:
                break
    finally:
        for h in hammers:
            h.stop()
    report = "\n".join(h.summary() for h in hammers)
    print(f"\nafter {cycle + 1} restart(s):\n{report}")
    assert NIO_ACCEPT_ASSERT not in fleet.all_log_text(), f"a worker hit the NIO accept assertion\n{report}"
    assert fleet.tenant("alpha")["restarts"] == 0, f"a worker crashed\n{report}"
    assert not any(h.failures for h in hammers), report
