"""Steady mixed client load on the tenants: streaming and not, some streams abandoned on purpose.

Every request opens its own TCP connection (no keep-alive), so "when did this request reach
the tenant's port" is the request's start, and a refused or reset connection is visible.
Each answer is checked against what the simulator must say (the prompt reversed).
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import httpx

from fleet import Clock

#: Whole-request bound: max_attempts (4) x request_timeout (5 s), plus a worker restart.
REQUEST_DEADLINE = 45.0
MODELS = ["gpt-4o", "claude-4-sonnet", "gemini-flash-2.5", "o3-mini"]


@dataclass
class Request:
    id: int
    tenant: str
    stream: bool
    start: float
    end: float = 0.0
    #: ok | client_disconnect | http_error | stream_error | truncated | transport_error | timeout | bad_content
    outcome: str = ""
    status: int | None = None
    error: str = ""
    #: content chunks received (streaming), and whether the response head (200) arrived
    chunks: int = 0
    head: bool = False
    chunks_planned: int = 0
    disconnect_after: int | None = None
    first_byte: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LoadStats:
    requests: list[Request] = field(default_factory=list)


def expected_answer(text: str) -> str:
    return text[::-1]


class Load:
    def __init__(
        self,
        clock: Clock,
        tenants: dict[str, tuple[str, str]],
        seed: int,
        per_tenant: int,
        on_request_done: Callable[[Request], None] | None = None,
    ) -> None:
        """``tenants``: name → (base URL, API key)."""
        self.clock = clock
        self.tenants = tenants
        self.seed = seed
        self.per_tenant = per_tenant
        self.requests: list[Request] = []
        self.in_flight: set[int] = set()
        self.next_id = 0
        self.on_request_done = on_request_done
        self.stop_at = 0.0
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(REQUEST_DEADLINE + 5, connect=REQUEST_DEADLINE),
            limits=httpx.Limits(max_connections=1000, max_keepalive_connections=0),
            trust_env=False,
        )
        self.extra: set[asyncio.Task[Any]] = set()

    async def run(self, duration: float) -> None:
        """Runs the client loops for ``duration`` seconds, then waits for requests in flight."""
        self.stop_at = self.clock.now() + duration
        loops = []
        for t_index, name in enumerate(sorted(self.tenants)):
            for i in range(self.per_tenant):
                rng = random.Random(f"{self.seed}/load/{name}/{i}")
                loops.append(asyncio.create_task(self._loop(name, rng)))
        await asyncio.gather(*loops)
        if self.extra:
            await asyncio.gather(*self.extra, return_exceptions=True)

    async def _loop(self, tenant: str, rng: random.Random) -> None:
        # Stagger the start a little so the loops do not move in lockstep.
        await asyncio.sleep(rng.uniform(0, 0.3))
        while self.clock.now() < self.stop_at:
            await self.one(tenant, rng)
            await asyncio.sleep(rng.uniform(0.0, 0.15))

    def abandon_stream(self, tenant: str, rng: random.Random) -> None:
        """An extra streaming request that the client drops mid-stream (fault injector's 'client_disconnect')."""
        task = asyncio.create_task(self.one(tenant, rng, force_disconnect=True))
        self.extra.add(task)
        task.add_done_callback(self.extra.discard)

    async def one(self, tenant: str, rng: random.Random, force_disconnect: bool = False, no_disconnect: bool = False) -> Request:
        url, key = self.tenants[tenant]
        self.next_id += 1
        rid = self.next_id
        stream = force_disconnect or rng.random() < 0.5
        chunks = rng.randint(2, 10)
        delay = rng.choice([0, 0, 5, 20, 40])
        disconnect_after = None
        if stream and not no_disconnect and (force_disconnect or rng.random() < 0.07):
            chunks = rng.randint(4, 10)
            delay = rng.choice([30, 50, 80])
            disconnect_after = rng.randint(1, chunks - 2)
        words = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(4, 24)))
        body_text = f"chaos {tenant} r{rid} {words}"
        text = f"[[chunks={chunks}]] [[delay_ms={delay}]] {body_text}"
        payload: dict[str, Any] = {
            "model": rng.choice(MODELS),
            "messages": [{"role": "user", "content": text}],
            "stream": stream,
        }
        if stream and rng.random() < 0.3:
            payload["stream_options"] = {"include_usage": True}
        req = Request(
            id=rid, tenant=tenant, stream=stream, start=self.clock.now(),
            chunks_planned=chunks, disconnect_after=disconnect_after,
        )
        self.requests.append(req)
        self.in_flight.add(rid)
        headers = {"Authorization": f"Bearer {key}"}
        try:
            async with asyncio.timeout(REQUEST_DEADLINE):
                if stream:
                    await self._stream(req, url, payload, headers, expected_answer(body_text))
                else:
                    await self._plain(req, url, payload, headers, expected_answer(body_text))
        except TimeoutError:
            req.outcome, req.error = "timeout", f"no complete answer within {REQUEST_DEADLINE}s"
        except httpx.HTTPError as e:
            req.outcome = "truncated" if req.head else "transport_error"
            req.error = f"{type(e).__name__}: {e}"
        except Exception as e:  # noqa: BLE001 - recorded, classified later
            req.outcome = "truncated" if req.head else "transport_error"
            req.error = f"{type(e).__name__}: {e}"
        req.end = self.clock.now()
        self.in_flight.discard(rid)
        if self.on_request_done:
            self.on_request_done(req)
        return req

    async def _plain(self, req: Request, url: str, payload: dict[str, Any], headers: dict[str, str], expected: str) -> None:
        r = await self.client.post(f"{url}/v1/chat/completions", json=payload, headers=headers)
        req.status = r.status_code
        req.first_byte = self.clock.now()
        req.head = True
        if r.status_code != 200:
            req.outcome, req.error = "http_error", r.text[:400]
            return
        try:
            doc = r.json()
            content = doc["choices"][0]["message"]["content"]
            finish = doc["choices"][0]["finish_reason"]
        except (ValueError, KeyError, IndexError, TypeError) as e:
            req.outcome, req.error = "bad_content", f"unparsable answer ({e}): {r.text[:300]}"
            return
        if content != expected or finish != "stop":
            req.outcome, req.error = "bad_content", f"expected {expected!r}/stop, got {content!r}/{finish!r}"
            return
        req.outcome = "ok"

    async def _stream(self, req: Request, url: str, payload: dict[str, Any], headers: dict[str, str], expected: str) -> None:
        async with self.client.stream("POST", f"{url}/v1/chat/completions", json=payload, headers=headers) as r:
            req.status = r.status_code
            req.head = True
            req.first_byte = self.clock.now()
            if r.status_code != 200:
                body = await r.aread()
                req.outcome, req.error = "http_error", body.decode(errors="replace")[:400]
                return
            content: list[str] = []
            finish = None
            done = False
            async for line in r.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    done = True
                    break
                try:
                    event = json.loads(data)
                except ValueError:
                    req.outcome, req.error = "bad_content", f"non-JSON event: {data[:200]}"
                    return
                if "error" in event:
                    req.outcome = "stream_error"
                    req.error = json.dumps(event["error"])[:400]
                    # The worker must still end the stream with [DONE]; read on briefly.
                    continue
                for choice in event.get("choices") or []:
                    piece = (choice.get("delta") or {}).get("content")
                    if piece:
                        content.append(piece)
                        req.chunks += 1
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
                if req.disconnect_after is not None and req.chunks >= req.disconnect_after and req.outcome == "":
                    # On purpose: drop the connection in the middle of the stream.
                    req.outcome, req.error = "client_disconnect", f"client closed after {req.chunks} chunk(s)"
                    return
            if req.outcome == "stream_error":
                if not done:
                    req.error += " (and no [DONE])"
                return
            if not done:
                req.outcome, req.error = "truncated", f"stream ended without [DONE] after {req.chunks} chunk(s)"
                return
            text = "".join(content)
            if text != expected or finish != "stop":
                req.outcome, req.error = "bad_content", f"expected {expected!r}/stop, got {text!r}/{finish!r}"
                return
            req.outcome = "ok"

    async def close(self) -> None:
        await self.client.aclose()
