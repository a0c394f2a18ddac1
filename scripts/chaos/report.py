"""Classifies every failed request against the fault timeline.

Causes:

``client_disconnect``
    The client dropped the stream on purpose.
``no_usable_jwt``
    503 ``no available JWT tokens`` (or 502/504 after every attempt failed upstream) while the
    faults left no usable JWT for the tenant: at some moment during the request, every JWT of
    a configuration the tenant could have been running was hit by an upstream fault (or still
    marked unusable because of one: ``GRACE`` after the fault ended, the worker's probe runs
    every second; a hang also holds the JWT for ``request_timeout``; a 401 makes the JWT
    invalid until the worker reports it healthy again or it leaves the configuration).
``worker_killed_in_flight``
    The connection broke (reset, closed without an answer, stream cut without ``[DONE]``) and
    the request was already in flight when its tenant's worker was SIGKILLed or SIGSTOPped
    (started before the signal, not finished before it) — no design can save those; or a
    streaming answer that had already started ended with the worker's mid-stream error event
    while an upstream ``drop`` fault was active on one of the tenant's JWTs (once bytes went to
    the client, failover is impossible); or a request that upstream hangs had stretched past
    ``shutdown_timeout`` (5 s; one request may take max_attempts x request_timeout = 20 s) on a
    worker that a reload replaced, cut when that worker's drain ran out. A request that only
    *arrived* while the worker was down must succeed: the supervisor keeps the listening socket.
``no_worker_serving``
    503 from the supervisor itself ("has no worker serving right now"): the tenant's worker
    had been SIGKILLed or SIGSTOPped and no replacement served yet for longer than
    ``backlog_grace``, so the supervisor answered the waiting connection instead of leaving it
    in the backlog (a repeated crash backs off up to ``max_backoff``).
``connection_cap``
    The connection was closed without an answer while a burst of hostile connections held the
    tenant's port at its ``max_connections`` (the cap sheds new connections at once, by design).
``unexplained``
    Anything else — a bug to report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from faults import RELOAD_KINDS, UPSTREAM_KINDS, WORKER_KINDS, Fault, Monitor, PidEvent, Version
from load import Request

#: After an upstream fault ends, the JWT can stay unusable until the next probe (every 1 s).
GRACE = 3.0
REQUEST_TIMEOUT = 5.0
#: The fleet's shutdown_timeout: how long a replaced worker drains before its connections close.
# How long after kill() a signal may still not have stopped the worker (see worker_signal_during).
SIGNAL_SLACK = 0.05
SHUTDOWN_TIMEOUT = 5.0
#: Slack on our own observation of a fault's end (the fault list is polled every 0.2 s).
OBSERVE_SLACK = 0.5

CAUSES = ["client_disconnect", "no_usable_jwt", "worker_killed_in_flight", "no_worker_serving", "connection_cap", "unexplained"]


@dataclass
class Verdict:
    cause: str
    why: str


class Classifier:
    def __init__(
        self, faults: list[Fault], versions: list[Version], monitor: Monitor, end_of_run: float,
        crashes: list[tuple[float | None, str, int, str]] | None = None,
        capped: list[tuple[str, float, float]] | None = None,
    ) -> None:
        #: (tenant, start, end) of hostile bursts that filled the tenant's max_connections
        self.capped = capped or []
        #: worker exits the chaos did not cause: (time, tenant, pid, description)
        self.crashes = crashes or []
        self.faults = faults
        self.versions = versions
        self.monitor = monitor
        self.end_of_run = end_of_run
        self._effect: dict[int, tuple[float, float]] = {}
        for f in faults:
            if f.kind in UPSTREAM_KINDS:
                self._effect[f.id] = (f.start, self._effect_end(f))
        # Each version is possible from its trigger until the next version's worker took over.
        self._windows: dict[str, list[tuple[Version, float, float]]] = {}
        by_tenant: dict[str, list[Version]] = {}
        for v in versions:
            by_tenant.setdefault(v.tenant, []).append(v)
        for tenant, vs in by_tenant.items():
            vs.sort(key=lambda v: v.trigger)
            windows = []
            for i, v in enumerate(vs):
                if i + 1 < len(vs):
                    nxt = vs[i + 1]
                    until = (nxt.takeover + 1.0) if nxt.takeover is not None else float("inf")
                else:
                    until = float("inf")
                windows.append((v, v.trigger, until))
            self._windows[tenant] = windows

    def _effect_end(self, f: Fault) -> float:
        end = f.end if f.end is not None else self.end_of_run
        if f.kind == "status_401":
            # Invalid until the worker reports the JWT healthy again (a fresh worker that did not
            # inherit the state) or the JWT leaves the configuration (the version windows).
            healthy = self.monitor.token_healthy_after(f.tenant, f.jwt or "", end)
            return (healthy + 1.0) if healthy is not None else float("inf")
        if f.kind == "hang":
            return end + REQUEST_TIMEOUT + GRACE
        return end + GRACE

    def jwt_unusable(self, tenant: str, jwt: str, t: float) -> bool:
        for f in self.faults:
            if f.tenant == tenant and f.jwt == jwt and f.id in self._effect:
                a, b = self._effect[f.id]
                if a <= t <= b:
                    return True
        return False

    def no_usable_jwt_at(self, tenant: str, t: float) -> list[str] | None:
        """The JWT set (of a configuration possible at ``t``) that was entirely unusable, if any."""
        for v, a, b in self._windows.get(tenant, []):
            if a <= t <= b and v.tokens and all(self.jwt_unusable(tenant, j, t) for j in v.tokens):
                return v.tokens
        return None

    def no_usable_jwt_during(self, tenant: str, start: float, end: float) -> tuple[float, list[str]] | None:
        points = {start, end}
        for f in self.faults:
            if f.tenant == tenant and f.id in self._effect:
                for x in self._effect[f.id]:
                    for y in (x - 1e-6, x + 1e-6):
                        if start <= y <= end:
                            points.add(y)
        for v, a, _ in self._windows.get(tenant, []):
            if start <= a <= end:
                points.add(a + 1e-6)
        t = start
        while t < end:
            points.add(t)
            t += 0.05
        for t in sorted(points):
            tokens = self.no_usable_jwt_at(tenant, t)
            if tokens is not None:
                return t, tokens
        return None

    def worker_signal_during(self, r: Request) -> Fault | None:
        """A SIGKILL/SIGSTOP of the request's tenant while the request was in flight. A signal
        takes effect when the kernel next schedules the worker, a little after `kill()` returned
        and `applied` was stamped: a request started within SIGNAL_SLACK after it may still
        have been accepted by the worker it then stopped (seen: a request started 0.06 ms after the stamp)."""
        for f in self.faults:
            if f.tenant == r.tenant and f.kind in WORKER_KINDS and r.start <= f.applied + SIGNAL_SLACK and r.end >= f.start:
                return f
        return None

    def worker_down_during(self, r: Request) -> Fault | None:
        """A SIGKILL/SIGSTOP of the request's tenant after which no replacement ran yet when the
        request started (``end`` is when one was running again)."""
        for f in self.faults:
            if f.tenant == r.tenant and f.kind in WORKER_KINDS and f.start <= r.end:
                end = f.end if f.end is not None else self.end_of_run
                if r.start <= end + OBSERVE_SLACK:
                    return f
        return None

    def drain_deadline_cut(self, r: Request) -> tuple[Fault, Fault] | None:
        """A request on a worker that a reload replaced, still running when the old worker's
        drain ran out (shutdown_timeout) because upstream hangs had stretched it past that: the
        drain is bounded by configuration (5 s here, while one request may take max_attempts x
        request_timeout = 20 s), so it was in flight on a worker that was then stopped."""
        for f in self.faults:
            if f.tenant != r.tenant or f.kind not in RELOAD_KINDS or f.end is None:
                continue
            deadline = f.end + SHUTDOWN_TIMEOUT
            if r.start <= f.end and deadline - 0.5 <= r.end <= deadline + 3.0:
                for h in self.faults:
                    if h.tenant == r.tenant and h.kind == "hang" and h.id in self._effect:
                        a, b = self._effect[h.id]
                        if a <= r.end and b >= r.start:
                            return f, h
        return None

    def crash_hint(self, r: Request) -> str:
        for t, tenant, pid, what in self.crashes:
            if tenant == r.tenant and t is not None and r.start - 0.2 <= t <= r.end + 0.6:
                return f"; worker pid {pid} of {tenant} died on its own around {t:.3f} ({what})"
        return ""

    def cut_by_fault(self, tenant: str, start: float, end: float) -> str:
        """A worker kill/stop or replacement (reload) of ``tenant`` that may have cut a connection
        open during [start, end] (for the hostile clients' verdicts)."""
        for f in self.faults:
            if f.tenant != tenant or f.kind not in WORKER_KINDS + RELOAD_KINDS:
                continue
            took = f.end if f.end is not None else self.end_of_run
            if f.kind in WORKER_KINDS and f.applied <= end and took + 1.0 >= start:
                return f"fault#{f.id} {f.kind} at {f.start:.3f}"
            if f.kind in RELOAD_KINDS and start - 1.0 <= took <= end + 1.0:
                return f"fault#{f.id} {f.kind}: the worker was replaced at {took:.3f}"
        return ""

    def reload_hint(self, r: Request) -> str:
        """Names a reload of the tenant (worker replaced, old one drained) around the request."""
        for f in self.faults:
            if f.tenant == r.tenant and f.kind in RELOAD_KINDS:
                end = (f.end if f.end is not None else self.end_of_run) + 1.0
                if f.start <= r.end and end >= r.start:
                    return (f"; it overlapped fault#{f.id} {f.kind} ({f.detail.get('method')}) at {f.start:.3f}, "
                            f"the replacement took over at {f.end if f.end is not None else '?'} and the old worker drained")
        return ""

    def drop_during(self, r: Request) -> Fault | None:
        for f in self.faults:
            if f.tenant == r.tenant and f.kind == "drop":
                end = (f.end if f.end is not None else self.end_of_run) + OBSERVE_SLACK
                if f.start <= r.end and end >= r.start:
                    return f
        return None

    def classify(self, r: Request) -> Verdict:
        if r.outcome == "client_disconnect":
            return Verdict("client_disconnect", r.error)
        if r.outcome in ("transport_error", "truncated"):
            f = self.worker_signal_during(r)
            if f is not None:
                return Verdict("worker_killed_in_flight", f"{f.kind} of pid {f.detail.get('pid')} at {f.start:.3f} (fault#{f.id})")
            for tenant, a, b in self.capped:
                if tenant == r.tenant and a <= r.start <= b and not r.head:
                    return Verdict("connection_cap", f"closed while a burst held {tenant}'s port at max_connections ({a:.3f} .. {b:.3f})")
            cut = self.drain_deadline_cut(r)
            if cut is not None:
                f, hang = cut
                return Verdict(
                    "worker_killed_in_flight",
                    f"drain deadline: fault#{f.id} {f.kind} replaced the worker at {f.end:.3f}, the request was still "
                    f"in flight {SHUTDOWN_TIMEOUT:g}s later (shutdown_timeout), slowed by fault#{hang.id} hang",
                )
            return Verdict("unexplained", "connection failed with no worker kill/stop during the request" + self.crash_hint(r) + self.reload_hint(r))
        if r.outcome == "stream_error":
            if "mid-stream" in r.error and r.chunks > 0:
                f = self.drop_during(r)
                if f is not None:
                    return Verdict(
                        "worker_killed_in_flight",
                        f"upstream drop mid-stream after {r.chunks} chunk(s) (fault#{f.id} on {f.tenant}/{f.jwt})",
                    )
                return Verdict("unexplained", "mid-stream upstream failure with no drop fault active")
            if r.chunks == 0 and ("Upstream failed after" in r.error or "no available JWT tokens" in r.error):
                # Keep-alives had already sent the 200 head while every attempt failed: the
                # same outcome as an HTTP 502/503/504, carried as the stream's error event.
                hit = self.no_usable_jwt_during(r.tenant, r.start, r.end)
                if hit is not None:
                    t, tokens = hit
                    return Verdict("no_usable_jwt", f"at {t:.3f} every JWT of {r.tenant} {tokens} was hit by a fault (error event after keep-alives)")
                return Verdict("unexplained", f"every attempt failed although {r.tenant} had a usable JWT the whole time (error event after keep-alives)")
            return Verdict("unexplained", "error event in the stream")
        if r.outcome == "http_error":
            body = r.error
            if r.status == 503 and "has no worker serving right now" in body:
                f = self.worker_down_during(r)
                if f is not None:
                    return Verdict("no_worker_serving", f"{f.kind} of pid {f.detail.get('pid')} at {f.start:.3f} (fault#{f.id}), "
                                   f"replacement running at {f.end if f.end is not None else '?'}")
                return Verdict("unexplained", "the supervisor answered 503 (no worker serving) with no worker kill/stop around it")
            exhausted = (r.status == 503 and "no available JWT tokens" in body) or (
                r.status in (502, 504) and "Upstream failed after" in body
            )
            if exhausted:
                hit = self.no_usable_jwt_during(r.tenant, r.start, r.end)
                if hit is not None:
                    t, tokens = hit
                    return Verdict("no_usable_jwt", f"at {t:.3f} every JWT of {r.tenant} {tokens} was hit by a fault")
                return Verdict("unexplained", f"HTTP {r.status} although {r.tenant} had a usable JWT the whole time")
            return Verdict("unexplained", f"HTTP {r.status}")
        return Verdict("unexplained", r.outcome)

    # -- excerpts for the report

    def excerpt(self, r: Request, before: float = 6.0, after: float = 2.0) -> list[str]:
        a, b = r.start - before, r.end + after
        lines = []
        for f in self.faults:
            end = f.end if f.end is not None else self.end_of_run
            if f.tenant in (r.tenant, "*") and f.start <= b and end >= a - (GRACE if f.kind in UPSTREAM_KINDS else 0):
                lines.append((f.start, "  " + f.describe()))
        for e in self.monitor.events:
            if e.tenant == r.tenant and a <= e.t <= b:
                lines.append((e.t, f"  {e.t:8.3f}  {e.tenant} worker pid {e.pid} {e.state}"))
        for v in self.versions:
            if v.tenant == r.tenant and a <= v.trigger <= b:
                lines.append((v.trigger, f"  {v.trigger:8.3f}  {v.tenant} JWT set now {v.tokens} (takeover {v.takeover})"))
        lines.sort(key=lambda x: x[0])
        return [text for _, text in lines]


def describe_request(r: Request) -> str:
    mode = "stream" if r.stream else "plain "
    status = r.status if r.status is not None else "-"
    return (
        f"req#{r.id:<5} {r.tenant:<8} {mode} {r.start:8.3f} .. {r.end:8.3f}  {r.outcome:<16} "
        f"status={status} chunks={r.chunks}  {r.error[:200]}"
    )


def counts(items: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return out
