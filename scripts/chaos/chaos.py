#!/usr/bin/env python3
"""Chaos run: a 3-tenant fleet under steady mixed load while faults are injected at random.

    python3 scripts/chaos/chaos.py [DURATION_SECONDS] [--seed N] [--bin-dir DIR] [--keep] [--quiet]

(``scripts/chaos.sh`` builds first and calls this.) It starts the simulator and a supervisor
with 3 tenants of 3 JWTs each in a temporary directory, runs client load for DURATION seconds
(default 300) and injects, at random intervals drawn from a seeded RNG (the seed is printed;
``--seed`` replays the same fault schedule): worker SIGKILL and SIGSTOP, upstream faults on
JWTs (401, 477, 500, hang, mid-stream drop, garbage; with a count or removed after a while;
sometimes on every JWT of a tenant at once), the simulator's wire variants, reloads that add or
remove a JWT (SIGHUP, POST /reload or ``ctl reload``), and client disconnects mid-stream. Next
to that, hostile clients (``hostile.py``) whose outcomes are checked against the fleet's client
limits, counted apart from the well-formed requests. It keeps a timeline of every fault and
request (``timeline.jsonl`` in the run directory) and prints: requests sent, succeeded and
failed, each failure with its cause (see ``report.py``), faults by kind, orphan processes,
the supervisor's file descriptors before and after, and RSS growth.

Exit status: 0 when there is no ``unexplained`` failure, no hostile act with an unexpected
outcome, no orphan process, no fd leak (supervisor; workers after the hostile clients are gone)
and RSS within bounds; 1 otherwise; 2 when the run could not be set up. The run directory is deleted on success
and kept (path printed) on failure or with ``--keep``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from faults import RELOAD_KINDS, UPSTREAM_KINDS, WEIGHTS, WORKER_KINDS, Injector, Monitor  # noqa: E402
from fleet import (  # noqa: E402
    LIMITS, MARKER_ENV, WORKER_NAME, Clock, FleetFile, Simulator, Supervisor, TenantSpec, TokenSpec,
    attempt_errors, dump_json, fatal_messages, fd_kind, fd_targets, log_lines_between, rss_kib, run_processes,
    worker_exits,
)
from hostile import BURST_MAX, FD_HEADROOM, Hostile  # noqa: E402
from load import Load  # noqa: E402
from report import CAUSES, Classifier, counts, describe_request  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TENANTS = ["alpha", "bravo", "charlie"]
FD_SLACK = 4
#: A worker's fds at the end may exceed the most any worker had at the start by this much
#: (its pool of upstream connections to the simulator grows with the load it has seen).
WORKER_FD_SLACK = 24
#: RSS bounds (MiB) for the peak of any sample: a debug build under the run's load stays far below.
RSS_BOUND_MIB = {"supervisor": 256, "worker": 768}
#: What the injected upstream faults make the worker log: status 401/477/500, a hang (timeout),
#: a drop (the stream ends early).
INJECTED_REASON = re.compile(
    r"^upstream answered (401|477|500)$|timed out|deadlineExceeded|stream ended at an unexpected time|stream ended before"
    r"|^malformed upstream (event|answer|response)"
)
SHUTDOWN_TIMEOUT = 5.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("duration", nargs="?", type=float, default=300.0, help="seconds of load and faults (default 300)")
    p.add_argument("--seed", type=int, default=None, help="RNG seed (default: random, printed)")
    p.add_argument("--bin-dir", default=os.environ.get("JBAI_BIN_DIR") or str(REPO / ".build" / "debug"))
    p.add_argument("--clients", type=int, default=3, help="concurrent clients per tenant (default 3)")
    p.add_argument("--interval", default="0.5,2.5", help="seconds between faults: MIN,MAX (default 0.5,2.5)")
    p.add_argument("--skip", default="", help="fault kinds not to inject, comma-separated (e.g. reload,sigstop)")
    p.add_argument("--keep", action="store_true", help="keep the run directory even on success")
    p.add_argument("--quiet", action="store_true", help="list only unexplained failures, not every failure")
    p.add_argument("--no-hostile", action="store_true", help="no hostile clients (slowloris, bursts, malformed requests, bad ctl calls)")
    p.add_argument("--burst", type=int, default=BURST_MAX, help=f"connections per burst (default {BURST_MAX}, less when the fd limit is lower)")
    args = p.parse_args(argv)
    if args.duration <= 0:
        p.error("DURATION must be positive")
    lo, hi = (float(x) for x in args.interval.split(","))
    args.interval = (lo, hi)
    args.skip = {k.strip() for k in args.skip.split(",") if k.strip()}
    known = {k for k, _ in WEIGHTS}
    if args.skip - known:
        p.error(f"unknown fault kind(s) {sorted(args.skip - known)}; kinds: {sorted(known)}")
    if not known - args.skip:
        p.error("--skip leaves no fault kind to inject")
    return args


def say(*parts: Any) -> None:
    print(*parts, flush=True)


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 2**31)
        self.bin_dir = Path(args.bin_dir).resolve()
        self.dir = Path(tempfile.mkdtemp(prefix="jbai-chaos-"))
        self.clock = Clock()
        self.env = dict(os.environ)
        self.env[MARKER_ENV] = str(self.dir)
        self.env.pop("JBAI_SUPERVISOR_SOCKET", None)
        self.sim: Simulator | None = None
        self.sup: Supervisor | None = None
        self.load: Load | None = None
        self.monitor: Monitor | None = None
        self.injector: Injector | None = None
        self.problems: list[str] = []
        self.monitor_task: asyncio.Task[Any] | None = None
        self.hostile: Hostile | None = None
        self.nofile = raise_nofile()

    # -- measurements

    async def fds(self, pid: int) -> list[str]:
        """The supervisor's fds after a quiet moment: the fewest over a few samples while our
        own control-socket polling is paused (it opens a connection per poll)."""
        assert self.monitor is not None
        self.monitor.paused.clear()
        await asyncio.sleep(0.3)
        best: list[str] | None = None
        for _ in range(6):
            targets = fd_targets(pid) or []
            if best is None or len(targets) < len(best):
                best = targets
            await asyncio.sleep(0.2)
        self.monitor.paused.set()
        return best or []

    def worker_rss(self) -> dict[str, tuple[int, int | None]]:
        assert self.monitor is not None
        out = {}
        for name in TENANTS:
            pid = self.monitor.pid_of(name)
            if pid:
                out[name] = (pid, rss_kib(pid))
        return out

    def workers_alive(self) -> list[tuple[int, str]]:
        return [(pid, line) for pid, line in run_processes(self.dir) if WORKER_NAME in line]

    # -- the run

    async def main(self) -> int:
        a = self.args
        for name in ("jetbrains-ai-simulator", "jetbrains-ai-supervisor", WORKER_NAME):
            if not os.access(self.bin_dir / name, os.X_OK):
                say(f"chaos: {self.bin_dir / name} not found; build first (scripts/chaos.sh does)")
                return 2
        say(f"== chaos run: seed {self.seed} (replay: scripts/chaos.sh {a.duration:g} --seed {self.seed}), "
            f"{a.duration:g}s, {len(TENANTS)} tenants x 3 JWTs, {a.clients} clients per tenant")
        say(f"   run directory {self.dir}" + (f"; not injecting: {', '.join(sorted(a.skip))}" if a.skip else ""))
        self.burst = max(0, min(a.burst, self.nofile - FD_HEADROOM))
        if not a.no_hostile:
            say(f"   hostile clients on; bursts of {self.burst} connections (RLIMIT_NOFILE {self.nofile})")
        try:
            return await self._main()
        finally:
            await self.cleanup()

    async def _main(self) -> int:
        a = self.args
        self.sim = Simulator(self.bin_dir, self.dir, self.env)
        await self.sim.start()
        rng = random.Random(f"{self.seed}/setup")
        specs = []
        for t in TENANTS:
            tokens = [TokenSpec(f"j{i}", f"chaos-{t}-j{i}-{rng.randrange(1 << 40):010x}") for i in (1, 2, 3)]
            for k in tokens:
                await self.sim.add_jwt(k.jwt)
            specs.append(TenantSpec(t, f"key-{t}-{rng.randrange(1 << 40):010x}", tokens, next_token=3))
        fleet = FleetFile(self.dir / "fleet.yaml", self.sim.url, self.bin_dir / WORKER_NAME, specs)
        fleet.write()
        self.sup = Supervisor(self.bin_dir, self.dir, fleet, self.env)
        await self.sup.start()
        status = await self.sup.wait_running(TENANTS, timeout=60)
        urls = {}
        for t in TENANTS:
            host, port = status["tenants"][t]["listen"].rsplit(":", 1)
            urls[t] = (f"http://127.0.0.1:{port}", fleet.tenants[t].key)
        self.monitor = Monitor(self.clock, self.sim, self.sup, TENANTS)
        self.monitor_task = asyncio.create_task(self.monitor.run())
        self.load = Load(self.clock, urls, self.seed, a.clients)

        # Warm-up: every tenant answers, then a quiet moment, then the baseline.
        warm = random.Random(0)
        for t in TENANTS:
            for _ in range(3):
                r = await self.load.one(t, warm, no_disconnect=True)
                if r.outcome != "ok":
                    say(f"chaos: setup failed, warm-up request to {t}: {describe_request(r)}")
                    return 2
        warmup_ids = {r.id for r in self.load.requests}
        await asyncio.sleep(1.0)
        sup_pid = self.sup.pid
        fd_start = await self.fds(sup_pid)
        rss_sup_start = rss_kib(sup_pid)
        rss_workers_start = self.worker_rss()
        pids_start = {t: self.monitor.pid_of(t) for t in TENANTS}
        wfd_start = {t: fd_targets(p) for t, (p, _) in rss_workers_start.items()}

        # Load and faults.
        load_start = self.clock.now()
        self.injector = Injector(self.clock, self.seed, self.sim, self.sup, fleet, self.monitor, self.load, a.interval, skip=a.skip)
        inject_until = load_start + a.duration * 0.95
        injector_task = asyncio.create_task(self.injector.run(inject_until))
        hostile_task = None
        if not a.no_hostile:
            self.hostile = Hostile(self.clock, self.seed, urls, self.sup, self.bin_dir, self.env, self.burst)
            long_run = a.duration > 300
            hostile_task = asyncio.create_task(self.hostile.run(
                load_start + a.duration * 0.9, first_burst=60.0 if long_run else a.duration * 0.1,
                burst_every=(90.0, 150.0) if long_run else (a.duration, a.duration)))
        say(f"   fleet up (supervisor pid {sup_pid}); load and faults for {a.duration:g}s ...")
        progress = asyncio.create_task(self._progress(load_start, a.duration))
        lag_task = asyncio.create_task(self._lag())
        await self.load.run(a.duration)
        load_end = self.clock.now()
        progress.cancel()
        lag_task.cancel()
        await injector_task
        if hostile_task is not None and self.hostile is not None:
            await hostile_task
            await self.hostile.finish(timeout=30)
        self.injector.end_protocol()
        await self.injector.finish(timeout=5)
        await self.injector.settle(timeout=30)

        # Quiet moment: every tenant running, replaced workers gone.
        try:
            await self.sup.wait_running(TENANTS, timeout=30)
        except RuntimeError as e:
            self.problems.append(f"after the load: {e}")
        deadline = time.monotonic() + SHUTDOWN_TIMEOUT + 10
        while time.monotonic() < deadline and len(self.workers_alive()) > len(TENANTS):
            await asyncio.sleep(0.2)
        stray = self.workers_alive()
        if len(stray) > len(TENANTS):
            self.problems.append(
                f"{len(stray)} worker processes alive after the load for {len(TENANTS)} tenants: "
                + "; ".join(f"{p} {l}" for p, l in stray)
            )
        await asyncio.sleep(1.5)
        wfd_end = {t: fd_targets(p) for t, (p, _) in self.worker_rss().items()}
        fd_end = await self.fds(sup_pid)
        rss_sup_end = rss_kib(sup_pid)
        rss_workers_end = self.worker_rss()
        try:
            sim_stats = await self.sim.stats()
        except Exception as e:  # noqa: BLE001
            sim_stats = {}
            self.problems.append(f"the simulator's /_sim/stats failed: {e!r}")
        try:
            final_status = await self.sup.status()
        except Exception as e:  # noqa: BLE001
            final_status = {}
            self.problems.append(f"the supervisor's /status failed after the load: {e!r}")

        self.monitor.stop()
        await self.monitor_task

        # Shutdown and orphans.
        rc = await self.sup.close(timeout=SHUTDOWN_TIMEOUT + 15)
        if rc != 0:
            self.problems.append(f"supervisor exit status on SIGTERM: {rc if rc is not None else 'did not exit, SIGKILLed'}")
        orphans = []
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            orphans = [(p, l) for p, l in run_processes(self.dir) if p != self.sim.child.pid]
            if not orphans:
                break
            await asyncio.sleep(0.1)
        for pid, _ in orphans:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        end_of_run = self.clock.now()
        return self.report(
            load_start=load_start, load_end=load_end, end_of_run=end_of_run, warmup_ids=warmup_ids,
            fd_start=fd_start, fd_end=fd_end, rss_sup=(rss_sup_start, rss_sup_end),
            rss_workers=(rss_workers_start, rss_workers_end), pids_start=pids_start,
            orphans=orphans, sim_stats=sim_stats, final_status=final_status, wfd=(wfd_start, wfd_end),
        )

    async def _lag(self) -> None:
        """How late our own event loop wakes up: a stall of the load generator longer than the
        fleet's header_timeout would fail well-formed requests for reasons of our own."""
        self.lags: list[tuple[float, float]] = []
        while True:
            t = time.monotonic()
            await asyncio.sleep(0.05)
            late = time.monotonic() - t - 0.05
            if late > 0.25:
                self.lags.append((self.clock.now(), late))

    async def _progress(self, start: float, duration: float) -> None:
        assert self.load is not None and self.injector is not None
        step = 30.0 if duration > 90 else 15.0
        while True:
            await asyncio.sleep(step)
            reqs = [r for r in self.load.requests if r.end]
            ok = sum(1 for r in reqs if r.outcome == "ok")
            say(f"   t={self.clock.now() - start:5.0f}s  requests {len(reqs)} ({ok} ok), faults {len(self.injector.faults)}")

    # -- the report

    def report(self, **m: Any) -> int:
        assert self.load is not None and self.injector is not None and self.monitor is not None
        inj, mon = self.injector, self.monitor
        requests = [r for r in self.load.requests if r.id not in m["warmup_ids"]]
        crashes = self.unexpected_exits()
        hostile = self.hostile.acts if self.hostile is not None else []
        capped = [(h.target, h.start, h.end) for h in hostile
                  if h.kind == "burst" and LIMITS["max_connections"].get(h.target, 1 << 30) <= self.burst]
        classifier = Classifier(inj.faults, inj.versions, mon, m["end_of_run"], crashes, capped=capped)
        if self.hostile is not None:
            def cut(tenant: str, start: float, end: float) -> str:
                for t, a, b in capped:  # a burst held the port at max_connections: shed at once, by design
                    if t == tenant and a <= end and b >= start:
                        return f"shed by max_connections during the burst {a:.3f} .. {b:.3f}"
                return classifier.cut_by_fault(tenant, start, end)
            self.hostile.excuse(cut)
        failed = [r for r in requests if r.outcome != "ok"]
        verdicts = {r.id: classifier.classify(r) for r in failed}
        by_cause = counts(v.cause for v in verdicts.values())
        unexplained = [r for r in failed if verdicts[r.id].cause == "unexplained"]

        say("")
        say(f"== result (seed {self.seed}, load {m['load_end'] - m['load_start']:.1f}s)")
        streams = sum(1 for r in requests if r.stream)
        say(f"requests: sent {len(requests)} ({streams} streaming, {len(requests) - streams} not), "
            f"succeeded {len(requests) - len(failed)}, failed {len(failed)}")
        say("failures by cause:")
        for cause in CAUSES:
            sub = ""
            if cause == "worker_killed_in_flight" and by_cause.get(cause):
                kinds = counts(
                    "upstream_drop_mid_stream" if verdicts[r.id].why.startswith("upstream drop")
                    else "drain_deadline" if verdicts[r.id].why.startswith("drain deadline")
                    else verdicts[r.id].why.split()[0]
                    for r in failed if verdicts[r.id].cause == cause
                )
                sub = "  (" + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) + ")"
            say(f"  {cause:<24} {by_cause.get(cause, 0):>6}{sub}")
        listed = failed if not self.args.quiet else unexplained
        if listed:
            say(f"{'unexplained ' if self.args.quiet else ''}failures (request, tenant, mode, start .. end, outcome, status, detail → cause):")
            for r in sorted(listed, key=lambda r: r.start):
                v = verdicts[r.id]
                say(f"  {describe_request(r)}\n      → {v.cause}: {v.why}")

        by_kind = counts(f.kind for f in inj.faults)
        outages = sum(1 for f in inj.faults if f.detail.get("outage"))
        say("faults injected by kind: " + ", ".join(f"{k} {by_kind[k]}" for k in sorted(by_kind))
            + f"  (total {len(inj.faults)}; {outages} of the upstream ones were part of a whole-tenant outage; "
              f"{inj.skipped} draws skipped)")
        applied = m["sim_stats"].get("faults_applied", {}) if isinstance(m["sim_stats"], dict) else {}
        say("upstream faults applied by the simulator: " + (", ".join(f"{k} {v}" for k, v in sorted(applied.items())) or "none"))
        recov = [f.end - f.start for f in inj.faults if f.kind in WORKER_KINDS and f.end is not None]
        if recov:
            say(f"worker replaced after kill/stop: n={len(recov)}, median {statistics.median(recov):.2f}s, max {max(recov):.2f}s")
        reloads = [f for f in inj.faults if f.kind in RELOAD_KINDS]
        took = [f.end - f.start for f in reloads if f.end is not None]
        if took:
            say(f"reloads: {len(reloads)}, new worker serving after median {statistics.median(took):.2f}s, max {max(took):.2f}s")

        bad_hostile = self.report_hostile(requests, hostile)
        lags = getattr(self, "lags", [])
        say(f"the load generator's own event loop: {len(lags)} stall(s) over 250 ms"
            + (f", longest {max(l for _, l in lags):.2f}s at {max(lags, key=lambda x: x[1])[0]:.1f}s" if lags else ""))

        # Orphans.
        orphans = m["orphans"]
        if orphans:
            say(f"orphan processes after the supervisor's shutdown: {len(orphans)}")
            for pid, line in orphans:
                say(f"  pid {pid}: {line}")
        else:
            say("orphan processes after the supervisor's shutdown: none")

        # File descriptors.
        fd_start, fd_end = m["fd_start"], m["fd_end"]
        growth = len(fd_end) - len(fd_start)
        fd_leak = growth > FD_SLACK
        ks, ke = counts(fd_kind(t) for t in fd_start), counts(fd_kind(t) for t in fd_end)
        diff = ", ".join(f"{k} {ks.get(k, 0)}→{ke.get(k, 0)}" for k in sorted(set(ks) | set(ke)) if ks.get(k, 0) != ke.get(k, 0))
        say(f"supervisor file descriptors: {len(fd_start)} at the start, {len(fd_end)} at the end "
            f"({growth:+d}; slack {FD_SLACK}) → {'LEAK' if fd_leak else 'ok'}" + (f"  [{diff}]" if diff else ""))

        # Memory.
        s0, s1 = m["rss_sup"]
        say(f"RSS supervisor: {kib(s0)} → {kib(s1)} ({delta(s0, s1)}), peak {kib(mon.rss_peak.get('supervisor'))}")
        w0, w1 = m["rss_workers"]
        for t in TENANTS:
            p0, r0 = w0.get(t, (None, None))
            p1, r1 = w1.get(t, (None, None))
            same = " (same worker)" if p0 == p1 else ""
            say(f"RSS worker {t:<8}: pid {p0} {kib(r0)} → pid {p1} {kib(r1)} ({delta(r0, r1)}){same}, "
                f"peak {kib(mon.rss_peak.get('worker:' + t))}")
        rss_over = [f"{label} peak {kib(v)} over {RSS_BOUND_MIB[label.split(':')[0]]} MiB"
                    for label, v in mon.rss_peak.items() if v > RSS_BOUND_MIB[label.split(":")[0]] * 1024]
        say(f"RSS bound (peak supervisor < {RSS_BOUND_MIB['supervisor']} MiB, worker < {RSS_BOUND_MIB['worker']} MiB): "
            + ("; ".join(rss_over) if rss_over else "ok"))
        w_start, w_end = m["wfd"]
        base = max((len(v) for v in w_start.values() if v is not None), default=0)
        wfd_leak = [t for t, v in w_end.items() if v is not None and len(v) > base + WORKER_FD_SLACK]
        say(f"worker file descriptors after the hostile clients were gone: "
            + ", ".join(f"{t} {len(v) if v is not None else '?'}" for t, v in sorted(w_end.items()))
            + f" (at the start at most {base}; slack {WORKER_FD_SLACK}) → {'LEAK ' + ','.join(wfd_leak) if wfd_leak else 'ok'}")
        for t in wfd_leak:
            ks = counts(fd_kind(x) for x in w_end[t] or [])
            say(f"  {t}: " + ", ".join(f"{k} {n}" for k, n in sorted(ks.items())))
        inflight = m["sim_stats"].get("in_flight") if isinstance(m["sim_stats"], dict) else None
        say(f"upstream requests still open at the simulator after the load: {inflight}")
        states = {t: (e.get("state"), e.get("restarts")) for t, e in m["final_status"].get("tenants", {}).items()}
        say("tenants at the end (state, restarts): " + ", ".join(f"{t} {s} {n}" for t, (s, n) in sorted(states.items())))
        if inflight:
            self.problems.append(f"the simulator still had {inflight} upstream request(s) open after a quiet moment")
        for f in inj.findings:
            self.problems.append(f)
        reasons = attempt_errors(self.dir / "logs")
        if reasons:
            say("failed upstream attempts, per the workers' logs: "
                + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])))
        odd = {k: v for k, v in reasons.items() if not INJECTED_REASON.search(k)}
        if odd:
            self.problems.append(
                "upstream attempts failed for reasons no injected fault produces (each one put a JWT into "
                "cooling_down): " + ", ".join(f"{v} x {k!r}" for k, v in sorted(odd.items()))
            )
        if crashes:
            self.problems.append(f"{len(crashes)} worker exit(s) the chaos did not cause:")
            for t, tenant, pid, what in crashes:
                when = f"{t:.3f}" if t is not None else "?"
                self.problems.append(f"    {tenant} worker pid {pid} gone at {when}: {what}")
        for tenant, messages in sorted(fatal_messages(self.dir / "logs").items()):
            for line, n in sorted(messages.items()):
                self.problems.append(f"{tenant} worker log: {n} x {line}")
        if mon.status_errors:
            say(f"(the supervisor's /status did not answer {mon.status_errors} poll(s))")
        if self.problems:
            say("other findings:")
            for p in self.problems:
                say(f"  - {p}")

        if unexplained:
            say("")
            say(f"== {len(unexplained)} unexplained failure(s), with the timeline around each:")
            for r in sorted(unexplained, key=lambda r: r.start)[:25]:
                say(describe_request(r))
                say(f"  → {verdicts[r.id].why}")
                for line in classifier.excerpt(r):
                    say(line)
                evidence = log_lines_between(
                    self.dir / "logs" / f"{r.tenant}.log", self.clock.wall0 + r.start, self.clock.wall0 + r.end,
                    re.compile(r"warning|error|critical"),
                )
                if evidence:
                    say(f"  {r.tenant}'s worker log around then (to the second):")
                    for line in evidence[-12:]:
                        say("    " + line.split(" jetbrains-ai-proxy: ", 1)[-1][:220])
                inflight_same = sum(1 for o in requests if o.tenant == r.tenant and o.start <= r.end and o.end >= r.start)
                say(f"  ({inflight_same} requests of {r.tenant} overlapped it)")

        # The timeline file.
        items: list[Any] = [{"type": "run", "seed": self.seed, "duration": self.args.duration,
                             "load_start": m["load_start"], "load_end": m["load_end"]}]
        items += [v.to_json() for v in inj.versions]
        items += [f.to_json() for f in inj.faults]
        items += [e.to_json() for e in mon.events]
        items += [h.to_json() for h in hostile]
        for r in self.load.requests:
            d = r.to_json()
            d["type"] = "request"
            if r.id in verdicts:
                d["cause"], d["why"] = verdicts[r.id].cause, verdicts[r.id].why
            items.append(d)
        dump_json(self.dir / "timeline.jsonl", items)

        ok = not unexplained and not orphans and not fd_leak and not wfd_leak and not rss_over and not bad_hostile
        say("")
        say(f"== {'PASS' if ok else 'FAIL'}: {len(unexplained)} unexplained failure(s), {len(orphans)} orphan(s), "
            f"fd {'leak' if fd_leak or wfd_leak else 'ok'}, RSS {'over its bound' if rss_over else 'ok'}, "
            f"{len(bad_hostile)} hostile act(s) with an unexpected outcome"
            + (f"; {len(self.problems)} other finding(s)" if self.problems else ""))
        self.passed = ok
        return 0 if ok else 1

    def report_hostile(self, requests: list[Any], hostile: list[Any]) -> list[Any]:
        """Prints the hostile acts by kind and the well-formed requests' success rate and
        latency while hostile acts were in flight and while none was; returns the acts whose
        outcome was not the expected one."""
        if self.hostile is None:
            return []
        say("hostile acts (kind/variant: n, as expected, of which excused by a worker fault):")
        groups: dict[str, list[Any]] = {}
        for h in hostile:
            groups.setdefault(h.kind + (f"/{h.variant}" if h.variant else ""), []).append(h)
        for name, acts in sorted(groups.items()):
            good = sum(1 for h in acts if h.ok)
            exc = sum(1 for h in acts if h.ok and h.excused)
            seen = counts(h.observed.split(" ")[0] for h in acts)
            say(f"  {name:<34} {len(acts):>5} {good:>5} {exc:>4}   expected {acts[0].expected}; seen "
                + ", ".join(f"{k} x{n}" for k, n in sorted(seen.items(), key=lambda kv: -kv[1])[:4]))
        for h in hostile:
            if h.kind == "burst":
                say(f"  {h.describe()}")
        bad = [h for h in hostile if not h.ok]
        if bad:
            say(f"hostile acts with an unexpected outcome: {len(bad)}")
            for h in bad[:40]:
                say(f"  {h.describe()}")
        windows = sorted((h.start, h.end) for h in hostile)

        def during(r: Any) -> bool:
            return any(a <= r.end and b >= r.start for a, b in windows)

        well = [r for r in requests if r.outcome != "client_disconnect" and r.disconnect_after is None]
        say("well-formed requests (not abandoned on purpose): success rate, latency of the successful ones:")
        for label, sub in (("all", well), ("during hostile acts", [r for r in well if during(r)]),
                           ("no hostile act in flight", [r for r in well if not during(r)])):
            okd = sorted(r.end - r.start for r in sub if r.outcome == "ok")
            rate = f"{100.0 * len(okd) / len(sub):.2f}%" if sub else "-"
            say(f"  {label:<26} {len(sub):>6} requests, {rate} ok, p50 {pct(okd, 50)}, p99 {pct(okd, 99)}, max {pct(okd, 100)}")
        return bad

    def unexpected_exits(self) -> list[tuple[float | None, str, int, str]]:
        """Worker exits that were not our SIGKILL, our SIGSTOP (then the supervisor's kill), a
        drained replaced worker or the final shutdown, from the supervisor's log."""
        assert self.injector is not None and self.monitor is not None
        killed = {f.detail.get("pid") for f in self.injector.faults if f.kind == "sigkill"}
        stopped = {f.detail.get("pid") for f in self.injector.faults if f.kind == "sigstop"}
        out = []
        for pid, e in sorted(worker_exits(self.dir / "supervisor.log").items()):
            how, status, why = e.get("how", "?"), e.get("status", "?"), e.get("killed_for")
            if pid in stopped:
                continue
            if pid in killed and "SIGKILL" in status and not why:
                continue
            if how in ("replaced", "stopped") and status == "exit code 0" and not why:
                continue
            what = f"{how}: {status}" + (f"; the supervisor killed it: {why}" if why else "")
            out.append((self.monitor.exits.get(pid), e.get("tenant", "?"), pid, what))
        out.sort(key=lambda x: (x[0] is None, x[0] or 0))
        return out

    async def cleanup(self) -> None:
        if self.monitor is not None:
            self.monitor.stop()
            if self.monitor_task is not None and not self.monitor_task.done():
                self.monitor_task.cancel()
                await asyncio.gather(self.monitor_task, return_exceptions=True)
        if self.injector is not None:
            for task in list(self.injector.tasks):
                task.cancel()
        if self.load is not None:
            await self.load.close()
        if self.sup is not None and self.sup.child.running():
            await self.sup.close(timeout=SHUTDOWN_TIMEOUT + 5)
        for pid, _ in run_processes(self.dir):
            if self.sim is None or pid != self.sim.child.pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.sim is not None:
            await self.sim.close()
        if getattr(self, "passed", False) and not self.args.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            say(f"   run directory kept: {self.dir} (timeline.jsonl, supervisor.log, logs/)")


def raise_nofile() -> int:
    """Raises our soft RLIMIT_NOFILE to the hard limit (at most 65,536; the supervisor and its
    workers inherit it) so a burst of hostile connections fits on both ends; returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError):
            pass
    return soft


def pct(sorted_values: list[float], p: float) -> str:
    if not sorted_values:
        return "-"
    i = min(len(sorted_values) - 1, max(0, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return f"{sorted_values[i] * 1000:.0f} ms"


def kib(v: int | None) -> str:
    return "?" if v is None else f"{v / 1024:.1f} MiB"


def delta(a: int | None, b: int | None) -> str:
    if a is None or b is None:
        return "?"
    return f"{(b - a) / 1024:+.1f} MiB"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    run = Run(args)
    try:
        return asyncio.run(run.main())
    except KeyboardInterrupt:
        say("chaos: interrupted")
        return 130
    except Exception as e:  # noqa: BLE001
        import traceback

        traceback.print_exc()
        say(f"chaos: run failed: {type(e).__name__}: {e}")
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
