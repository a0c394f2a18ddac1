"""What replicas of one tenant cost: each keeps its own JWT pool state.

Two (or one) workers run the same tenant of one fleet file against one simulator, the way
``replicas: 2`` runs two pods behind one Service. Measured and asserted:

* a JWT the upstream rate-limits (429, ``Retry-After: 60``) is learnt once per replica: the
  upstream sees one failed chat call per replica, and one client request per replica pays a
  failover;
* the health probes of the quota endpoint multiply by the number of replicas.

Run with ``-s`` to see the numbers (README "Scale notes" quotes them).
"""

from __future__ import annotations

import time
from pathlib import Path

from harness import wait_until
from worker_harness import PROBED, Worker, fleet_document, jwt_name, start_sim  # noqa: F401  (fixture)


def measure(sim, tmp_path: Path, replicas: int, label: str) -> dict[str, float]:
    a, b = jwt_name(f"{label}a"), jwt_name(f"{label}b")
    sim.set_jwt(a)
    sim.set_jwt(b)
    doc = fleet_document(sim.url, [{"name": "a", "jwt": a}, {"name": "b", "jwt": b}], health_check_interval="1s")
    workers = [Worker.fleet(tmp_path / f"{label}-{i}", doc) for i in range(replicas)]
    try:
        # Quota probes: from now until every replica has completed three more probe rounds.
        start_quota = sim.stats()["by_jwt"][a]["quota"]
        rounds = [w.log().count("Health check completed") for w in workers]
        started = time.monotonic()
        wait_until(
            lambda: all(w.log().count("Health check completed") >= r + 3 for w, r in zip(workers, rounds)),
            timeout=20, interval=0.05,
        )
        elapsed = time.monotonic() - started
        probes_per_s = (sim.stats()["by_jwt"][a]["quota"] - start_quota) / elapsed

        # A rate-limited JWT: 12 requests spread over the replicas like a Service would.
        faults_before = sim.stats()["faults_applied"].get("status", 0)
        chats_before = sim.stats()["totals"].get("chat", 0)
        sim.fault(kind="status", status=429, jwt=a, endpoint="chat", retry_after=60)
        latencies = []
        for i in range(12):
            t0 = time.monotonic()
            answer = workers[i % replicas].chat("hi")
            latencies.append(time.monotonic() - t0)
            assert answer.status_code == 200, answer.text
        rate_limited_calls = sim.stats()["faults_applied"].get("status", 0) - faults_before
        upstream_chats = sim.stats()["totals"].get("chat", 0) - chats_before
        for worker in workers:
            assert worker.states()["a"] == "cooling_down"
        return {
            "replicas": replicas,
            "quota_probes_per_s_per_jwt": probes_per_s,
            "rate_limited_upstream_calls": rate_limited_calls,
            "upstream_chat_calls_for_12_requests": upstream_chats,
            "slowest_ms": max(latencies) * 1000,
            "median_ms": sorted(latencies)[len(latencies) // 2] * 1000,
        }
    finally:
        for worker in workers:
            worker.terminate()


def test_each_replica_learns_a_rate_limited_jwt_and_probes_quota_itself(tmp_path: Path, start_sim) -> None:
    one = measure(start_sim(), tmp_path, 1, "one")
    two = measure(start_sim(), tmp_path, 2, "two")
    print(f"\nreplicas=1: {one}\nreplicas=2: {two}")
    assert one["rate_limited_upstream_calls"] == 1
    assert two["rate_limited_upstream_calls"] == 2, "the second replica learnt the 429 again"
    assert one["upstream_chat_calls_for_12_requests"] == 13 and two["upstream_chat_calls_for_12_requests"] == 14
    # Probes every 1 s per JWT per replica: about 1/s with one, 2/s with two.
    assert 0.6 < one["quota_probes_per_s_per_jwt"] < 1.6
    assert 1.4 < two["quota_probes_per_s_per_jwt"] < 3.0
