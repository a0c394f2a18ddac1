"""Bad input and hostile conditions around the supervisor (issue 11, "found by probing"): a huge
invalid reload, a second ``run``, files where sockets go, socket path lengths, absurd
intervals, descriptors a worker inherits, log files and folders, the worker control socket's
peer check, control characters in messages, fingerprints, ``ctl logs -n``."""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
import socket
import stat
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
import yaml

from harness import Proc, binary, free_port, wait_until
from supervisor_harness import (
    SUPERVISOR_BINARY,
    BackgroundStream,
    Fleet,
    make_fleet,  # noqa: F401 - fixture
    secret_jwt,
    tenant,
)
from worker_harness import fingerprint


def _check(path: Path, tmp_path: Path) -> tuple[int, str, str]:
    done = Proc(binary(SUPERVISOR_BINARY), ["check", str(path)], log_dir=tmp_path / "proc")
    code = done.wait(timeout=30)
    return code, done.stdout_text(), done.stderr_text()


def _run_once(path: Path, tmp_path: Path, timeout: float = 30) -> tuple[int, str]:
    """``run FILE`` expected to exit on its own: (exit code, stderr)."""
    done = Proc(binary(SUPERVISOR_BINARY), ["run", str(path)], cwd=path.parent, log_dir=tmp_path / "proc")
    code = done.wait(timeout=timeout)
    return code, done.stderr_text()


@contextlib.contextmanager
def _soft_nofile(soft: int) -> Iterator[None]:
    """Children started inside get a soft RLIMIT_NOFILE of ``soft`` (the hard one unchanged)."""
    old = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, old[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, old)


@contextlib.contextmanager
def _umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def _limits(pid: int) -> tuple[int, int]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no 'Max open files' line")


# --------------------------------------------------------------------------- a huge invalid reload


def _big_invalid_document(fleet: Fleet, extra: int) -> str:
    """The fleet's file plus ``extra`` tenants, and a port clash in the last two."""
    text = yaml.safe_dump(fleet.doc, sort_keys=False)
    clash = free_port()
    lines = [text.rstrip("\n")]
    for i in range(extra):
        lines.append(f"  bulk{i}: {{listen: '127.0.0.1:0', api_keys: [k{i}], tokens: [{{name: t, jwt: j{i}}}]}}")
    lines.append(f"  clash-a: {{listen: '127.0.0.1:{clash}', api_keys: [ka], tokens: [{{name: t, jwt: ja}}]}}")
    lines.append(f"  clash-b: {{listen: '127.0.0.1:{clash}', api_keys: [kb], tokens: [{{name: t, jwt: jb}}]}}")
    return "\n".join(lines) + "\n"


def test_a_huge_invalid_reload_stalls_nothing_and_restarts_no_worker(make_fleet) -> None:
    # Heartbeats every 200 ms, a worker is hung after 2 s without an answer: a supervisor that
    # stopped listening for longer than that while it read the file would kill its workers.
    fleet = make_fleet({"alpha": tenant("alpha")})
    before = fleet.tenant("alpha")
    fleet.write_text(_big_invalid_document(fleet, 6_000))
    assert fleet.path.stat().st_size > 500_000
    reader = BackgroundStream(fleet.tenant_url("alpha"), fleet.key("alpha"), "[[chunks=25]][[delay_ms=300]] slow")
    assert reader.first_chunk.wait(10)

    report: dict[str, Any] = {}

    def reload() -> None:
        report["started"] = time.monotonic()
        report["status"], report["body"] = fleet.reload()
        report["ended"] = time.monotonic()

    thread = threading.Thread(target=reload, daemon=True)
    thread.start()
    # While it reads: /health answers, fast, every time.
    slowest = 0.0
    answers = 0
    while thread.is_alive() or answers < 5:
        t0 = time.monotonic()
        response = fleet.health(timeout=1.5)
        slowest = max(slowest, time.monotonic() - t0)
        assert response.status_code == 200, response.text
        answers += 1
        time.sleep(0.1)
    thread.join(5)
    took = report["ended"] - report["started"]
    print(f"reload took {took:.2f}s; /health answered {answers} times, slowest {slowest * 1000:.0f} ms")
    assert report["status"] != 200 or not report["body"]["ok"], report
    assert not report["body"]["ok"]
    assert any("is already used by tenants.clash-a" in e for e in report["body"]["errors"]), report["body"]["errors"][:3]
    assert slowest < 1.0
    result = reader.join(30)
    assert "error" not in result, result
    assert result["status"] == 200 and result["chunks"][-1] == "[DONE]", result
    after = fleet.tenant("alpha")
    assert after["pid"] == before["pid"] and after["restarts"] == 0, (before, after)
    assert "hung" not in fleet.stderr()


def test_a_fleet_file_over_16_mib_is_refused_with_a_clear_error(make_fleet) -> None:
    fleet = make_fleet({"alpha": tenant("alpha")})
    pid = fleet.pid("alpha")
    with open(fleet.path, "ab") as f:
        f.truncate(16 * 1024 * 1024 + 1)
    t0 = time.monotonic()
    status, report = fleet.reload()
    assert time.monotonic() - t0 < 5
    assert not report["ok"], report
    assert report["errors"] == [f"{fleet.path}:1:1: the fleet file is 16777217 bytes; fleet files are limited to 16MiB (16777216 bytes)"]
    assert fleet.pid("alpha") == pid


# --------------------------------------------------------------------------- descriptors


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs prlimit (util-linux; .ci/run installs it)")
def test_both_programs_raise_their_soft_open_file_limit_to_the_hard_one(make_fleet, tmp_path: Path) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard <= 1024:
        pytest.skip(f"the hard open-file limit is {hard}: nothing to raise to")
    fleet = make_fleet({"alpha": tenant("alpha")}, start=False)
    with _soft_nofile(256):
        fleet.start()
    assert _limits(fleet.proc.pid)[0] == _limits(fleet.proc.pid)[1] != 256
    worker = fleet.pid("alpha")
    assert _limits(worker)[0] == _limits(worker)[1]
    # A worker started on its own (not inheriting the supervisor's limit) raises it too.
    proc = Proc(
        "prlimit",
        ["--nofile=256:4096", str(binary("jetbrains-ai-proxy")), "-c", secret_jwt("x"), "-k", "k" * 20,
         "-h", "127.0.0.1", "-p", "0", "--upstream", fleet.upstream],
        env={"LOG_LEVEL": "debug", "HOME": str(tmp_path)}, cwd=tmp_path, log_dir=tmp_path / "solo", name="solo",
    )
    try:
        proc.wait_for_line(re.compile(r"open file limit raised from 256 to 4096"), timeout=20)
        assert _limits(proc.pid) == (4096, 4096)
    finally:
        proc.terminate(timeout=10)


def test_a_worker_inherits_no_descriptor_of_another_worker(make_fleet) -> None:
    fleet = make_fleet({"alpha": tenant("alpha"), "beta": tenant("beta")})
    alpha, beta = fleet.pid("alpha"), fleet.pid("beta")

    def pipes(pid: int) -> dict[int, str]:
        out = {}
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(FileNotFoundError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith(("pipe:", "socket:")):
                    out[int(fd)] = target
        return out

    mine = {fd: t for fd, t in pipes(beta).items() if fd > 3}
    others = set(pipes(alpha).values())
    shared = {fd: t for fd, t in mine.items() if t in others}
    assert not shared, f"beta (pid {beta}) holds descriptors of alpha's (pid {alpha}): {shared}"
    # Beyond stdin/stdout/stderr and the listener, nothing of the supervisor's either.
    supervisor = set(pipes(fleet.proc.pid).values())
    leaked = {fd: t for fd, t in mine.items() if t in supervisor}
    assert not leaked, f"beta holds the supervisor's descriptors: {leaked}"


# --------------------------------------------------------------------------- one supervisor per file


def test_a_second_run_on_the_same_file_refuses_and_touches_nothing(make_fleet, tmp_path: Path) -> None:
    fleet = make_fleet({"alpha": tenant("alpha")})
    pid = fleet.pid("alpha")
    code, err = _run_once(fleet.path, tmp_path)
    assert code != 0, err
    assert f"another supervisor (pid {fleet.proc.pid}) is already running" in err, err
    assert stat.S_ISSOCK(fleet.control_socket.stat().st_mode)
    code, out, err = fleet.ctl("status")
    assert code == 0 and "alpha" in out, (out, err)
    assert fleet.pid("alpha") == pid and fleet.proc.is_running()


def test_a_control_socket_in_use_by_another_supervisor_is_not_stolen(make_fleet, tmp_path: Path) -> None:
    first = make_fleet({"alpha": tenant("alpha")})
    # Another file, another run_dir, the same control socket.
    second = make_fleet(
        {"beta": tenant("beta")}, start=False, name="other",
        supervisor={"control_socket": str(first.control_socket), "run_dir": "run2"},
    )
    code, err = _run_once(second.path, tmp_path)
    assert code != 0, err
    assert "is in use: another process listens on it" in err, err
    code, out, _ = first.ctl("status")
    assert code == 0 and "alpha" in out


# --------------------------------------------------------------------------- files where sockets go


def test_a_control_socket_naming_a_regular_file_is_refused_and_the_file_kept(make_fleet, tmp_path: Path) -> None:
    fleet = make_fleet({"alpha": tenant("alpha")}, start=False, supervisor={"control_socket": "fleet.yaml"})
    content = fleet.path.read_bytes()
    code, _, err = _check(fleet.path, tmp_path)
    assert code == 1, err
    assert re.search(rf"{re.escape(str(fleet.path))}:\d+:\d+: supervisor.control_socket: control_socket '{re.escape(str(fleet.path))}' "
                     r"exists and is a regular file, not a socket", err), err
    code, err = _run_once(fleet.path, tmp_path)
    assert code == 1, err
    assert fleet.path.read_bytes() == content


def test_a_file_where_a_worker_socket_goes_is_kept(make_fleet) -> None:
    fleet = make_fleet({"alpha": tenant("alpha")}, start=False)
    fleet.run_dir.mkdir(parents=True, exist_ok=True)
    precious = fleet.run_dir / "alpha.1.sock"
    precious.write_text("not a socket")
    fleet.start()  # generation 1 cannot start; the restart (generation 2) can
    assert precious.read_text() == "not a socket"
    assert "exists and is a regular file, not a socket" in fleet.stderr()


# --------------------------------------------------------------------------- socket path lengths


def test_check_refuses_a_run_dir_too_long_for_worker_sockets(tmp_path: Path) -> None:
    run_dir = tmp_path / ("r" * max(1, 100 - len(str(tmp_path))))
    fleet = Fleet(tmp_path / "f", "http://127.0.0.1:9", {"alpha": tenant("alpha")}, supervisor={"run_dir": str(run_dir)})
    code, _, err = _check(fleet.path, tmp_path)
    assert code == 1, err
    assert "is too long for worker control sockets: tenant 'alpha' needs" in err and "limited to 107 bytes" in err, err


def test_a_worker_that_cannot_bind_its_control_socket_exits_non_zero(tmp_path: Path) -> None:
    long_socket = tmp_path / ("s" * 120 + ".sock")
    proc = Proc(
        binary("jetbrains-ai-proxy"),
        ["-c", secret_jwt("x"), "-k", "k" * 20, "-h", "127.0.0.1", "-p", "0", "--upstream", "http://127.0.0.1:9",
         "--control-socket", str(long_socket)],
        env={"HOME": str(tmp_path)}, cwd=tmp_path, log_dir=tmp_path / "solo", name="solo",
    )
    code = proc.wait(timeout=30)
    assert code not in (0, None), proc.describe()


# --------------------------------------------------------------------------- intervals


def test_check_refuses_an_absurdly_short_health_check_interval(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path, "http://127.0.0.1:9", {"alpha": tenant("alpha", health_check_interval="1ms")})
    code, _, err = _check(fleet.path, tmp_path)
    assert code == 1, err
    assert re.search(rf"{re.escape(str(fleet.path))}:\d+:\d+: tenants.alpha.health_check_interval: must be at least 250ms, found '1ms'", err), err


# --------------------------------------------------------------------------- logs and folders


def test_log_files_are_not_opened_through_symlinks_and_folders_get_explicit_modes(make_fleet, tmp_path: Path) -> None:
    fleet = make_fleet({"alpha": tenant("alpha")}, start=False)
    fleet.log_dir.mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("")
    (fleet.log_dir / "alpha.log").symlink_to(victim)
    with _umask(0):
        fleet.start()
    fleet.complete("alpha")
    assert victim.read_text() == ""
    assert "cannot open the log file" in fleet.stderr() and "symbolic link" in fleet.stderr()
    assert stat.S_IMODE(fleet.run_dir.stat().st_mode) == 0o700


def test_a_log_dir_created_under_umask_000_is_0750(make_fleet) -> None:
    fleet = make_fleet({"alpha": tenant("alpha")}, start=False, supervisor={"log_dir": "logs/deeper"})
    with _umask(0):
        fleet.start()
    assert stat.S_IMODE((fleet.dir / "logs" / "deeper").stat().st_mode) == 0o750
    assert stat.S_IMODE((fleet.dir / "logs").stat().st_mode) == 0o750


@pytest.mark.parametrize("log_dir,fragment", [
    ("/dev/null", "log_dir '/dev/null' is a device, not a folder"),
    ("/proc", "log_dir '/proc' is on a proc file system"),
])
def test_check_refuses_a_log_dir_that_cannot_hold_logs(tmp_path: Path, log_dir: str, fragment: str) -> None:
    fleet = Fleet(tmp_path, "http://127.0.0.1:9", {"alpha": tenant("alpha")}, supervisor={"log_dir": log_dir})
    code, _, err = _check(fleet.path, tmp_path)
    assert code == 1, err
    assert fragment in err and "NSCocoaErrorDomain" not in err, err


# --------------------------------------------------------------------------- the worker control socket


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to connect as another user")
def test_the_worker_control_socket_refuses_another_user(make_fleet) -> None:
    fleet = make_fleet({"alpha": tenant("alpha")})
    sockets = sorted(fleet.run_dir.glob("alpha.*.sock"))
    assert sockets, list(fleet.run_dir.iterdir())
    path = sockets[-1]
    # File permissions keep others out already; open them up to see the peer check itself.
    opened: list[tuple[Path, int]] = []
    for folder in path.parents:
        mode = stat.S_IMODE(folder.stat().st_mode)
        if not mode & 0o001:
            opened.append((folder, mode))
            os.chmod(folder, mode | 0o001)
    os.chmod(path, 0o666)
    probe = (
        "import os, socket\n"
        "os.setgid(65534); os.setuid(65534)\n"
        f"s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect({str(path)!r})\n"
        "data = b''\n"
        "try:\n"
        "    s.sendall(b'GET /health HTTP/1.1\\r\\nHost: w\\r\\nConnection: close\\r\\n\\r\\n')\n"
        "    while True:\n"
        "        chunk = s.recv(65536)\n"
        "        if not chunk: break\n"
        "        data += chunk\n"
        "except OSError as e:\n"
        "    print('closed:', e)\n"
        "print(repr(data[:40]))\n"
    )
    try:
        done = subprocess.run(["python3", "-c", probe], capture_output=True, text=True, timeout=20)
    finally:
        for folder, mode in opened:
            os.chmod(folder, mode)
    assert done.returncode == 0, done.stderr
    assert "HTTP/1.1" not in done.stdout, f"another uid was answered: {done.stdout}"
    # Our own uid still is.
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(path)), base_url="http://w", timeout=5) as client:
        assert client.get("/health").status_code == 200


# --------------------------------------------------------------------------- messages and fingerprints


def test_check_escapes_control_characters_in_tenant_names(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(
        'version: 1\nsupervisor: {listen: "127.0.0.1:0"}\ntenants:\n'
        '  "evil\\e[2J\\e[31mname": {listen: ":0", api_keys: [k], tokens: [{name: t, jwt: j}]}\n'
    )
    code, out, err = _check(path, tmp_path)
    assert code == 1
    assert "\x1b" not in out + err, repr(err)
    assert r"evil\u{1B}[2J\u{1B}[31mname" in err, err


def test_fingerprints_tell_jwts_with_the_same_header_apart(make_fleet) -> None:
    a = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlLWE"
    b = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJiIn0.c2lnbmF0dXJlLWI"
    fleet = make_fleet({"alpha": tenant("alpha", jwts=0) | {"tokens": [{"name": "a", "jwt": a}, {"name": "b", "jwt": b}]}})
    tokens = {t["name"]: t["fingerprint"] for t in fleet.tenant("alpha")["tokens"]}
    assert tokens == {"a": fingerprint(a), "b": fingerprint(b)}
    assert tokens["a"] != tokens["b"] and tokens["a"].startswith("eyJhbGciOi...#")


def test_ctl_logs_takes_dash_n(make_fleet) -> None:
    fleet = make_fleet({"alpha": tenant("alpha")})
    for _ in range(3):
        fleet.complete("alpha")
    wait_until(lambda: len(fleet.ctl("logs", "alpha", "-l", "50")[1].splitlines()) >= 3, timeout=10)
    code, out, err = fleet.ctl("logs", "alpha", "-n", "2")
    assert code == 0, err
    assert len(out.splitlines()) == 2, out
    code, out, err = fleet.ctl("logs", "alpha", "--lines", "1")
    assert code == 0 and len(out.splitlines()) == 1, (out, err)


# --------------------------------------------------------------------------- a flood of idle connections


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs prlimit (util-linux; .ci/run installs it)")
def test_a_flood_of_idle_connections_never_exhausts_a_workers_descriptors(simulator, tmp_path: Path) -> None:
    """With its descriptors exhausted a worker used to refuse everything (its control socket
    too) and could die: libdispatch traps (SIGILL) when its thread monitor cannot open /proc.
    Now accepting stops while fewer than the reserve (64 of 256 here) are free: held
    connections wait in the backlog, heartbeats and requests go on, and all is well after."""
    limit = 256
    control = tmp_path / "w.sock"
    key = "k" * 20
    proc = Proc(
        "prlimit",
        [f"--nofile={limit}:{limit}", str(binary("jetbrains-ai-proxy")), "-c", secret_jwt("x"), "-k", key,
         "-h", "127.0.0.1", "-p", "0", "--upstream", simulator.url, "--control-socket", str(control)],
        env={"HOME": str(tmp_path)}, cwd=tmp_path, log_dir=tmp_path / "solo", name="solo",
    )
    try:
        port = int(proc.wait_for_line(re.compile(r"Server starting on 127\.0\.0\.1:(\d+)"), timeout=20).group(1))
        wait_until(lambda: control.exists(), timeout=10)
        uds = httpx.Client(transport=httpx.HTTPTransport(uds=str(control)), base_url="http://w", timeout=5)
        most = 0
        for _round in range(3):
            held = []
            for _ in range(limit * 2):
                with contextlib.suppress(OSError):
                    held.append(socket.create_connection(("127.0.0.1", port), timeout=1))
            for _ in range(10):
                most = max(most, len(os.listdir(f"/proc/{proc.pid}/fd")))
                assert uds.get("/health").status_code == 200, "the control socket must keep answering"
                time.sleep(0.1)
            for s in held:
                s.close()
            assert proc.is_running(), proc.describe()
        print(f"most descriptors open during the flood: {most} of {limit}")
        assert most <= limit - 32, most
        assert "file descriptors nearly exhausted" in proc.output()
        response = httpx.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": f"Bearer {key}"}, timeout=10,
        )
        assert response.status_code == 200, response.text
        uds.close()
    finally:
        proc.terminate(timeout=10)
