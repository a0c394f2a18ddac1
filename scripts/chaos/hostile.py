"""Hostile and broken clients of a chaos run, next to the well-formed load.

Each hostile act is a raw socket client whose outcome is known in advance from the fleet's
client limits (see ``fleet.LIMITS``), and is checked against it:

``slowloris``      a request head sent a byte at a time, never finished → 408 and close
                   within ``header_timeout`` (some acts open several at once)
``slow_body``      a full head, then a body that stops → 408 and close after ``body_timeout``
``slow_body_ok``   a body trickled in pieces closer together than ``body_timeout`` → served (200)
``stop_reading``   a large streaming answer the client stops reading after its head, holds a
                   few seconds, then closes (memory must stay bounded: back-pressure)
``burst``          up to 2,000 silent connections opened at once on one tenant (fewer when the
                   fd limit leaves no headroom): each is closed by the server, at once past
                   ``max_connections`` or after ``header_timeout`` — none stays open
``malformed``      one bad request at random: a bad request line, bad JSON (OpenAI and
                   Anthropic routes), a head past ``max_header_size``, bad chunked encoding, a
                   bad ``Content-Length``, CONNECT, binary garbage → 400/405/431 or a close
``ctl``            a bad call to the supervisor's control socket (garbage, unknown tenant or
                   command, traversal in a path, bad JSON body, bad query, oversized or
                   unfinished head) or the ``ctl`` command with bad arguments → a 4xx answer,
                   408 or a close, or a non-zero exit; never a 5xx or a crash

A connection cut because the tenant's worker was killed, stopped or replaced while the act
ran is accepted too (``Act.excused``): the fault timeline explains it, as for well-formed requests.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import random
import socket
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

from fleet import LIMITS, Clock, Supervisor

#: How long after a limit's deadline the server may still take to act (a loaded 2-core machine).
SLACK = 4.0
#: File descriptors kept free (ours and the worker's) when sizing the burst.
FD_HEADROOM = 512
BURST_MAX = 2000
#: Seconds after the first connect by which every burst connection must have been closed.
BURST_WATCH = 45.0
CLOSE = {"Connection": "close"}
#: The act the current task is running (so an exception is recorded on it).
CURRENT: "contextvars.ContextVar[Act | None]" = contextvars.ContextVar("hostile_act", default=None)


@dataclass
class Act:
    id: int
    kind: str
    target: str  # tenant name or "ctl"
    start: float
    end: float = 0.0
    variant: str = ""
    expected: str = ""
    observed: str = ""
    ok: bool = False
    excused: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"type": "hostile", **asdict(self)}

    def describe(self) -> str:
        v = f"/{self.variant}" if self.variant else ""
        extra = " ".join(f"{k}={v}" for k, v in self.detail.items())
        return (f"hostile#{self.id} {self.kind}{v} on {self.target} {self.start:8.3f} .. {self.end:8.3f}: "
                f"expected {self.expected}, got {self.observed}" + (f" ({extra})" if extra else ""))


def status_of(raw: bytes) -> int | None:
    if raw.startswith(b"HTTP/1.") and len(raw) >= 12 and raw[9:12].isdigit():
        return int(raw[9:12])
    return None


async def read_all(reader: asyncio.StreamReader, timeout: float) -> tuple[bytes, str]:
    """What the server sends until it closes ("closed"/"reset") or ``timeout`` passes ("open")."""
    data = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, "open"
        try:
            chunk = await asyncio.wait_for(reader.read(65536), left)
        except TimeoutError:
            return data, "open"
        except (ConnectionResetError, BrokenPipeError):
            return data, "reset"
        if not chunk:
            return data, "closed"
        data += chunk


def close_writer(writer: asyncio.StreamWriter | None) -> None:
    if writer is None:
        return
    try:
        writer.transport.abort()
    except Exception:  # noqa: BLE001
        pass


def chat_body(tenant: str, rng: random.Random, extra: str = "", chunks: int = 3) -> bytes:
    text = f"[[chunks={chunks}]] hostile {tenant} {extra}{rng.randrange(1 << 30):x}"
    return json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}).encode()


def head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Hostile:
    def __init__(
        self,
        clock: Clock,
        seed: int,
        tenants: dict[str, tuple[str, str]],
        sup: Supervisor,
        bin_dir: Path,
        env: dict[str, str],
        burst_size: int,
        interval: tuple[float, float] = (0.4, 1.6),
    ) -> None:
        """``tenants``: name → (base URL, API key). A failed act is excused later, against the
        whole fault timeline (``excuse``)."""
        self.clock = clock
        self.schedule = random.Random(f"{seed}/hostile")
        self.tenants = {n: (int(url.rsplit(":", 1)[1]), key) for n, (url, key) in tenants.items()}
        self.sup = sup
        self.bin_dir = bin_dir
        self.env = env
        self.burst_size = burst_size
        self.interval = interval
        self.acts: list[Act] = []
        self.tasks: set[asyncio.Task[Any]] = set()
        self.bursting = False

    # -- the loop

    def _new(self, kind: str, target: str, variant: str = "", expected: str = "") -> Act:
        act = Act(id=len(self.acts) + 1, kind=kind, target=target, start=self.clock.now(), variant=variant, expected=expected)
        self.acts.append(act)
        CURRENT.set(act)
        return act

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run(self, until: float, first_burst: float, burst_every: tuple[float, float]) -> None:
        """Hostile acts from now until ``until``; a burst at ``first_burst`` s from now, then every
        ``burst_every`` (uniform) seconds."""
        kinds = [("slowloris", 2.0), ("slow_body", 1.5), ("slow_body_ok", 1.0), ("stop_reading", 1.5),
                 ("malformed", 3.0), ("ctl", 1.5)]
        names, weights = zip(*kinds)
        next_burst = self.clock.now() + first_burst
        while True:
            await asyncio.sleep(self.schedule.uniform(*self.interval))
            now = self.clock.now()
            if now >= until:
                break
            rng = random.Random(self.schedule.random())
            tenant = self.schedule.choice(sorted(self.tenants))
            if now >= next_burst:
                next_burst = now + self.schedule.uniform(*burst_every)
                if not self.bursting:
                    self._spawn(self._guard(self.burst(tenant, rng)))
                continue
            kind = self.schedule.choices(names, weights=weights)[0]
            self._spawn(self._guard(getattr(self, kind)(tenant, rng)))

    async def _guard(self, coro: Awaitable[Act | None]) -> None:
        CURRENT.set(None)
        try:
            await coro
        except Exception as e:  # noqa: BLE001 - an act that broke off is recorded as failed
            act = CURRENT.get() or self._new("error", "-", expected="the act to run")
            self._verdict(act, False, f"{type(e).__name__}: {e}")

    async def finish(self, timeout: float) -> None:
        """Waits for the acts in flight (each is bounded), then cancels what is left."""
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=timeout)
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def _verdict(self, act: Act, ok: bool, observed: str) -> Act:
        act.end = self.clock.now()
        act.observed = observed
        act.ok = ok
        return act

    def excuse(self, cut_by_fault: Callable[[str, float, float], str]) -> None:
        """Accepts a failed act on a tenant whose worker a fault killed, stopped or replaced
        while it ran (``cut_by_fault(tenant, start, end)`` names that fault, or '')."""
        for act in self.acts:
            if not act.ok and act.target in self.tenants:
                act.excused = cut_by_fault(act.target, act.start, act.end)
                act.ok = bool(act.excused)

    async def _open(self, tenant: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        port, _ = self.tenants[tenant]
        return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 15)

    # -- the acts

    async def slowloris(self, tenant: str, rng: random.Random) -> Act:
        n = rng.choice([1, 1, 2, 5, 20])
        limit = LIMITS["header_timeout_s"]
        act = self._new("slowloris", tenant, expected=f"408 and close within {limit:g}s (+{SLACK:g}s)")
        act.detail["connections"] = n

        async def one() -> tuple[int | None, str, float]:
            reader, writer = await self._open(tenant)
            t0 = time.monotonic()
            partial = b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl"
            try:
                writer.write(partial[:20])
                await writer.drain()
                reading = asyncio.ensure_future(read_all(reader, limit + SLACK))
                for b in partial[20:]:
                    if reading.done():
                        break
                    await asyncio.sleep(0.4)
                    try:
                        writer.write(bytes([b]))
                    except (ConnectionError, RuntimeError):
                        break
                raw, how = await reading
            finally:
                close_writer(writer)
            return status_of(raw), how, time.monotonic() - t0

        results = await asyncio.gather(*(one() for _ in range(n)), return_exceptions=True)
        seen = []
        good = True
        for r in results:
            if isinstance(r, BaseException):
                seen.append(f"error {type(r).__name__}")
                good = False
                continue
            status, how, took = r
            seen.append(f"{status or '-'}/{how}/{took:.1f}s")
            good &= status == 408 and how != "open" and took <= limit + SLACK
        return self._verdict(act, good, ", ".join(sorted(set(s.rsplit('/', 1)[0] for s in seen))) + f" (max {max((r[2] for r in results if not isinstance(r, BaseException)), default=0):.1f}s)")

    async def slow_body(self, tenant: str, rng: random.Random) -> Act:
        limit = LIMITS["body_timeout_s"]
        act = self._new("slow_body", tenant, expected=f"408 and close {limit:g}s after the body stalls")
        port, key = self.tenants[tenant]
        body = chat_body(tenant, rng, extra="x" * 2000)
        anthropic = rng.random() < 0.3
        path, auth = ("/v1/messages", {"x-api-key": key, "anthropic-version": "2023-06-01"}) if anthropic else \
            ("/v1/chat/completions", {"Authorization": f"Bearer {key}"})
        if anthropic:
            body = json.dumps({"model": "claude-4-sonnet", "max_tokens": 50,
                               "messages": [{"role": "user", "content": "x" * 2000}]}).encode()
        act.variant = "anthropic" if anthropic else "openai"
        reader, writer = await self._open(tenant)
        try:
            writer.write(head("POST", path, {**auth, "Content-Type": "application/json", "Content-Length": str(len(body))}))
            writer.write(body[: rng.randint(0, len(body) // 2)])
            await writer.drain()
            t0 = time.monotonic()
            raw, how = await read_all(reader, limit + SLACK + 1)
            took = time.monotonic() - t0
        finally:
            close_writer(writer)
        status = status_of(raw)
        shape_ok = True
        if status == 408:
            doc = _json_body(raw)
            shape_ok = isinstance(doc, dict) and (doc.get("type") == "error" if anthropic else "error" in doc)
        ok = status == 408 and how != "open" and took <= limit + SLACK and shape_ok
        return self._verdict(act, ok, f"{status or '-'}/{how} after {took:.1f}s" + ("" if shape_ok else " (wrong error shape)"))

    async def slow_body_ok(self, tenant: str, rng: random.Random) -> Act:
        limit = LIMITS["body_timeout_s"]
        act = self._new("slow_body_ok", tenant, expected=f"200: body pieces every <{limit:g}s are legal")
        port, key = self.tenants[tenant]
        marker = f"slow{rng.randrange(1 << 30):x}"
        text = f"[[chunks=2]] {marker}"
        body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}).encode()
        pieces = rng.randint(3, 6)
        gap = limit * rng.uniform(0.2, 0.5)
        act.detail.update(pieces=pieces, gap_s=round(gap, 2))
        reader, writer = await self._open(tenant)
        try:
            writer.write(head("POST", "/v1/chat/completions", {
                "Authorization": f"Bearer {key}", "Content-Type": "application/json",
                "Content-Length": str(len(body)), "Connection": "close"}))
            await writer.drain()
            step = -(-len(body) // pieces)
            for i in range(0, len(body), step):
                await asyncio.sleep(gap)
                writer.write(body[i:i + step])
                await writer.drain()
            raw, how = await read_all(reader, 30)
        finally:
            close_writer(writer)
        status = status_of(raw)
        doc = _json_body(raw)
        content = None
        try:
            content = doc["choices"][0]["message"]["content"]  # type: ignore[index]
        except (TypeError, KeyError, IndexError):
            pass
        if status == 200 and content == marker[::-1]:
            return self._verdict(act, True, "200, right answer")
        if status in (502, 503, 504) and ("no available JWT tokens" in raw.decode(errors="replace")
                                          or "Upstream failed after" in raw.decode(errors="replace")):
            # Every JWT was hit by an upstream fault meanwhile: what well-formed requests get too.
            act.excused = "upstream faults on every JWT (as for well-formed requests)"
            return self._verdict(act, True, f"{status}")
        return self._verdict(act, False, f"{status or '-'}/{how}: {raw[:160]!r}")

    async def stop_reading(self, tenant: str, rng: random.Random) -> Act:
        hold = rng.uniform(2.0, 8.0)
        size = rng.choice([64, 256, 1024]) << 10
        act = self._new("stop_reading", tenant, expected="a 200 stream head; the worker copes with a reader that stops")
        act.detail.update(answer_kib=size >> 10, hold_s=round(hold, 1))
        port, key = self.tenants[tenant]
        text = f"[[chunks={max(8, size // 1024)}]] " + ("abcdefgh" * (size // 8 + 1))[:size]
        body = json.dumps({"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": text}]}).encode()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), 15)
            reader, writer = await asyncio.open_connection(sock=sock)
        except BaseException:
            sock.close()
            raise
        try:
            writer.write(head("POST", "/v1/chat/completions", {
                "Authorization": f"Bearer {key}", "Content-Type": "application/json", "Content-Length": str(len(body))}))
            writer.write(body)
            await writer.drain()
            try:
                first = await asyncio.wait_for(reader.read(1024), 30)
            except (TimeoutError, ConnectionError):
                first = b""
            reader._transport.pause_reading()  # type: ignore[attr-defined]  # stop reading: back-pressure
            await asyncio.sleep(hold)
        finally:
            close_writer(writer)
        status = status_of(first)
        if status == 200:
            return self._verdict(act, True, f"200 head, stopped reading, held {hold:.1f}s, closed")
        if status == 503 and b"server_overloaded" in first:
            return self._verdict(act, True, "503 server_overloaded (max_concurrent_requests)")
        if status in (502, 503, 504) and (b"no available JWT tokens" in first or b"Upstream failed after" in first):
            act.excused = "upstream faults on every JWT (as for well-formed requests)"
            return self._verdict(act, True, f"{status}")
        return self._verdict(act, False, f"{status or '-'}: {first[:160]!r}")

    async def burst(self, tenant: str, rng: random.Random) -> Act:
        n = self.burst_size
        cap = LIMITS["max_connections"].get(tenant)
        limit = LIMITS["header_timeout_s"]
        act = self._new("burst", tenant, expected=(
            f"{n} connections, none answered or left open: past max_connections {cap} closed at once, the rest after header_timeout"
            if cap and cap < n else f"{n} connections held, then closed by the server after header_timeout {limit:g}s")
            + f", all within {BURST_WATCH:g}s")
        self.bursting = True
        try:
            # In a process of its own, so 2,000 sockets neither slow the load's event loop nor use its fds.
            # Watched for BURST_WATCH: past the listener's backlog (1024) the kernel drops the
            # handshake's last ACK, so the server side of such a connection only exists after a
            # SYN-ACK retransmission (1, 2, 4, 8, 16 s apart) — its header_timeout starts then.
            proc = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "burst", str(self.tenants[tenant][0]), str(n), str(BURST_WATCH), "--ghosts",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(proc.communicate(), 120)
        finally:
            self.bursting = False
        if proc.returncode != 0:
            return self._verdict(act, False, f"burst process exit {proc.returncode}: {err.decode(errors='replace')[-300:]}")
        d = json.loads(out)
        act.detail.update(d)
        ok = d["connect_failed"] == 0 and d["still_open"] == 0 and d["answered"] == 0
        if cap and cap < n:
            ok &= d["closed_at_once"] > 0  # the cap shed some
        observed = (f"{d['connected']} connected ({d['connect_failed']} failed), {d['closed_at_once']} closed at once, "
                    f"{d['closed_later']} after the timeout, {d['still_open']} still open, {d['answered']} answered, "
                    f"{d.get('ghosts', 0)} never reached the server (accept queue overflow)")
        return self._verdict(act, ok, observed)

    MALFORMED = {
        # variant: (allowed statuses, a close without an answer allowed)
        "bad_request_line": ({400}, True),
        "bad_version": ({400, 505}, True),
        "bad_json_openai": ({400}, False),
        "bad_json_anthropic": ({400}, False),
        "huge_head": ({431}, False),
        "bad_chunked": ({400}, True),
        "bad_content_length": ({400}, True),
        "connect": ({405}, False),
        "binary_garbage": ({400}, True),
    }

    async def malformed(self, tenant: str, rng: random.Random) -> Act:
        variant = rng.choice(sorted(self.MALFORMED))
        statuses, may_close = self.MALFORMED[variant]
        act = self._new("malformed", tenant, variant=variant,
                        expected="/".join(map(str, sorted(statuses))) + (" or a close" if may_close else "") + ", then close")
        _, key = self.tenants[tenant]
        auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        if variant == "bad_request_line":
            data = b"THIS IS NOT HTTP AT ALL\r\n\r\n"
        elif variant == "bad_version":
            data = b"GET /health HTTP/7.3\r\nHost: x\r\n\r\n"
        elif variant == "bad_json_openai":
            body = rng.choice([b'{"model": "gpt-4o", "messages": [', b"not json", b'{"messages": 5}', b"\xff\xfe{}"])
            data = head("POST", "/v1/chat/completions", {**auth, "Content-Length": str(len(body)), "Connection": "close"}) + body
        elif variant == "bad_json_anthropic":
            body = rng.choice([b'{"model": "claude-4-sonnet", "messages": [{', b"[]", b'{"max_tokens": "x"}'])
            data = head("POST", "/v1/messages", {"x-api-key": key, "anthropic-version": "2023-06-01",
                                                  "Content-Type": "application/json", "Content-Length": str(len(body)),
                                                  "Connection": "close"}) + body
        elif variant == "huge_head":
            pad = "a" * (LIMITS["max_header_size"] + rng.randint(1, 40_000))
            data = head("GET", "/v1/models", {**auth, "X-Pad": pad})
        elif variant == "bad_chunked":
            body = rng.choice([b"zz\r\nhello\r\n0\r\n\r\n", b"5\r\nhelloXX0\r\n\r\n", b"-1\r\n\r\n"])
            data = head("POST", "/v1/chat/completions", {**auth, "Transfer-Encoding": "chunked"}) + body
        elif variant == "bad_content_length":
            cl = rng.choice(["-5", "abc", "1, 2", "99999999999999999999"])
            data = head("POST", "/v1/chat/completions", {**auth, "Content-Length": cl}) + b"{}"
        elif variant == "connect":
            data = b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
        else:
            data = bytes(rng.randrange(256) for _ in range(rng.randint(16, 512))) + b"\r\n\r\n"
        act.detail["bytes"] = len(data)
        reader, writer = await self._open(tenant)
        try:
            try:
                writer.write(data)
                await writer.drain()
            except ConnectionError:
                pass
            raw, how = await read_all(reader, LIMITS["header_timeout_s"] + SLACK)
        finally:
            close_writer(writer)
        status = status_of(raw)
        ok = how != "open" and (status in statuses or (may_close and status is None and not raw))
        return self._verdict(act, ok, f"{status or '-'}/{how}" + ("" if status else f" {raw[:80]!r}"))

    CTL = ["garbage", "unknown_tenant_bad_json", "unknown_command", "traversal", "bad_lines", "negative_lines",
           "wrong_method", "huge_head", "slow_head", "cli_unknown_tenant", "cli_bad_command", "cli_bad_option"]

    async def ctl(self, _tenant: str, rng: random.Random) -> Act:
        variant = rng.choice(self.CTL)
        act = self._new("ctl", "ctl", variant=variant)
        if variant.startswith("cli_"):
            args = {"cli_unknown_tenant": ["logs", "no-such-tenant"], "cli_bad_command": ["frobnicate", "alpha"],
                    "cli_bad_option": ["logs", "alpha", "--lines", "many"]}[variant]
            act.expected = "a non-zero exit with a message, not a crash"
            proc = await asyncio.create_subprocess_exec(
                str(self.bin_dir / "jetbrains-ai-supervisor"), "ctl", *args, "--socket", str(self.sup.socket),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=self.env,
            )
            out, _ = await asyncio.wait_for(proc.communicate(), 30)
            rc = proc.returncode
            text = out.decode(errors="replace").strip()
            act.detail["message"] = text.splitlines()[-1][:120] if text else ""
            return self._verdict(act, rc is not None and 0 < rc < 128 and bool(text), f"exit {rc}")
        requests = {
            "garbage": (b"\x00\x01\x02 garbage \xff\r\n\r\n", {400}, True),
            "unknown_tenant_bad_json": (head("POST", "/tenants/no-such-tenant/restart",
                                             {"Content-Type": "application/json", "Content-Length": "9", **CLOSE}) + b"{bad json", {404}, False),
            "unknown_command": (head("POST", "/tenants/alpha/explode", {"Content-Length": "0", **CLOSE}), {404}, False),
            "traversal": (head("GET", "/tenants/..%2F..%2Fetc%2Fpasswd/logs", CLOSE), {404}, False),
            "bad_lines": (head("GET", "/tenants/alpha/logs?lines=abc", CLOSE), {200, 400}, False),
            "negative_lines": (head("GET", f"/tenants/alpha/logs?lines={rng.choice(['-1', '-99999', '99999999999999999999'])}", CLOSE), {200, 400}, False),
            "wrong_method": (head("DELETE", "/status", CLOSE), {404, 405}, False),
            "huge_head": (head("GET", "/status", {"X-Pad": "p" * 20_000, **CLOSE}), {431}, False),
            "slow_head": (b"GET /status HTTP/1.1\r\nHost: x\r\nX-Slo", {408}, True),
        }
        data, statuses, may_close = requests[variant]
        act.expected = "/".join(map(str, sorted(statuses))) + (" or a close" if may_close else "")
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(self.sup.socket)), 10)
        try:
            try:
                writer.write(data)
                await writer.drain()
            except ConnectionError:
                pass
            raw, how = await read_all(reader, 5.0 + SLACK + 2)
        finally:
            close_writer(writer)
        status = status_of(raw)
        ok = (status in statuses or (may_close and status is None)) and how != "open"
        return self._verdict(act, ok, f"{status or '-'}/{how}")


def server_peers(port: int) -> set[int]:
    """Client ports of the loopback connections the server side holds established on ``port``
    (from /proc/net/tcp)."""
    out = set()
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                parts = line.split()
                local, remote, state = parts[1], parts[2], parts[3]
                if state == "01" and int(local.split(":")[1], 16) == port:
                    out.add(int(remote.split(":")[1], 16))
    except OSError:
        pass
    return out


async def burst_main(port: int, n: int, watch: float, ghosts: bool = False) -> dict[str, Any]:
    """Opens ``n`` silent connections to ``port`` at once and watches how each ends. With
    ``ghosts``, a connection still open at the end that the server side does not hold at all is
    counted as a ghost, not as open: past a full accept queue the kernel drops the handshake's
    last ACK and, its SYN-ACK retries spent, forgets the connection without telling the client."""
    loop = asyncio.get_running_loop()
    socks: list[socket.socket] = []

    connected_at: dict[int, float] = {}

    async def connect() -> socket.socket | str:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(s, ("127.0.0.1", port)), 20)
        except (OSError, TimeoutError) as e:
            s.close()
            return type(e).__name__
        connected_at[s.fileno()] = time.monotonic() - t0
        socks.append(s)
        return s

    t0 = time.monotonic()
    try:
        results = await asyncio.gather(*(connect() for _ in range(n)))
        connected = [r for r in results if isinstance(r, socket.socket)]
        failed = [r for r in results if not isinstance(r, socket.socket)]
        connect_s = time.monotonic() - t0

        async def one(s: socket.socket) -> tuple[str, float]:
            """How the connection ended, and how long after its connect."""
            c = connected_at[s.fileno()]
            how, t = await ended(s)
            return how, t - c

        async def ended(s: socket.socket) -> tuple[str, float]:
            try:
                data = await asyncio.wait_for(loop.sock_recv(s, 4096), max(1.0, watch - (time.monotonic() - t0)))
                return ("closed" if not data else "answered"), time.monotonic() - t0
            except (ConnectionResetError, BrokenPipeError):
                return "reset", time.monotonic() - t0
            except TimeoutError:
                return "open", time.monotonic() - t0
            except OSError as e:
                return type(e).__name__, time.monotonic() - t0

        outcomes = await asyncio.gather(*(one(s) for s in connected))
        ghost = 0
        if ghosts:
            held = server_peers(port)
            for i, (s, (how, t)) in enumerate(zip(connected, outcomes)):
                if how == "open" and s.getsockname()[1] not in held:
                    outcomes[i] = ("ghost", t)
                    ghost += 1
    finally:
        for s in socks:
            s.close()
    fast = sum(1 for how, t in outcomes if how in ("closed", "reset") and t < 1.0)
    still = sum(1 for how, _ in outcomes if how == "open")
    answered = sum(1 for how, _ in outcomes if how == "answered")
    closed = sum(1 for how, _ in outcomes if how in ("closed", "reset"))
    return {
        "connected": len(connected), "connect_failed": len(failed), "connect_s": round(connect_s, 2),
        "closed_at_once": fast, "closed_later": closed - fast, "still_open": still, "ghosts": ghost,
        "answered": answered, "longest_held_s": round(max((t for how, t in outcomes if how != "open"), default=0), 1),
    }


def _json_body(raw: bytes) -> Any:
    _, _, body = raw.partition(b"\r\n\r\n")
    try:
        return json.loads(body)
    except ValueError:
        return None


if __name__ == "__main__":
    # python3 hostile.py burst PORT N WATCH_SECONDS → one JSON line (see Hostile.burst)
    if len(sys.argv) in (5, 6) and sys.argv[1] == "burst":
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = int(sys.argv[3]) + 64
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
        ghosts = sys.argv[5:] == ["--ghosts"]
        print(json.dumps(asyncio.run(burst_main(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), ghosts))))
    else:
        sys.exit("usage: hostile.py burst PORT N WATCH_SECONDS [--ghosts]")
