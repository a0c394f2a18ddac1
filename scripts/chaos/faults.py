"""The fault injector, the fleet monitor, and the timeline they write.

Timeline entries (all times are seconds since the start of the run):

* ``Fault`` — one injected fault: ``start`` (just before the action), ``applied`` (the action
  returned), ``end`` (the fault is over: the simulator fault was deleted or observed consumed,
  the killed/stopped worker was replaced, the reloaded tenant's new worker runs).
* ``PidEvent`` — a tenant's worker pid or slot state changed (from the supervisor's ``/status``).
* ``Version`` — a tenant's JWT set: one per reload, from the moment the reload was triggered.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from fleet import Clock, FleetFile, Simulator, Supervisor, TokenSpec, pid_alive, rss_kib
from load import Load

UPSTREAM_KINDS = ("status_401", "status_477", "status_500", "hang", "drop", "garbage")
WORKER_KINDS = ("sigkill", "sigstop")
RELOAD_KINDS = ("reload_add", "reload_remove")

#: (kind, weight) for the injector's draw; "reload" becomes reload_add or reload_remove.
WEIGHTS = [
    ("sigkill", 3.0),
    ("sigstop", 2.0),
    ("status_401", 1.0),
    ("status_477", 1.5),
    ("status_500", 2.0),
    ("hang", 1.0),
    ("drop", 2.0),
    ("reload", 2.0),
    ("client_disconnect", 1.0),
    ("garbage", 1.5),
    ("protocol", 1.0),
]

#: The simulator's wire variants (``POST /_sim/protocol``, README "Simulator"): the worker must
#: serve every one of them, so a failure while one is on is not explained by it.
PROTOCOL_VARIANTS: dict[str, list[Any]] = {
    "until_format": ["epoch_ms", "iso", "epoch_ms_string"],
    "amount_format": ["string", "number"],
    "event_type": [True, False],
    "quota_shape": ["current", "tariff", "old"],
    "extra_noise": [False, True],
    "omit_parallel_index_when_single": [False, True],
}

HEARTBEAT_TIMEOUT = 2.0
#: At most this many kills/stops per tenant within the supervisor's 60 s window (max_restarts 20).
KILL_BUDGET = 12


@dataclass
class Fault:
    id: int
    kind: str
    tenant: str
    start: float
    applied: float = 0.0
    end: float | None = None
    jwt: str | None = None  # token name
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"type": "fault", **asdict(self)}

    def describe(self) -> str:
        end = f"{self.end:.3f}" if self.end is not None else "-"
        target = f"{self.tenant}/{self.jwt}" if self.jwt else self.tenant
        extra = " ".join(f"{k}={v}" for k, v in self.detail.items() if k not in ("jwt_value",))
        return f"fault#{self.id} {self.kind:<17} {target:<14} {self.start:8.3f} .. {end:>8}  {extra}"


@dataclass
class PidEvent:
    t: float
    tenant: str
    pid: int | None
    state: str

    def to_json(self) -> dict[str, Any]:
        return {"type": "pid", **asdict(self)}


@dataclass
class Version:
    tenant: str
    tokens: list[str]
    trigger: float
    takeover: float | None = None
    known_pids: set[int] = field(default_factory=set)

    def to_json(self) -> dict[str, Any]:
        return {"type": "version", "tenant": self.tenant, "tokens": self.tokens, "trigger": self.trigger, "takeover": self.takeover}


class Monitor:
    """Polls the supervisor's ``/status`` and the simulator's fault list; samples RSS."""

    def __init__(self, clock: Clock, sim: Simulator, sup: Supervisor, tenants: list[str]) -> None:
        self.clock = clock
        self.sim = sim
        self.sup = sup
        self.tenants = tenants
        self.status: dict[str, dict[str, Any]] = {}
        self.events: list[PidEvent] = []
        self.first_seen: dict[int, float] = {}
        self.pid_tenant: dict[int, str] = {}
        self.sim_faults: dict[str, Fault] = {}  # simulator fault id → our fault, while active
        self.rss_peak: dict[str, int] = {}
        self.status_errors = 0
        #: pid → when it was first seen gone (every worker that was a tenant's current one)
        self.exits: dict[int, float] = {}
        #: (tenant, token name) → [(t, state)] whenever the worker-reported state changed
        self.token_states: dict[tuple[str, str], list[tuple[float, str]]] = {}
        self.paused = asyncio.Event()
        self.paused.set()  # set = running
        self._stop = False

    def pid_of(self, tenant: str) -> int | None:
        s = self.status.get(tenant)
        return s.get("pid") if s and s.get("state") == "running" else None

    async def run(self) -> None:
        tick = 0
        while not self._stop:
            await self.paused.wait()
            await self.poll_status()
            if tick % 2 == 0:
                await self.poll_sim_faults()
            if tick % 7 == 0:
                self.sample_rss()
            tick += 1
            await asyncio.sleep(0.1)

    def stop(self) -> None:
        self._stop = True
        self.paused.set()

    async def poll_status(self) -> None:
        try:
            doc = await self.sup.status()
        except (httpx.HTTPError, ValueError):
            self.status_errors += 1
            return
        now = self.clock.now()
        for pid in self.pid_tenant:
            if pid not in self.exits and not pid_alive(pid):
                self.exits[pid] = now
        for name, entry in doc.get("tenants", {}).items():
            old = self.status.get(name)
            pid, state = entry.get("pid"), entry.get("state")
            if pid and pid not in self.first_seen:
                self.first_seen[pid] = now
                self.pid_tenant[pid] = name
            if old is None or old.get("pid") != pid or old.get("state") != state:
                self.events.append(PidEvent(now, name, pid, state))
            self.status[name] = entry
            if state == "running":
                for token in entry.get("tokens") or []:
                    history = self.token_states.setdefault((name, token.get("name")), [])
                    if not history or history[-1][1] != token.get("state"):
                        history.append((now, token.get("state")))

    async def poll_sim_faults(self) -> None:
        if not self.sim_faults:
            return
        try:
            live = await self.sim.fault_ids()
        except (httpx.HTTPError, RuntimeError, ValueError):
            return
        now = self.clock.now()
        for sim_id in list(self.sim_faults):
            if sim_id not in live:
                fault = self.sim_faults.pop(sim_id)
                if fault.end is None:
                    fault.end = now
                    fault.detail["ended_by"] = "consumed"

    def sample_rss(self) -> None:
        pids = {"supervisor": self.sup.pid}
        for name in self.tenants:
            pid = self.pid_of(name)
            if pid:
                pids[f"worker:{name}"] = pid
        for label, pid in pids.items():
            rss = rss_kib(pid)
            if rss is not None:
                self.rss_peak[label] = max(self.rss_peak.get(label, 0), rss)

    def token_healthy_after(self, tenant: str, token: str, t: float) -> float | None:
        """When the tenant's worker first reported ``token`` healthy after ``t`` (a 401 makes a
        JWT invalid; whether a replaced worker inherits that is the supervisor's business, so
        the reported state decides when it is usable again)."""
        for when, state in self.token_states.get((tenant, token), []):
            if when > t and state == "healthy":
                return when
        return None

    def token_state(self, tenant: str, token: str) -> str | None:
        history = self.token_states.get((tenant, token))
        return history[-1][1] if history else None

    def replaced_after(self, tenant: str, t: float) -> float | None:
        """When a worker of ``tenant`` first seen after ``t`` was first seen running."""
        for e in self.events:
            if e.tenant == tenant and e.state == "running" and e.pid and self.first_seen.get(e.pid, -1) > t and e.t > t:
                return e.t
        return None


class Injector:
    def __init__(
        self,
        clock: Clock,
        seed: int,
        sim: Simulator,
        sup: Supervisor,
        fleet: FleetFile,
        monitor: Monitor,
        load: Load,
        interval: tuple[float, float],
        skip: set[str] | None = None,
    ) -> None:
        self.weights = [(k, w) for k, w in WEIGHTS if k not in (skip or set())]
        self.clock = clock
        #: The schedule (when, which kind, which tenant) comes from ``schedule``; each step's details
        #: from ``rng``, reseeded per step, so a step that depends on the fleet's live state (a worker
        #: not running, a reload in progress) cannot shift the rest of a replay.
        self.schedule = random.Random(f"{seed}/faults")
        self.rng = random.Random()
        self.sim = sim
        self.sup = sup
        self.fleet = fleet
        self.monitor = monitor
        self.load = load
        self.interval = interval
        self.faults: list[Fault] = []
        self.versions: list[Version] = [
            Version(t.name, [k.name for k in t.tokens], 0.0, 0.0) for t in fleet.tenants.values()
        ]
        self.jwt_values: dict[tuple[str, str], str] = {
            (t.name, k.name): k.jwt for t in fleet.tenants.values() for k in t.tokens
        }
        self.findings: list[str] = []
        self.tasks: set[asyncio.Task[Any]] = set()
        #: The timers that remove simulator faults (cancelled at the end; the watchers are not).
        self.removals: set[asyncio.Task[Any]] = set()
        self.signalled: set[int] = set()
        self.reload_lock = asyncio.Lock()
        self.skipped = 0

    # -- helpers

    def _spawn(self, coro: Any, removal: bool = False) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        if removal:
            self.removals.add(task)
            task.add_done_callback(self.removals.discard)

    def _new(self, kind: str, tenant: str, jwt: str | None = None, **detail: Any) -> Fault:
        fault = Fault(id=len(self.faults) + 1, kind=kind, tenant=tenant, start=self.clock.now(), jwt=jwt, detail=detail)
        self.faults.append(fault)
        return fault

    def _recent_kills(self, tenant: str, now: float) -> int:
        return sum(1 for f in self.faults if f.tenant == tenant and f.kind in WORKER_KINDS and now - f.start < 60)

    def _pick(self) -> str:
        kinds, weights = zip(*self.weights)
        return self.schedule.choices(kinds, weights=weights)[0]

    # -- the loop

    async def run(self, until: float) -> None:
        while True:
            await asyncio.sleep(self.schedule.uniform(*self.interval))
            if self.clock.now() >= until:
                break
            kind = self._pick()
            tenant = self.schedule.choice(sorted(self.fleet.tenants))
            self.rng.seed(self.schedule.random())
            try:
                done = await self.inject(kind, tenant)
            except Exception as e:  # noqa: BLE001 - a failed injection is reported, the run goes on
                self.findings.append(f"injecting {kind} on {tenant} at {self.clock.now():.3f} failed: {type(e).__name__}: {e}")
                done = False
            if not done:
                self.skipped += 1

    async def finish(self, timeout: float) -> None:
        """Ends every upstream fault (the kill and reload watchers go on, see ``settle``)."""
        removals = list(self.removals)
        for task in removals:
            task.cancel()
        await asyncio.gather(*removals, return_exceptions=True)
        await self.sim.clear_faults()
        now = self.clock.now()
        for fault in self.faults:
            if fault.kind in UPSTREAM_KINDS and fault.end is None:
                fault.end = now
                fault.detail["ended_by"] = "cleared at the end"
        self.monitor.sim_faults.clear()

    async def settle(self, timeout: float) -> None:
        """Waits for kills/reloads still in progress to be resolved (their watchers set ``end``)."""
        deadline = self.clock.now() + timeout
        while self.clock.now() < deadline:
            open_ = [f for f in self.faults if f.kind in WORKER_KINDS + RELOAD_KINDS and f.end is None]
            if not open_:
                break
            await asyncio.sleep(0.1)
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def inject(self, kind: str, tenant: str) -> bool:
        if kind in WORKER_KINDS:
            return await self.signal_worker(kind, tenant)
        if kind == "reload":
            return await self.reload(tenant)
        if kind == "protocol":
            return await self.protocol()
        if kind == "client_disconnect":
            fault = self._new("client_disconnect", tenant)
            fault.applied = fault.end = self.clock.now()
            self.load.abandon_stream(tenant, random.Random(self.rng.random()))
            return True
        return await self.upstream(kind, tenant)

    # -- worker signals

    async def signal_worker(self, kind: str, tenant: str) -> bool:
        pid = self.monitor.pid_of(tenant)
        if (pid is None or pid in self.signalled or not pid_alive(pid)
                or self._recent_kills(tenant, self.clock.now()) >= KILL_BUDGET):
            return False
        self.signalled.add(pid)
        sig = signal.SIGKILL if kind == "sigkill" else signal.SIGSTOP
        fault = self._new(kind, tenant, pid=pid)
        os.kill(pid, sig)
        fault.applied = self.clock.now()
        self._spawn(self._watch_worker(fault, pid))
        return True

    async def _watch_worker(self, fault: Fault, pid: int) -> None:
        if fault.kind == "sigstop":
            # The supervisor must notice (no heartbeat for heartbeat_timeout) and SIGKILL it.
            limit = fault.applied + HEARTBEAT_TIMEOUT + 8.0
            while pid_alive(pid) and self.clock.now() < limit:
                await asyncio.sleep(0.05)
            if pid_alive(pid):
                self.findings.append(
                    f"fault#{fault.id}: SIGSTOPped worker pid {pid} of {fault.tenant} still alive "
                    f"{self.clock.now() - fault.applied:.1f}s later (heartbeat_timeout {HEARTBEAT_TIMEOUT}s); killed it"
                )
                os.kill(pid, signal.SIGKILL)
                fault.detail["killed_by"] = "chaos"
            else:
                fault.detail["killed_after_s"] = round(self.clock.now() - fault.applied, 3)
        limit = self.clock.now() + 30.0
        while self.clock.now() < limit:
            if self.monitor.replaced_after(fault.tenant, fault.start) is not None:
                fault.end = self.monitor.replaced_after(fault.tenant, fault.start)
                fault.detail["new_pid"] = self.monitor.pid_of(fault.tenant)
                return
            await asyncio.sleep(0.05)
        self.findings.append(f"fault#{fault.id}: worker of {fault.tenant} not replaced within 30s after {fault.kind}")

    # -- upstream faults

    async def upstream(self, kind: str, tenant: str) -> bool:
        spec = self.fleet.tenants[tenant]
        names = [k.name for k in spec.tokens]
        outage = kind != "status_401" and self.rng.random() < 0.15
        if kind == "status_401":
            # A 401 makes the JWT invalid in that worker until it is replaced: one at a time per tenant.
            if any(f.kind == "status_401" and f.tenant == tenant and self._effect_open(f) for f in self.faults):
                return False
        targets = names if outage else [self.rng.choice(names)]
        timed = self.rng.random() < 0.5
        duration = round(self.rng.uniform(1.0, 6.0 if not outage else 3.0), 2)
        count = self.rng.randint(1, 5) if kind != "status_401" else self.rng.randint(1, 2)
        body: dict[str, Any] = {"endpoint": "chat"}
        if kind.startswith("status_"):
            body.update(kind="status", status=int(kind.split("_")[1]))
        elif kind == "hang":
            body.update(kind="hang")
        elif kind == "drop":
            body.update(kind="drop", after_events=self.rng.choice([0, 1, 1, 2, 3]))
        elif kind == "garbage":
            body.update(kind="garbage")
        if kind == "status_401":
            timed = False
        for name in targets:
            jwt = self.jwt_values[(tenant, name)]
            fault = self._new(kind, tenant, jwt=name, outage=outage)
            if "after_events" in body:
                fault.detail["after_events"] = body["after_events"]
            if timed:
                fault.detail["duration_s"] = duration
                sim_id = await self.sim.add_fault(jwt=jwt, **body)
            else:
                fault.detail["count"] = count
                sim_id = await self.sim.add_fault(jwt=jwt, count=count, **body)
            fault.applied = self.clock.now()
            fault.detail["sim_id"] = sim_id
            self.monitor.sim_faults[sim_id] = fault
            # A counted fault on a JWT nobody uses any more must not linger: at most 15 s.
            self._spawn(self._remove_later(fault, sim_id, duration if timed else 15.0), removal=True)
        return True

    def _effect_open(self, fault: Fault) -> bool:
        if fault.end is None:
            return True
        if fault.jwt not in {k.name for k in self.fleet.tenants[fault.tenant].tokens}:
            return False
        return self.monitor.token_healthy_after(fault.tenant, fault.jwt or "", fault.end) is None

    async def _remove_later(self, fault: Fault, sim_id: str, after: float) -> None:
        await asyncio.sleep(after)
        if fault.end is not None:
            return
        t = self.clock.now()
        deleted = await self.sim.delete_fault(sim_id)
        if fault.end is None:
            fault.end = t if deleted else self.clock.now()
            fault.detail["ended_by"] = "deleted" if deleted else "consumed"
        self.monitor.sim_faults.pop(sim_id, None)

    # -- protocol variants (the whole simulator, every tenant)

    async def protocol(self) -> bool:
        settings = {k: self.rng.choice(v) for k, v in PROTOCOL_VARIANTS.items() if self.rng.random() < 0.6}
        if not settings:
            settings = {"extra_noise": True}
        fault = self._new("protocol", "*", **settings)
        code, body = await self.sim.admin("POST", "protocol", json=settings)
        fault.applied = self.clock.now()
        if code != 200:
            self.findings.append(f"fault#{fault.id}: POST /_sim/protocol {settings} answered {code}: {body}")
        for f in self.faults:
            if f.kind == "protocol" and f.end is None and f is not fault:
                f.end = fault.applied
        return True

    def end_protocol(self) -> None:
        now = self.clock.now()
        for f in self.faults:
            if f.kind == "protocol" and f.end is None:
                f.end = now

    # -- reloads

    async def reload(self, tenant: str) -> bool:
        if self.reload_lock.locked():
            return False
        async with self.reload_lock:
            spec = self.fleet.tenants[tenant]
            n = len(spec.tokens)
            add = n <= 2 or (n < 4 and self.rng.random() < 0.5)
            method = self.rng.choice(["sighup", "http", "ctl"])
            if add:
                spec.next_token += 1
                name = f"j{spec.next_token}"
                while any(k.name == name for k in spec.tokens):
                    spec.next_token += 1
                    name = f"j{spec.next_token}"
                jwt = f"chaos-{tenant}-{name}-{self.rng.randrange(1 << 40):010x}"
                await self.sim.add_jwt(jwt)
                self.jwt_values[(tenant, name)] = jwt
                fault = self._new("reload_add", tenant, jwt=name, method=method)
                spec.tokens.append(TokenSpec(name, jwt))
            else:
                invalid = [k for k in spec.tokens if self.monitor.token_state(tenant, k.name) == "invalid"]
                victim = self.rng.choice(invalid if invalid and self.rng.random() < 0.8 else spec.tokens)
                fault = self._new("reload_remove", tenant, jwt=victim.name, method=method)
                spec.tokens.remove(victim)
            self.fleet.write()
            version = Version(tenant, [k.name for k in spec.tokens], self.clock.now(),
                              known_pids={p for p, t in self.monitor.pid_tenant.items() if t == tenant})
            self.versions.append(version)
            fault.start = version.trigger
            if method == "sighup":
                self.sup.sighup()
                fault.detail["result"] = "signalled"
            elif method == "http":
                code, report = await self.sup.reload_http()
                fault.detail["result"] = f"{code} {report.get('actions') if isinstance(report, dict) else report}"
                if code != 200:
                    self.findings.append(f"fault#{fault.id}: POST /reload answered {code}: {report}")
            else:
                code, out = await self.sup.reload_ctl()
                fault.detail["result"] = f"exit {code}: {out[:120]}"
                if code != 0:
                    self.findings.append(f"fault#{fault.id}: ctl reload exited {code}: {out}")
            fault.applied = self.clock.now()
            self._spawn(self._watch_reload(fault, version))
            return True

    async def _watch_reload(self, fault: Fault, version: Version) -> None:
        limit = self.clock.now() + 30.0
        while self.clock.now() < limit:
            t = self.monitor.replaced_after(fault.tenant, version.trigger)
            if t is not None:
                version.takeover = t
                fault.end = t
                fault.detail["new_pid"] = self.monitor.pid_of(fault.tenant)
                return
            await asyncio.sleep(0.05)
        self.findings.append(f"fault#{fault.id}: {fault.tenant} did not get a new worker within 30s after a reload")
