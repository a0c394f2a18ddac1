#!/usr/bin/env python3
"""Repro: when the supervisor replaces a worker (reload of a changed tenant, ``ctl restart``),
the old worker's drain drops a request it had already accepted.

    python3 scripts/chaos/repro_drain.py [--bin-dir .build/debug]

Part 1 (deterministic): a client connects to a one-tenant fleet and sends the request head and
the start of the body; the tenant is restarted (``POST /tenants/solo/restart`` on the control
socket, the same replacement path a reload takes); once the new worker has taken over, the
client sends the rest of the body. Expected (fleet-config.md, "replaced without refusing or
failing a request"): an answer. Observed: the old worker closes the connection without any
response (``HTTPServer.beginShutdown`` closes every connection not marked busy, and a
connection is only busy once a complete request was handed to the processor).

Part 2 (statistical): 4 clients send small completions on fresh connections while the tenant's
JWT list changes every 0.7 s (SIGHUP); every request must succeed. Prints the failures and
what the replaced workers did (exit status, fatal runtime messages).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402

from fleet import MARKER_ENV, FleetFile, Simulator, Supervisor, TenantSpec, TokenSpec, run_processes  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


async def fleet(bins: Path, d: Path):
    env = dict(os.environ)
    env[MARKER_ENV] = str(d)
    sim = Simulator(bins, d, env)
    await sim.start()
    spec = TenantSpec("solo", "key-solo", [TokenSpec("j1", "jwt-1"), TokenSpec("j2", "jwt-2")], next_token=2)
    ff = FleetFile(d / "fleet.yaml", sim.url, bins / "jetbrains-ai-proxy", [spec])
    ff.write()
    sup = Supervisor(bins, d, ff, env)
    await sup.start()
    status = await sup.wait_running(["solo"], 30)
    port = int(status["tenants"]["solo"]["listen"].rsplit(":", 1)[1])
    return sim, sup, ff, spec, port, status["tenants"]["solo"]["pid"]


async def part1(bins: Path) -> bool:
    d = Path(tempfile.mkdtemp(prefix="jbai-repro-drain1-"))
    sim, sup, _, _, port, old = await fleet(bins, d)
    try:
        body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]}).encode()
        head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer key-solo\r\n"
                b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head + body[:10])
        await writer.drain()
        await asyncio.sleep(0.5)
        r = await sup.uds.post("/tenants/solo/restart")
        print(f"part 1: request head sent to worker pid {old}; restart → {r.status_code} {r.json().get('message')}")
        new = old
        for _ in range(100):
            new = (await sup.status())["tenants"]["solo"]["pid"]
            if new not in (None, old):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)
        writer.write(body[10:])
        await writer.drain()
        try:
            data = await asyncio.wait_for(reader.read(4096), 10)
        except (OSError, asyncio.TimeoutError) as e:
            data = f"error {type(e).__name__} {e}".encode()
        first = data.split(b"\r\n", 1)[0] if data else b"(connection closed without any response)"
        ok = first.startswith(b"HTTP/1.1 200")
        print(f"part 1: new worker pid {new}; rest of the body sent; answer: {first.decode(errors='replace')} → {'ok' if ok else 'BUG'}")
        return ok
    finally:
        await sup.close(10)
        await sim.close()


async def part2(bins: Path, seconds: float) -> bool:
    d = Path(tempfile.mkdtemp(prefix="jbai-repro-drain2-"))
    sim, sup, ff, spec, port, _ = await fleet(bins, d)
    client = httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0), timeout=30, trust_env=False)
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    stop = time.monotonic() + seconds
    failures: list[str] = []
    sent = 0
    reloads = 0

    async def load() -> None:
        nonlocal sent
        while time.monotonic() < stop:
            sent += 1
            try:
                r = await client.post(url, json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi [[chunks=2]]"}]},
                                      headers={"Authorization": "Bearer key-solo"})
                if r.status_code != 200:
                    failures.append(f"HTTP {r.status_code}: {r.text[:120]}")
            except httpx.HTTPError as e:
                failures.append(f"{type(e).__name__}: {e}")

    async def reloader() -> None:
        nonlocal reloads
        while time.monotonic() < stop:
            await asyncio.sleep(0.7)
            spec.next_token += 1
            spec.tokens = [TokenSpec("j1", "jwt-1"), TokenSpec(f"j{spec.next_token}", f"jwt-{spec.next_token}")]
            ff.write()
            sup.sighup()
            reloads += 1

    try:
        await asyncio.gather(*(load() for _ in range(4)), reloader())
    finally:
        await client.aclose()
        await sup.close(15)
        await sim.close()
    kinds: dict[str, int] = {}
    for f in failures:
        kinds[f] = kinds.get(f, 0) + 1
    print(f"part 2: {sent} requests during {reloads} reloads, {len(failures)} failed")
    for text, n in sorted(kinds.items(), key=lambda kv: -kv[1]):
        print(f"  {n:4d} x {text}")
    log = (d / "logs" / "solo.log").read_text(errors="replace")
    exits: dict[str, int] = {}
    for m in re.finditer(r"worker pid \d+ exited: (.*)", log):
        exits[m.group(1)] = exits.get(m.group(1), 0) + 1
    print("  worker exits: " + ", ".join(f"{v} x {k}" for k, v in sorted(exits.items())))
    kills: dict[str, int] = {}
    for m in re.finditer(r"killing worker pid \d+: (.*)", log):
        kills[m.group(1)] = kills.get(m.group(1), 0) + 1
    for k, v in kills.items():
        print(f"  supervisor killed {v} worker(s): {k}")
    fatal: dict[str, int] = {}
    for m in re.finditer(r"\S+\.swift:\d+: (?:Precondition failed|Fatal error|Assertion failed)[^\n*]*", log):
        fatal[m.group(0).strip()] = fatal.get(m.group(0).strip(), 0) + 1
    for k, v in fatal.items():
        print(f"  {v} x {k}")
    print(f"  logs: {d}")
    leftovers = run_processes(d)
    if leftovers:
        print(f"  leftover processes: {leftovers}")
    return not failures


async def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--bin-dir", default=os.environ.get("JBAI_BIN_DIR") or str(REPO / ".build" / "debug"))
    p.add_argument("--seconds", type=float, default=30)
    args = p.parse_args()
    bins = Path(args.bin_dir)
    ok1 = await part1(bins)
    ok2 = await part2(bins, args.seconds)
    return 0 if ok1 and ok2 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
