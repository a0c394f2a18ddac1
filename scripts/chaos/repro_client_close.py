#!/usr/bin/env python3
"""Repro: a client that closes its connection while a non-streaming answer is being written
makes the worker blame the JWT, fail over, write a second response head, and crash.

    python3 scripts/chaos/repro_client_close.py [--bin-dir .build/debug] [--seconds 20]

A standalone worker (3 JWTs) in front of the simulator; 48 clients (``--clients``) each send a non-streaming
completion on a fresh connection and close the socket at a random moment around when the answer
arrives (0.6–1.3 × the median answer time, measured first). Expected: the worker logs client disconnects and
keeps running. Observed: ``upstream attempt failed ... upstream connection failed (I/O on closed
channel)`` (the JWT is marked cooling_down for a client-side event), then
``ResponseWriter.swift:39: Precondition failed: response head written twice`` and the worker
dies (SIGILL / trap, debug and release). Exit status 1 when the worker died.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


async def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--bin-dir", default=os.environ.get("JBAI_BIN_DIR") or str(REPO / ".build" / "debug"))
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--clients", type=int, default=48)
    args = p.parse_args()
    bins = Path(args.bin_dir)
    d = Path(tempfile.mkdtemp(prefix="jbai-repro-close-"))
    sim = subprocess.Popen([str(bins / "jetbrains-ai-simulator"), "--listen", "127.0.0.1:0"],
                           stdout=open(d / "simulator.log", "w"), stderr=subprocess.STDOUT)
    worker = None
    try:
        for _ in range(100):
            m = re.search(r"Simulator listening on (http://\S+)", (d / "simulator.log").read_text())
            if m:
                break
            time.sleep(0.1)
        url = m.group(1)
        # One CPU for the worker: its event loop and its tasks then interleave as on a busy machine.
        worker = subprocess.Popen(
            ["taskset", "-c", "0", str(bins / "jetbrains-ai-proxy"), "-c", "jwt-1,jwt-2,jwt-3", "-k", "k", "-p", "0", "-h", "127.0.0.1",
             "--upstream", url],
            stdout=open(d / "worker.log", "w"), stderr=subprocess.STDOUT,
        )
        for _ in range(100):
            m = re.search(r"Server starting on 127\.0\.0\.1:(\d+)", (d / "worker.log").read_text())
            if m:
                break
            time.sleep(0.1)
        port = int(m.group(1))
        body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hello [[chunks=3]] [[delay_ms=20]]"}]}).encode()
        request = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n"
                   b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
        # How long an answer takes here, so the clients close around that moment.
        samples = []
        for _ in range(20):
            t = time.monotonic()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            await writer.drain()
            data = b""
            while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
                chunk = await reader.read(65536)
                if not chunk:
                    break
                data += chunk
            samples.append(time.monotonic() - t)
            writer.close()
        latency = sorted(samples)[len(samples) // 2]
        print(f"median answer time {latency * 1000:.0f} ms; clients close between {latency * 600:.0f} and {latency * 1300:.0f} ms")
        sent = 0
        stop = time.monotonic() + args.seconds

        async def client(seed: int) -> None:
            nonlocal sent
            rng = random.Random(seed)
            while time.monotonic() < stop and worker.poll() is None:
                try:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.sleep(0.05)
                    continue
                writer.write(request)
                await writer.drain()
                sent += 1
                await asyncio.sleep(rng.uniform(0.6, 1.3) * latency)
                writer.transport.abort() if rng.random() < 0.5 else writer.close()

        await asyncio.gather(*(client(i) for i in range(args.clients)))
        log = (d / "worker.log").read_text(errors="replace")
        died = worker.poll() is not None
        print(f"requests sent: {sent}; worker {'DIED (status ' + str(worker.returncode) + ')' if died else 'still running'}")
        print(f"attempts failed with 'I/O on closed channel' (a healthy JWT marked cooling_down): {log.count('I/O on closed channel')}")
        for line in sorted(set(re.findall(r"\S+\.swift:\d+: (?:Precondition failed|Fatal error|Assertion failed)[^\n*]*", log))):
            print("worker log:", line)
        print(f"logs: {d}")
        return 1 if died else 0
    finally:
        for proc in (worker, sim):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
