"""``Type=notify``: the supervisor's sd_notify messages, to a fake ``NOTIFY_SOCKET``.

A Python datagram socket stands in for systemd (a path, and a socket in the abstract
namespace written as ``@name``). READY=1 must come once the supervisor serves (its health
endpoint answers), WATCHDOG=1 only when ``WATCHDOG_USEC`` asks for it (at about half the
interval), STOPPING=1 when SIGTERM starts the drain; the workers do not inherit the socket.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

from harness import binary
from supervisor_harness import make_fleet, tenant  # noqa: F401  (fixture)


class FakeSystemd:
    """A bound AF_UNIX datagram socket collecting notification messages."""

    def __init__(self, abstract: bool) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"jbai-test-notify-{os.getpid()}-{time.monotonic_ns()}"
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            self.dir = tempfile.mkdtemp(prefix="jbai-notify-")  # short: sun_path has 108 bytes
            self.address = os.path.join(self.dir, "notify.sock")
            self.sock.bind(self.address)
        self.messages: list[tuple[float, str]] = []

    def arrivals(self, wanted: str) -> list[float]:
        return [at for at, message in self.messages if wanted in message.splitlines()]

    def receive_until(self, wanted: str, timeout: float, count: int = 1) -> float:
        """Reads messages until ``count`` of them have the line ``wanted``; returns when the
        last of those arrived."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.arrivals(wanted)
            if len(found) >= count:
                return found[count - 1]
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {wanted} within {timeout}s; got {[m for _, m in self.messages]}")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            self.messages.append((time.monotonic(), data.decode()))

    def lines(self) -> list[str]:
        return [line for _, message in self.messages for line in message.splitlines()]

    def close(self) -> None:
        self.sock.close()
        if hasattr(self, "dir"):
            with_suffix = Path(self.address)
            if with_suffix.exists():
                with_suffix.unlink()
            os.rmdir(self.dir)


@pytest.fixture(params=["path", "abstract"])
def fake_systemd(request) -> Iterator[FakeSystemd]:
    fake = FakeSystemd(abstract=request.param == "abstract")
    yield fake
    fake.close()


def test_ready_after_serving_and_stopping_on_sigterm(make_fleet, fake_systemd: FakeSystemd) -> None:
    fleet = make_fleet({"alpha": tenant("alpha")}, start=False)
    fleet.start(env={"NOTIFY_SOCKET": fake_systemd.address, "WATCHDOG_USEC": None, "WATCHDOG_PID": None})
    fake_systemd.receive_until("READY=1", timeout=20)
    # Ready means serving: the health endpoint answers right away.
    assert fleet.health().status_code == 200
    ready = next(m for _, m in fake_systemd.messages if "READY=1" in m.splitlines())
    assert f"MAINPID={fleet.proc.pid}" in ready.splitlines()
    assert "STOPPING=1" not in fake_systemd.lines()
    # Workers do not see the socket (they are not the service systemd watches).
    for pid in fleet.worker_pids():
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert not [v for v in environ if v.startswith(b"NOTIFY_SOCKET=")]
    # The rendered unit's ExecReload reloads this supervisor (what `systemctl reload` runs).
    unit = subprocess.run([str(binary("jetbrains-ai-supervisor")), "render", "systemd", str(fleet.path),
                           "--binary-dir", str(binary("jetbrains-ai-supervisor").parent)],
                          capture_output=True, text=True, timeout=30, check=True).stdout
    (reload_line,) = [line for line in unit.splitlines() if line.startswith("ExecReload=")]
    reloaded = subprocess.run(shlex.split(reload_line.removeprefix("ExecReload=")), capture_output=True, text=True,
                              timeout=60, cwd=fleet.dir)
    assert reloaded.returncode == 0, reloaded.stdout + reloaded.stderr
    assert "alpha" in reloaded.stdout
    fleet.proc.send_signal(signal.SIGTERM)
    fake_systemd.receive_until("STOPPING=1", timeout=10)
    assert fleet.proc.wait(timeout=20) == 0
    assert "WATCHDOG=1" not in fake_systemd.lines(), "no WATCHDOG_USEC, no watchdog pings"
    assert fake_systemd.lines().count("READY=1") == 1


def test_watchdog_pings_at_half_the_interval(make_fleet) -> None:
    fake = FakeSystemd(abstract=False)
    try:
        fleet = make_fleet({"alpha": tenant("alpha")}, start=False)
        # A 400 ms watchdog: a ping about every 200 ms.
        fleet.start(env={"NOTIFY_SOCKET": fake.address, "WATCHDOG_USEC": "400000", "WATCHDOG_PID": None})
        fake.receive_until("READY=1", timeout=20)
        fake.receive_until("WATCHDOG=1", timeout=10, count=8)
        pings = fake.arrivals("WATCHDOG=1")[2:]  # the first ones may queue up behind start-up
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        average = sum(gaps) / len(gaps)
        assert 0.12 < average < 0.3, f"pings every {average:.3f}s, expected about 0.2s"
        fleet.close()
    finally:
        fake.close()


def test_no_watchdog_pings_when_watchdog_pid_is_someone_else(make_fleet) -> None:
    fake = FakeSystemd(abstract=True)
    try:
        fleet = make_fleet({"beta": tenant("beta")}, start=False)
        fleet.start(env={"NOTIFY_SOCKET": fake.address, "WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"})
        fake.receive_until("READY=1", timeout=20)
        # Ten would-be intervals with nothing: the watchdog is not ours.
        with pytest.raises(AssertionError, match="no WATCHDOG=1"):
            fake.receive_until("WATCHDOG=1", timeout=1.0)
        fleet.proc.send_signal(signal.SIGTERM)
        fake.receive_until("STOPPING=1", timeout=10)
    finally:
        fake.close()
