"""The worker's JWT pool against the simulator: strategies, priority tiers and weights,
failover per upstream fault, JWT states, the active probe, license JWTs."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import httpx
import pytest

from worker_harness import fingerprint
from harness import decode_jwt, wait_until
from worker_harness import (  # noqa: F401 - fixtures
    BackgroundStream,
    assert_openai_error,
    fleet_document,
    jwt_name,
    sim,
    sim_chat_counts,
    sim_quota_counts,
    start_sim,
    start_worker,
    stream_request,
    tokens_for,
)

A, B, C, D = (jwt_name(x) for x in "abcd")
NAMES = {A: "ta", B: "tb", C: "tc", D: "td"}


def named(*jwts: str) -> dict[str, str]:
    return {NAMES[j]: j for j in jwts}


def counts(sim, *jwts: str) -> list[int]:
    by_jwt = sim_chat_counts(sim)
    return [by_jwt.get(j, 0) for j in jwts]


def iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def seconds_until(text: str) -> float:
    return (iso(text) - datetime.now(timezone.utc)).total_seconds()


# --------------------------------------------------------------------------- strategies


def test_round_robin_spreads_evenly(sim, start_worker) -> None:
    worker = start_worker.seed(sim.url, [A, B, C])
    for _ in range(9):
        assert worker.chat("abc").status_code == 200
    assert counts(sim, A, B, C) == [3, 3, 3]
    # the pool books the outcome right after the answer went out
    wait_until(lambda: {t["successes"] for t in worker.tokens().values()} == {3}, timeout=10, message=lambda: f"{worker.tokens()}")


def test_weights_within_a_tier(sim, start_worker) -> None:
    tokens = [{"name": "heavy", "jwt": A, "weight": 2}, {"name": "light", "jwt": B, "weight": 1}]
    worker = start_worker.fleet(fleet_document(sim.url, tokens))
    for _ in range(12):
        assert worker.chat("abc").status_code == 200
    heavy, light = counts(sim, A, B)
    assert heavy + light == 12
    assert abs(heavy - 8) <= 1 and abs(light - 4) <= 1, (heavy, light)


def test_priority_tiers(sim, start_worker) -> None:
    tokens = [
        {"name": "p1a", "jwt": A, "priority": 1},
        {"name": "p1b", "jwt": B, "priority": 1},
        {"name": "backup", "jwt": C, "priority": 2},
    ]
    worker = start_worker.fleet(fleet_document(sim.url, tokens))
    for _ in range(6):
        assert worker.chat("abc").status_code == 200
    assert counts(sim, A, B, C) == [3, 3, 0]
    # the first tier fails for good: the backup takes over, the client sees no error
    sim.fault(kind="status", status=401, jwt=A)
    sim.fault(kind="status", status=401, jwt=B)
    for _ in range(4):
        assert worker.chat("abc").status_code == 200
    assert counts(sim, A, B, C) == [4, 4, 4]
    states = worker.states()
    assert states == {"p1a": "invalid", "p1b": "invalid", "backup": "healthy"}
    health = worker.health()
    assert health["status"] == "degraded" and health["healthy_tokens"] == 1


def test_priority_tier_comes_back_when_usable_again(sim, start_worker) -> None:
    tokens = [{"name": "p1", "jwt": A, "priority": 1}, {"name": "p2", "jwt": B, "priority": 2}]
    worker = start_worker.fleet(fleet_document(sim.url, tokens, health_check_interval="300ms"))
    sim.fault(kind="status", status=500, jwt=A, endpoint="any")
    assert worker.chat("abc").status_code == 200
    assert counts(sim, A, B) == [1, 1]
    worker.wait_state("p1", "cooling_down")
    sim.clear_faults()
    worker.wait_state("p1", "healthy", timeout=10)
    for _ in range(3):
        assert worker.chat("abc").status_code == 200
    assert counts(sim, A, B) == [4, 1]


def test_random_covers_all(sim, start_worker) -> None:
    worker = start_worker.seed(sim.url, [A, B, C], extra=["-s", "random"])
    assert worker.health()["strategy"] == "random"
    for _ in range(30):
        assert worker.chat("abc").status_code == 200
    got = counts(sim, A, B, C)
    assert sum(got) == 30
    assert all(n >= 1 for n in got), got


def test_least_busy_prefers_the_idle_jwt(sim, start_worker) -> None:
    worker = start_worker.seed(sim.url, [A, B], extra=["-s", "least_busy"])
    assert worker.health()["strategy"] == "least_busy"
    slow = BackgroundStream(worker.client, {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "abcdefgh [[chunks=4]] [[delay_ms=600]]"}]})
    wait_until(lambda: sim.stats()["in_flight"] == 1, timeout=5, message="slow stream upstream")
    busy = A if counts(sim, A, B) == [1, 0] else B
    idle = B if busy == A else A
    assert worker.tokens()["jwt-1" if busy == A else "jwt-2"]["in_flight"] == 1
    for _ in range(4):
        assert worker.chat("abc").status_code == 200
    assert slow.is_alive(), "the slow stream should still be running"
    got = dict(zip((A, B), counts(sim, A, B)))
    assert got[busy] == 1 and got[idle] == 4, got
    result = slow.join()
    assert result.done and result.content == "hgfedcba"


# --------------------------------------------------------------------------- failover per fault


FAULTS = [
    pytest.param({"kind": "status", "status": 500}, "cooling_down", id="500"),
    pytest.param({"kind": "status", "status": 503}, "cooling_down", id="503"),
    pytest.param({"kind": "status", "status": 429, "retry_after": 30}, "cooling_down", id="429-retry-after"),
    pytest.param({"kind": "status", "status": 403}, "cooling_down", id="403"),
    pytest.param({"kind": "status", "status": 401}, "invalid", id="401"),
    pytest.param({"kind": "status", "status": 477}, "quota_exhausted", id="477"),
    pytest.param({"kind": "hang"}, "cooling_down", id="hang"),
    pytest.param({"kind": "drop", "after_events": 0}, "cooling_down", id="drop-before-events"),
    pytest.param({"kind": "garbage"}, "cooling_down", id="garbage"),
]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("fault, state", FAULTS)
def test_failover_per_fault(sim, start_worker, fault, state, stream) -> None:
    worker = start_worker.fleet(fleet_document(sim.url, tokens_for(named(A, B)), request_timeout="1s"))
    sim.fault(jwt=A, **fault)
    # round robin starts with the first JWT; keep asking until the faulty one was tried
    for _ in range(3):
        if stream:
            result = worker.stream("abcdef")
            assert result.status == 200
            assert result.done and result.content == "fedcba", result.lines
            assert not any('"error"' in p for p in result.payloads)
        else:
            response = worker.chat("abcdef")
            assert response.status_code == 200, response.text
            assert response.json()["choices"][0]["message"]["content"] == "fedcba"
        if counts(sim, A, B)[0] >= 1:
            break
    assert counts(sim, A, B)[0] == 1, "the faulty JWT should have been tried exactly once"
    token = worker.tokens()["ta"]
    assert token["state"] == state, token
    assert token["failures"] == 1 and token["last_error"]
    assert worker.tokens()["tb"]["state"] == "healthy"
    assert worker.health()["status"] == "degraded"
    if fault.get("status") == 429:
        assert 20 <= seconds_until(token["until"]) <= 31, token["until"]
    # the faulty JWT is out of rotation: the next requests all go to the other one
    before = counts(sim, A, B)
    for _ in range(3):
        assert worker.chat("abc").status_code == 200
    after = counts(sim, A, B)
    assert after[0] == before[0] and after[1] == before[1] + 3
    wait_until(lambda: sim.stats()["in_flight"] == 0, timeout=5, message="no upstream request left hanging")


@pytest.mark.parametrize("jwts, max_attempts, tried", [([A, B, C], 3, 3), ([A, B, C, D], 3, 3), ([A, B], 3, 2), ([A, B, C], 2, 2)])
def test_every_jwt_failing_gives_502_and_each_is_tried_once(sim, start_worker, jwts, max_attempts, tried) -> None:
    worker = start_worker.fleet(fleet_document(sim.url, tokens_for(named(*jwts)), max_attempts=max_attempts))
    sim.fault(kind="status", status=500)
    error = assert_openai_error(worker.chat("abc"), 502)
    assert "500" in error["message"]
    got = counts(sim, *jwts)
    assert sum(got) == tried, got
    assert max(got) == 1, f"a JWT was tried twice for one request: {got}"


def test_no_usable_jwt_gives_503(sim, start_worker) -> None:
    worker = start_worker.fleet(fleet_document(sim.url, tokens_for(named(A, B))))
    sim.fault(kind="status", status=401)
    assert_openai_error(worker.chat("abc"), 502)
    assert worker.states() == {"ta": "invalid", "tb": "invalid"}
    before = sim.stats()["totals"]["chat"]
    for response in (worker.chat("abc"), worker.client.post("/v1/chat/completions", json={"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "x"}]})):
        error = assert_openai_error(response, 503)
        assert "no available JWT tokens: no healthy JWT tokens available" in error["message"]
    assert sim.stats()["totals"]["chat"] == before
    health = worker.client.get("/health")
    assert health.status_code == 503
    assert health.json()["status"] == "down" and health.json()["healthy_tokens"] == 0
    assert "no available JWT tokens: no healthy JWT tokens available" in worker.log()


def test_all_hanging_gives_504(sim, start_worker) -> None:
    worker = start_worker.fleet(fleet_document(sim.url, tokens_for(named(A, B)), request_timeout="700ms"))
    sim.fault(kind="hang")
    start = time.monotonic()
    assert_openai_error(worker.chat("abc"), 504)
    assert time.monotonic() - start < 5
    assert counts(sim, A, B) == [1, 1]
    wait_until(lambda: sim.stats()["in_flight"] == 0, timeout=5)


def test_upstream_rejecting_the_request_is_not_retried(sim, start_worker) -> None:
    """A 400 from the upstream is about the request, not the JWT: passed on, JWT untouched."""
    worker = start_worker.fleet(fleet_document(sim.url, tokens_for(named(A, B))))
    sim.fault(kind="status", status=400)
    response = worker.chat("abc")
    assert 400 <= response.status_code < 500
    assert_openai_error(response, response.status_code)
    assert sum(counts(sim, A, B)) == 1
    assert set(worker.states().values()) == {"healthy"}


# --------------------------------------------------------------------------- mid-stream trouble


def test_mid_stream_drop_ends_with_error_event_and_done(sim, start_worker) -> None:
    worker = start_worker.fleet(fleet_document(sim.url, tokens_for(named(A, B))))
    sim.fault(kind="drop", after_events=2)
    start = time.monotonic()
    result = worker.stream("abcdefgh [[chunks=4]]")
    assert time.monotonic() - start < 10
    assert result.status == 200
    assert result.error is None, result.error
    assert result.payloads[-1] == "[DONE]"
    chunks = result.chunks
    # the two pieces sent before the drop (rarely only the first survives the cut: see the report)
    assert result.content in ("hgfe", "hg"), result.lines
    errors = [c for c in chunks if "error" in c]
    assert len(errors) == 1, chunks
    assert errors[0]["error"]["message"]
    assert result.chunks[-1] is errors[0] or result.chunks[-1] == errors[0]
    assert "stop" not in result.finish_reasons
    # once the client saw part of the answer there is no failover: the only attempts before
    # the one that streamed are attempts that failed before sending anything
    log = worker.log()
    assert log.count("upstream failed mid-stream") == 1
    assert sum(counts(sim, A, B)) == 1 + log.count("upstream attempt failed")
    assert "cooling_down" in worker.states().values()


def test_mid_stream_drop_in_non_stream_mode_fails_over(sim, start_worker) -> None:
    worker = start_worker.fleet(fleet_document(sim.url, tokens_for(named(A, B))))
    sim.fault(kind="drop", after_events=2, count=1)
    response = worker.chat("abcdefgh [[chunks=4]]")
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "hgfedcba"
    assert counts(sim, A, B) == [1, 1]


def test_client_disconnect_cancels_upstream(sim, start_worker) -> None:
    worker = start_worker.seed(sim.url, [A])
    body = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "abcdefghijkl [[chunks=10]] [[delay_ms=1000]]"}]}
    start = time.monotonic()
    result = stream_request(worker.client, body, on_line=lambda line, t: '"content":"' in line and '"content":""' not in line)
    assert result.status == 200 and not result.done
    wait_until(lambda: sim.stats()["in_flight"] == 0, timeout=4, message="upstream call to be cancelled")
    # the answer would have taken ~10 s
    assert time.monotonic() - start < 6
    wait_until(lambda: worker.tokens()["jwt-1"]["in_flight"] == 0, timeout=3)
    token = worker.tokens()["jwt-1"]
    # a client going away says nothing about the JWT
    assert token["state"] == "healthy" and token["failures"] == 0, token
    assert worker.chat("abc").status_code == 200


# --------------------------------------------------------------------------- the probe


def test_probe_brings_a_failing_jwt_back(sim, start_worker) -> None:
    worker = start_worker.fleet(fleet_document(sim.url, tokens_for(named(A, B)), health_check_interval="300ms"))
    sim.fault(kind="status", status=500, jwt=A, endpoint="any")
    # the probe alone notices: no client traffic at all
    worker.wait_state("ta", "cooling_down", timeout=5)
    wait_until(lambda: worker.tokens()["ta"]["consecutive_failures"] >= 2, timeout=5, message="repeated probe failures")
    assert worker.log().count("JWT token marked as unhealthy: " + A[:10] + "...") >= 1
    sim.clear_faults()
    token = worker.wait_state("ta", "healthy", timeout=5)
    # The probe brings the JWT back but keeps its failure run: only a real success resets it,
    # so a JWT whose chat keeps failing gets ever longer cool-downs.
    assert worker.tokens()["ta"]["consecutive_failures"] >= 2
    assert sim.stats()["totals"]["chat"] == 0, "recovery must not spend chat requests"
    worker.wait_for_line(r"JWT token marked as healthy: " + A[:10].replace(".", r"\.") + r"\.\.\.", timeout=5)
    assert token["fingerprint"] == fingerprint(A)


def test_probe_recovers_a_quota_exhausted_jwt(sim, start_worker) -> None:
    sim.set_jwt(B)
    sim.set_jwt(A, quota_current=50, quota_maximum=50)
    worker = start_worker.fleet(fleet_document(sim.url, tokens_for(named(A, B)), health_check_interval="300ms"))
    token = worker.wait_state("ta", "quota_exhausted", timeout=5)
    assert token["until"] and seconds_until(token["until"]) > 0
    for _ in range(3):
        assert worker.chat("abc").status_code == 200
    assert counts(sim, A, B) == [0, 3]
    sim.set_jwt(A, quota_current=0, quota_maximum=50)
    worker.wait_state("ta", "healthy", timeout=5)
    assert counts(sim, A, B) == [0, 3]
    for _ in range(2):
        assert worker.chat("abc").status_code == 200
    assert counts(sim, A, B)[0] >= 1


def test_477_from_chat_then_probe_recovery(sim, start_worker) -> None:
    worker = start_worker.fleet(fleet_document(sim.url, tokens_for(named(A, B)), health_check_interval="1s"))
    sim.fault(kind="status", status=477, jwt=A, count=1)
    assert worker.chat("abc").status_code == 200
    assert worker.tokens()["ta"]["state"] == "quota_exhausted"
    # the quota endpoint says there is quota: the probe brings it back well before the hour
    worker.wait_state("ta", "healthy", timeout=5)
    assert counts(sim, A, B) == [1, 1]


def test_probe_spends_no_chat_quota(sim, start_worker) -> None:
    worker = start_worker.fleet(fleet_document(sim.url, tokens_for(named(A, B)), health_check_interval="250ms"))
    wait_until(lambda: min(sim_quota_counts(sim).get(j, 0) for j in (A, B)) >= 4, timeout=10, message="several probe rounds")
    stats = sim.stats()
    assert stats["totals"]["chat"] == 0
    assert all(v["chat"] == 0 for v in stats["by_jwt"].values())
    assert sim.jwts() == {} or all(float(v["quota_current"]) == 0 for v in sim.jwts().values())
    assert len([l for l in worker.lines() if "Health check completed: 2/2 tokens healthy" in l]) >= 4


# --------------------------------------------------------------------------- licenses


def license_tenant(sim, *extra_tokens, **settings):
    tokens = [{"name": "lic", "license_id": "L-team", "authorization": "license-auth-secret-123"}, *extra_tokens]
    return fleet_document(sim.url, tokens, **settings)


def chat_jwts(sim) -> list[str]:
    return [r["jwt"] for r in sim.requests()]


def test_license_jwt_is_fetched_at_start_and_used(sim, start_worker) -> None:
    sim.add_license("L-team", "license-auth-secret-123", jwt_ttl_s=3600)
    worker = start_worker.fleet(license_tenant(sim))
    assert sim.stats()["by_license"] == {"L-team": 1}
    token = worker.tokens()["lic"]
    assert token["state"] == "healthy"
    assert worker.chat("abc").json()["choices"][0]["message"]["content"] == "cba"
    jwt = chat_jwts(sim)[-1]
    assert decode_jwt(jwt)["sub"] == "L-team"
    assert token["fingerprint"] == fingerprint(jwt)
    assert sim.stats()["by_license"] == {"L-team": 1}


def test_license_jwt_is_refreshed_before_exp(sim, start_worker) -> None:
    # The refresher renews at max(60 s, 20 % of the lifetime) before `exp`: a 62 s JWT is due after ~2 s.
    sim.add_license("L-team", "license-auth-secret-123", jwt_ttl_s=62)
    worker = start_worker.fleet(license_tenant(sim))
    assert worker.chat("abc").status_code == 200
    first = chat_jwts(sim)[-1]
    wait_until(lambda: sim.stats()["by_license"].get("L-team", 0) >= 2, timeout=8, message="license refresh before exp")
    assert worker.chat("abc").status_code == 200
    second = chat_jwts(sim)[-1]
    assert second != first
    assert decode_jwt(second)["exp"] > decode_jwt(first)["exp"] or decode_jwt(second)["jti"] != decode_jwt(first)["jti"]
    assert worker.tokens()["lic"]["fingerprint"] == fingerprint(second) or sim.stats()["by_license"]["L-team"] > 2


def test_license_401_triggers_one_refresh_not_invalidation(sim, start_worker) -> None:
    sim.add_license("L-team", "license-auth-secret-123", jwt_ttl_s=3600)
    worker = start_worker.fleet(license_tenant(sim))
    assert sim.stats()["by_license"] == {"L-team": 1}
    sim.fault(kind="status", status=401, count=1)
    response = worker.chat("abc")
    assert response.status_code == 200, response.text
    assert sim.stats()["by_license"] == {"L-team": 2}
    jwts = chat_jwts(sim)
    assert len(jwts) == 2 and jwts[0] != jwts[1]
    token = worker.tokens()["lic"]
    assert token["state"] == "healthy"
    assert token["fingerprint"] == fingerprint(jwts[1])
    assert worker.chat("abc").status_code == 200


def test_license_401_twice_in_a_row_makes_it_invalid(sim, start_worker) -> None:
    sim.add_license("L-team", "license-auth-secret-123", jwt_ttl_s=3600)
    worker = start_worker.fleet(license_tenant(sim))
    sim.fault(kind="status", status=401, count=2)
    response = worker.chat("abc")
    assert response.status_code in (502, 503), response.text
    # one refresh only, then the 401 stands
    assert sim.stats()["by_license"] == {"L-team": 2}
    assert worker.tokens()["lic"]["state"] == "invalid"


def test_license_that_cannot_be_fetched(sim, start_worker) -> None:
    sim.add_license("L-team", "another-authorization-value")
    worker = start_worker.fleet(license_tenant(sim, {"name": "plain", "jwt": A}))
    token = worker.tokens()["lic"]
    assert token["state"] in ("pending", "invalid")
    for _ in range(3):
        assert worker.chat("abc").status_code == 200
    assert counts(sim, A) == [3]
    assert "license-auth-secret-123" not in worker.log()


def test_invalid_jwt_is_no_longer_probed(sim, start_worker) -> None:
    worker = start_worker.fleet(fleet_document(sim.url, tokens_for(named(A, B)), health_check_interval="250ms"))
    sim.fault(kind="status", status=401, jwt=A)
    assert worker.chat("abc").status_code == 200
    assert worker.tokens()["ta"]["state"] == "invalid"
    quota_a = sim_quota_counts(sim)[A]
    quota_b = sim_quota_counts(sim)[B]
    wait_until(lambda: sim_quota_counts(sim)[B] >= quota_b + 3, timeout=5, message="probe rounds")
    assert sim_quota_counts(sim)[A] <= quota_a + 1  # at most a round already under way
    assert worker.tokens()["ta"]["state"] == "invalid"


def test_concurrent_requests(sim, start_worker) -> None:
    import concurrent.futures

    worker = start_worker.seed(sim.url, [A, B, C])

    def one(i: int) -> str:
        with worker.raw_client(headers={"Authorization": worker.client.headers["Authorization"]}) as client:
            body = {"model": "gpt-4o", "messages": [{"role": "user", "content": f"n{i:02d} [[delay_ms=30]]"}]}
            if i % 2:
                result = stream_request(client, {**body, "stream": True})
                assert result.done
                return result.content
            return client.post("/v1/chat/completions", json=body).json()["choices"][0]["message"]["content"]

    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(one, range(24)))
    assert answers == [f"n{i:02d}"[::-1] for i in range(24)]
    assert sorted(counts(sim, A, B, C)) == [8, 8, 8]
    wait_until(lambda: all(t["in_flight"] == 0 for t in worker.tokens().values()), timeout=10, message=lambda: f"{worker.tokens()}")
    tokens = worker.tokens().values()
    assert all(t["state"] == "healthy" and t["failures"] == 0 for t in tokens), tokens
    # Not `== 24`: a non-stream answer is booked after the response's end, and a client that
    # closes the connection as soon as it has the body can get that booked as "cancelled".
    assert 20 <= sum(t["successes"] for t in tokens) <= 24


def test_client_disconnect_cancels_upstream_non_stream(sim, start_worker) -> None:
    worker = start_worker.seed(sim.url, [A])
    with worker.raw_client(headers={"Authorization": worker.client.headers["Authorization"]}, timeout=0.8) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": [{"role": "user", "content": "abcdefgh [[chunks=8]] [[delay_ms=1000]]"}]})
    wait_until(lambda: sim.stats()["in_flight"] == 0, timeout=4, message="upstream call to be cancelled")
    wait_until(lambda: worker.tokens()["jwt-1"]["in_flight"] == 0, timeout=3)
    assert worker.tokens()["jwt-1"]["state"] == "healthy"


# --------------------------------------------------------------------------- known bugs


def test_probe_does_not_cut_retry_after_short(sim, start_worker) -> None:
    worker = start_worker.fleet(fleet_document(sim.url, tokens_for(named(A, B)), health_check_interval="250ms"))
    sim.fault(kind="status", status=429, retry_after=30, jwt=A)
    assert worker.chat("abc").status_code == 200
    assert counts(sim, A, B) == [1, 1]
    token = worker.tokens()["ta"]
    assert token["state"] == "cooling_down" and seconds_until(token["until"]) > 20
    quota_a = sim_quota_counts(sim)[A]
    wait_until(lambda: sim_quota_counts(sim)[A] >= quota_a + 3, timeout=5, message="probe rounds")
    # Retry-After: 30 has not passed: the JWT must still be out of rotation
    assert worker.tokens()["ta"]["state"] == "cooling_down", worker.tokens()["ta"]
    for _ in range(4):
        assert worker.chat("abc").status_code == 200
    assert counts(sim, A, B)[0] == 1, "a chat request went to the rate-limited JWT before Retry-After"


def test_duplicate_jwt_in_seed_list_keeps_counters_right(sim, start_worker) -> None:
    worker = start_worker.seed(sim.url, [A, A])
    for _ in range(4):
        assert worker.chat("abc").status_code == 200
    wait_until(
        lambda: all(t["in_flight"] == 0 for t in worker.health()["tokens"]),
        timeout=2,
        message=lambda: f"in_flight back to 0: {worker.health()['tokens']}",
    )


def test_license_token_added_by_reload_is_fetched_promptly(sim, start_worker) -> None:
    sim.add_license("L-team", "license-auth-secret-123")
    worker = start_worker.fleet(fleet_document(sim.url, tokens_for(named(A))))
    from worker_harness import write_fleet

    write_fleet(worker.fleet_path, license_tenant(sim, {"name": "ta", "jwt": A}))
    assert worker.client.post("/reload").status_code == 200
    worker.wait_state("lic", "healthy", timeout=5)
    assert sim.stats()["by_license"] == {"L-team": 1}
