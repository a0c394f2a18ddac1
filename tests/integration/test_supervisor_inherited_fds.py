"""A worker the supervisor starts inherits none of the supervisor's connections.

NIO accepts without close-on-exec, so before the spawner closed every fd past the listener,
a worker started while a control-socket (or /health) connection was open kept a copy of it: the
supervisor's 408 and close after ``header_timeout`` never reached the client, which stayed
connected as long as that worker ran. Found by the chaos run's hostile control calls."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from supervisor_harness import running_fleet, tenant

#: The control socket's own header timeout (ConnectionLimits.controlSocket).
CONTROL_HEADER_TIMEOUT = 5.0


def read_until_closed(s: socket.socket, limit: float) -> tuple[bytes, bool, float]:
    """What the server sent, whether it closed within ``limit`` seconds, and when."""
    start = time.monotonic()
    data = b""
    while True:
        left = limit - (time.monotonic() - start)
        if left <= 0:
            return data, False, time.monotonic() - start
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except TimeoutError:
            return data, False, time.monotonic() - start
        except ConnectionResetError:
            return data, True, time.monotonic() - start
        if not chunk:
            return data, True, time.monotonic() - start
        data += chunk


def socket_inodes(pid: int) -> set[str]:
    out = set()
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if target.startswith("socket:"):
            out.add(target)
    return out


def test_a_worker_started_while_a_control_connection_is_open_does_not_keep_it(tmp_path: Path) -> None:
    with running_fleet(tmp_path, {"alpha": tenant("alpha")}) as (fleet, _sim):
        fleet.wait_running()
        old = fleet.pid("alpha")
        assert old
        slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        slow.connect(str(fleet.control_socket))
        started = time.monotonic()
        slow.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\nX-Slo")
        sup_before = socket_inodes(fleet.proc.pid)
        code, out, err = fleet.ctl("restart", "alpha")
        assert code == 0, (out, err)
        fleet.wait_new_pid("alpha", old)
        new = fleet.pid("alpha")
        assert new and new != old
        # The new worker holds no socket the supervisor had open (its listener is fd 3, a dup
        # of the supervisor's, so compare everything past it).
        worker_sockets = {
            os.readlink(f"/proc/{new}/fd/{n}") for n in os.listdir(f"/proc/{new}/fd") if int(n) > 3
        }
        listener = os.readlink(f"/proc/{new}/fd/3")
        inherited = worker_sockets & (sup_before - {listener})
        assert not inherited, f"the worker inherited {len(inherited)} of the supervisor's sockets: {sorted(inherited)}"
        raw, closed, _ = read_until_closed(slow, CONTROL_HEADER_TIMEOUT + 5)
        took = time.monotonic() - started
        slow.close()
        assert raw.startswith(b"HTTP/1.1 408"), raw[:200]
        assert closed, f"the control connection was still open {took:.1f}s after its 408"
        assert took < CONTROL_HEADER_TIMEOUT + 4, took
