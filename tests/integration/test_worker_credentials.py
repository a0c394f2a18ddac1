"""The worker's credentials against the simulator: license states, refresh-token licenses
(exchange, rotation saved under ``state_dir``, the saved token preferred at the next start,
a new token in the fleet file winning), and ``outbound_proxy``.

The simulator of this branch has no OAuth endpoint yet, so the JetBrains Account is played by
``AccountStandIn`` below (an ``http.server`` on port 0, written from the protocol page): it
rotates refresh tokens when asked to and answers a rotated-out one with 400 ``invalid_grant``.
Every id token it issues is the one the simulator's license takes as its ``authorization``.
``ConnectProxy`` is a tiny HTTP CONNECT proxy that records what it tunnelled.
"""

from __future__ import annotations

import base64
import json
import select
import socket
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs

import pytest

from harness import wait_until
from worker_harness import fleet_document, jwt_name, sim, start_sim, start_worker  # noqa: F401 - fixtures

LICENSE = "L-refresh-license-0123456789"
ID_TOKEN = "id-token-for-the-license-0123456789"
CONFIGURED = "rt-configured-secret-0123456789"


# --------------------------------------------------------------------------- stand-ins


class AccountStandIn:
    """``POST /api/rest/oauth2/token`` (form ``grant_type=refresh_token&refresh_token=…&client_id=ide``)."""

    def __init__(self, live: set[str], *, rotate: bool = True, expires_in: Any = 3600, id_token: str = ID_TOKEN):
        self.live = set(live)
        self.rotate = rotate
        self.expires_in = expires_in
        self.id_token = id_token
        self.requests: list[dict[str, Any]] = []
        self.serial = 0
        self.lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                status, answer = stand_in.answer(self.path, dict(self.headers), body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, path: str, headers: dict[str, str], body: str) -> tuple[int, dict[str, Any]]:
        form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
        with self.lock:
            self.requests.append({"path": path, "headers": {k.lower(): v for k, v in headers.items()}, "form": form})
            if path != "/api/rest/oauth2/token":
                return 404, {"error": "not_found"}
            if form.get("grant_type") != "refresh_token" or form.get("client_id") != "ide":
                return 400, {"error": "unsupported_grant_type"}
            token = form.get("refresh_token", "")
            if token not in self.live:
                return 400, {"error": "invalid_grant", "error_description": "refresh token is not valid"}
            self.serial += 1
            answer: dict[str, Any] = {
                "id_token": self.id_token,
                "access_token": "access-" + str(self.serial),
                "token_type": "Bearer",
                "expires_in": self.expires_in,
                "scope": "openid offline_access",
            }
            if self.rotate:
                new = f"rt-rotated-{self.serial}-0123456789"
                self.live.discard(token)
                self.live.add(new)
                answer["refresh_token"] = new
            return 200, answer

    def presented(self) -> list[str]:
        with self.lock:
            return [r["form"].get("refresh_token", "") for r in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ConnectProxy:
    """Accepts ``CONNECT host:port``, checks ``Proxy-Authorization`` when ``credentials`` is
    set, and pipes bytes both ways. Records each CONNECT's target and authorization."""

    def __init__(self, credentials: tuple[str, str] | None = None):
        self.credentials = credentials
        self.connects: list[dict[str, str | None]] = []
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            header_text, _, rest = head.partition(b"\r\n\r\n")
            lines = header_text.decode("latin-1").split("\r\n")
            method, target, _version = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
            authorization = headers.get("proxy-authorization")
            self.connects.append({"method": method, "target": target, "authorization": authorization})
            if method != "CONNECT":
                client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            if self.credentials is not None:
                expected = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
                if authorization != expected:
                    client.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
                    return
            host, _, port = target.rpartition(":")
            if host not in ("127.0.0.1", "localhost", "[::1]"):
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            with socket.create_connection((host.strip("[]"), int(port))) as upstream:
                client.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                if rest:
                    upstream.sendall(rest)
                sockets = [client, upstream]
                while True:
                    readable, _, _ = select.select(sockets, [], [], 30)
                    if not readable:
                        return
                    for s in readable:
                        data = s.recv(65536)
                        if not data:
                            return
                        (upstream if s is client else client).sendall(data)

    def close(self) -> None:
        self.closed = True
        self.listener.close()


@pytest.fixture
def account() -> Iterator[AccountStandIn]:
    stand_in = AccountStandIn({CONFIGURED})
    yield stand_in
    stand_in.close()


def refresh_tenant(sim, account: AccountStandIn, refresh_token: str = CONFIGURED, **settings: Any) -> dict[str, Any]:
    tokens = [{"name": "durable", "license_id": LICENSE, "refresh_token": refresh_token}]
    return fleet_document(sim.url, tokens, account_url=account.url, **settings)


def saved(workdir: Path) -> dict[str, Any]:
    return json.loads((workdir / "state" / "team-a" / "credentials.json").read_text())


# --------------------------------------------------------------------------- license states


def test_license_without_token_fails_and_names_the_state(sim, start_worker) -> None:
    sim.add_license("L-trial", "license-auth-secret-0123456789", state="TRIAL_EXPIRED", issue_token=False)
    worker = start_worker.fleet(fleet_document(sim.url, [
        {"name": "trial", "license_id": "L-trial", "authorization": "license-auth-secret-0123456789"},
        {"name": "plain", "jwt": jwt_name("a")},
    ]))
    assert worker.tokens()["trial"]["state"] in ("pending", "invalid")
    log = worker.log()
    assert "license answer has no token (state 'TRIAL_EXPIRED')" in log
    assert "license-auth-secret-0123456789" not in log
    assert worker.chat("abc").status_code == 200


# --------------------------------------------------------------------------- refresh tokens


def test_refresh_token_is_exchanged_then_the_license_fetched(sim, account, start_worker) -> None:
    sim.add_license(LICENSE, ID_TOKEN, jwt_ttl_s=3600)
    worker = start_worker.fleet(refresh_tenant(sim, account))
    assert worker.tokens()["durable"]["state"] == "healthy"
    assert worker.chat("abc").json()["choices"][0]["message"]["content"] == "cba"
    assert sim.stats()["by_license"] == {LICENSE: 1}

    [request] = account.requests
    assert request["path"] == "/api/rest/oauth2/token"
    assert request["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert request["headers"]["accept"] == "application/json"
    assert request["form"] == {"grant_type": "refresh_token", "refresh_token": CONFIGURED, "client_id": "ide"}

    log = worker.log() + json.dumps(worker.client.get("/config").json()) + json.dumps(worker.health())
    for secret in (CONFIGURED, ID_TOKEN, *account.live):
        assert secret not in log


def test_rotated_refresh_token_is_saved_0600(sim, account, start_worker) -> None:
    sim.add_license(LICENSE, ID_TOKEN)
    worker = start_worker.fleet(refresh_tenant(sim, account))
    [rotated] = account.live
    folder = worker.workdir / "state" / "team-a"
    document = saved(worker.workdir)
    assert document["tokens"]["durable"]["refresh_token"] == rotated
    assert CONFIGURED not in (folder / "credentials.json").read_text()
    assert stat.S_IMODE((folder / "credentials.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_a_restart_presents_the_saved_token_not_the_dead_one(sim, account, start_worker) -> None:
    sim.add_license(LICENSE, ID_TOKEN)
    first = start_worker.fleet(refresh_tenant(sim, account))
    workdir = first.workdir
    [rotated] = account.live
    assert first.terminate() == 0

    second = start_worker.fleet(refresh_tenant(sim, account), workdir=workdir)
    assert account.presented() == [CONFIGURED, rotated]
    assert second.tokens()["durable"]["state"] == "healthy"
    assert second.chat("abc").status_code == 200
    assert saved(workdir)["tokens"]["durable"]["refresh_token"] in account.live


def test_a_new_refresh_token_in_the_file_wins(sim, account, start_worker) -> None:
    sim.add_license(LICENSE, ID_TOKEN)
    first = start_worker.fleet(refresh_tenant(sim, account))
    workdir = first.workdir
    assert first.terminate() == 0

    pasted = "rt-pasted-by-the-user-0123456789"
    account.live.add(pasted)
    second = start_worker.fleet(refresh_tenant(sim, account, refresh_token=pasted), workdir=workdir)
    assert account.presented()[-1] == pasted
    assert second.tokens()["durable"]["state"] == "healthy"


def test_id_token_is_renewed_before_it_expires(sim, start_worker) -> None:
    # expires_in 5 s (a string, as some servers send it): renewed at 80 % of that, about 4 s.
    account = AccountStandIn({CONFIGURED}, expires_in="5")
    try:
        sim.add_license(LICENSE, ID_TOKEN)
        worker = start_worker.fleet(refresh_tenant(sim, account))
        wait_until(lambda: len(account.requests) >= 2, timeout=15, message="the id token's renewal")
        presented = account.presented()
        assert presented[0] == CONFIGURED and presented[1].startswith("rt-rotated-1-")
        assert worker.chat("abc").status_code == 200
        assert "invalid_grant" not in worker.log()
    finally:
        account.close()


def test_a_401_refreshes_the_jwt_with_the_cached_id_token(sim, account, start_worker) -> None:
    sim.add_license(LICENSE, ID_TOKEN)
    worker = start_worker.fleet(refresh_tenant(sim, account))
    sim.fault(kind="status", status=401, count=1)
    assert worker.chat("abc").status_code == 200
    assert sim.stats()["by_license"] == {LICENSE: 2}
    assert len(account.requests) == 1


def test_a_dead_refresh_token_is_reported_without_secrets(sim, start_worker) -> None:
    account = AccountStandIn(set())
    try:
        sim.add_license(LICENSE, ID_TOKEN)
        worker = start_worker.fleet(fleet_document(sim.url, [
            {"name": "durable", "license_id": LICENSE, "refresh_token": CONFIGURED},
            {"name": "plain", "jwt": jwt_name("a")},
        ], account_url=account.url))
        assert worker.tokens()["durable"]["state"] in ("pending", "invalid")
        log = worker.log()
        assert "invalid_grant" in log
        assert CONFIGURED not in log
        assert worker.chat("abc").status_code == 200
    finally:
        account.close()


# --------------------------------------------------------------------------- outbound proxy


def test_outbound_proxy_carries_every_upstream_call(sim, account, start_worker) -> None:
    proxy = ConnectProxy(credentials=("proxy-user", "proxy-secret-password"))
    try:
        sim.add_license(LICENSE, ID_TOKEN)
        url = f"http://proxy-user:proxy-secret-password@127.0.0.1:{proxy.port}"
        worker = start_worker.fleet(refresh_tenant(sim, account, outbound_proxy=url))
        assert worker.chat("abc").status_code == 200
        targets = {c["target"] for c in proxy.connects}
        sim_target = sim.url.removeprefix("http://")
        account_target = account.url.removeprefix("http://")
        assert {sim_target, account_target} <= targets
        assert all(c["method"] == "CONNECT" for c in proxy.connects)
        config = worker.client.get("/config").json()
        assert config["outbound_proxy"] == f"http://pro...:***@127.0.0.1:{proxy.port}"
        assert "proxy-secret-password" not in worker.log() + json.dumps(config)
    finally:
        proxy.close()


def test_a_proxy_refusing_the_credentials_fails_the_calls(sim, start_worker) -> None:
    proxy = ConnectProxy(credentials=("proxy-user", "right-password"))
    try:
        url = f"http://proxy-user:wrong-password@127.0.0.1:{proxy.port}"
        worker = start_worker.fleet(fleet_document(sim.url, [{"name": "plain", "jwt": jwt_name("a")}], outbound_proxy=url))
        assert worker.chat("abc").status_code in (502, 503, 504)
        assert proxy.connects, "the worker should have gone through the proxy"
        assert "wrong-password" not in worker.log()
    finally:
        proxy.close()
