"""Named client keys, their limits and the usage ledger, through a real supervisor and
workers on the simulator: each limit in both API shapes (the official ``openai`` and
``anthropic`` SDKs), lifted when its window passes; ``daily_quota`` across a restart; the
ledger across a worker SIGKILL and a reload; ``ctl usage`` against what the simulator counted;
a ledger that cannot be written."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from harness import wait_until
from supervisor_harness import (  # noqa: F401 - make_fleet is a fixture
    SECRET_MARK,
    Fleet,
    api_key,
    give_unlimited_quota,
    make_fleet,
    secret_jwt,
    tenant,
)

CLAUDE = "claude-sonnet-4-6"
GPT = "gpt-4o"
#: The rpm window the workers use here (seconds), so a test can see it pass.
WINDOW = 3


def keyed_tenant(label: str, keys: list[Any], **settings: Any) -> dict[str, Any]:
    entry = tenant(label, **settings)
    entry["api_keys"] = keys
    return entry


def oa(fleet: Fleet, name: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=fleet.tenant_url(name) + "/v1", api_key=key, max_retries=0, timeout=30.0)


def an(fleet: Fleet, name: str, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fleet.tenant_url(name), api_key=key, max_retries=0, timeout=30.0)


def chat(client: openai.OpenAI, model: str = GPT) -> str:
    answer = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hello"}])
    return answer.choices[0].message.content or ""


def message(client: anthropic.Anthropic, model: str = CLAUDE) -> str:
    answer = client.messages.create(model=model, max_tokens=16, messages=[{"role": "user", "content": "hello"}])
    return answer.content[0].text


def served(client: openai.OpenAI) -> bool:
    """One chat: answered (True) or refused by a limit (False)."""
    try:
        return bool(chat(client))
    except openai.RateLimitError:
        return False


def usage(fleet: Fleet, *args: str) -> dict[str, Any]:
    code, out, err = fleet.ctl("usage", "--json", "--since", "all", *args)
    assert code == 0, err
    return json.loads(out)


def by_group(report: dict[str, Any], field: str = "requests") -> dict[str, Any]:
    return {row["group"]: row[field] for row in report["rows"]}


def total(report: dict[str, Any], field: str) -> float:
    return sum(row[field] for row in report["rows"])


def fleet_metrics(fleet: Fleet) -> str:
    return fleet.control("GET", "/metrics").text.replace(", ", ",")


def wait_metric(fleet: Fleet, fragment: str) -> str:
    """The fleet's metrics once they hold ``fragment`` (the supervisor fetches a worker's metrics
    with its heartbeat, so they lag by up to one heartbeat interval)."""
    return wait_until(lambda: text if fragment in (text := fleet_metrics(fleet)) else None, timeout=10, interval=0.1,
                      message=lambda: f"metrics with {fragment}")


def assert_no_secret(text: str, *keys: str) -> None:
    assert SECRET_MARK not in text
    for key in keys:
        assert key not in text


# --------------------------------------------------------------------------- limits


def test_rpm_in_both_shapes_per_key_and_lifted_when_the_window_passes(make_fleet, simulator) -> None:
    ci, alice = api_key("ci"), api_key("alice")
    fleet = make_fleet(
        {"alpha": keyed_tenant("alpha", [{"name": "ci", "key": ci, "rpm": 2}, {"name": "alice", "key": alice}])},
        env={"JBAI_RPM_WINDOW_SECONDS": str(WINDOW)},
    )
    give_unlimited_quota(simulator, secret_jwt("alpha1"))
    with oa(fleet, "alpha", ci) as client, an(fleet, "alpha", ci) as claude:
        assert chat(client)
        assert message(claude)
        with pytest.raises(openai.RateLimitError) as refused:
            chat(client)
        body = refused.value.response.json()
        assert body["error"]["type"] == "rate_limit_error" and body["error"]["code"] == "rate_limit_exceeded"
        assert "'rpm'" in body["error"]["message"] and "this API key" in body["error"]["message"]
        assert 1 <= int(refused.value.response.headers["retry-after"]) <= WINDOW
        assert_no_secret(refused.value.response.text, ci)
        with pytest.raises(anthropic.RateLimitError) as refused_anthropic:
            message(claude)
        body = refused_anthropic.value.response.json()
        assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
        assert "'rpm'" in body["error"]["message"]
        assert int(refused_anthropic.value.response.headers["retry-after"]) >= 1

        # Another key of the tenant is not limited.
        with oa(fleet, "alpha", alice) as other:
            assert chat(other)

        # Refusals do not count: once the window has passed, the key is served again.
        wait_until(lambda: served(client), timeout=WINDOW + 10, interval=0.2, message="the rpm window passes")

    metrics = wait_metric(fleet, 'jbai_key_requests_total{tenant="alpha",key="alice"} 1')
    assert 'jbai_limit_rejections_total{tenant="alpha",key="ci",limit="rpm"}' in metrics
    assert_no_secret(metrics, ci, alice)


def test_tenant_rpm_covers_every_key(make_fleet, simulator) -> None:
    one, two = api_key("one"), api_key("two")
    fleet = make_fleet(
        {"beta": keyed_tenant("beta", [{"name": "one", "key": one}, two], limits={"rpm": 1})},
        env={"JBAI_RPM_WINDOW_SECONDS": "600"},
    )
    give_unlimited_quota(simulator, secret_jwt("beta1"))
    with oa(fleet, "beta", one) as first, oa(fleet, "beta", two) as second:
        assert chat(first)
        with pytest.raises(openai.RateLimitError) as refused:
            chat(second)
    assert "the tenant's 'rpm'" in refused.value.response.json()["error"]["message"]
    # A plain-string key is named key-<8 hex digits of its SHA-256>.
    import hashlib

    plain = "key-" + hashlib.sha256(two.encode()).hexdigest()[:8]
    wait_metric(fleet, f'jbai_limit_rejections_total{{tenant="beta",key="{plain}",limit="rpm"}} 1')


def test_max_concurrent_and_model_allow_list_in_both_shapes(make_fleet, simulator) -> None:
    ci = api_key("ci")
    fleet = make_fleet({"gamma": keyed_tenant("gamma", [{"name": "ci", "key": ci, "max_concurrent": 1, "models": ["gpt-*"]}])})
    give_unlimited_quota(simulator, secret_jwt("gamma1"))
    with oa(fleet, "gamma", ci) as client, an(fleet, "gamma", ci) as claude:
        # Outside the allow-list: 403 in both shapes, before anything goes upstream.
        with pytest.raises(openai.PermissionDeniedError) as refused:
            chat(client, model=CLAUDE)
        assert refused.value.response.json()["error"]["type"] == "permission_error"
        assert "'models'" in refused.value.response.json()["error"]["message"]
        with pytest.raises(anthropic.PermissionDeniedError) as refused_anthropic:
            message(claude, model=CLAUDE)
        assert refused_anthropic.value.response.json()["error"]["type"] == "permission_error"
        assert simulator.stats()["totals"]["chat"] == 0

        # One slow request holds the only slot.
        simulator.fault(kind="delay", delay_ms=3000, count=1)
        slow: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: slow.setdefault("answer", chat(client)), daemon=True)
        thread.start()
        wait_until(lambda: simulator.stats()["in_flight"] == 1, timeout=10, message="the slow request reaches the simulator")
        with pytest.raises(openai.RateLimitError) as busy:
            chat(client)
        assert "'max_concurrent'" in busy.value.response.json()["error"]["message"]
        assert busy.value.response.headers["retry-after"] == "1"
        with pytest.raises(anthropic.RateLimitError) as busy_anthropic:
            message(claude, model="gpt-5")
        assert busy_anthropic.value.response.json()["error"]["type"] == "rate_limit_error"

        # The slot is free again once the slow one is answered.
        wait_until(lambda: served(client), timeout=15, interval=0.2, message="the max_concurrent slot is given back")
    thread.join(timeout=15)
    assert slow.get("answer")


def test_daily_quota_in_both_shapes_and_across_a_restart(make_fleet, simulator) -> None:
    ci = api_key("ci")
    fleet = make_fleet({"delta": keyed_tenant("delta", [{"name": "ci", "key": ci, "daily_quota": 2}])})
    give_unlimited_quota(simulator, secret_jwt("delta1"))
    with oa(fleet, "delta", ci) as client, an(fleet, "delta", ci) as claude:
        # The simulator spends 1 quota unit per chat.
        assert chat(client)
        assert message(claude)
        with pytest.raises(openai.RateLimitError) as refused:
            chat(client)
        error = refused.value.response.json()["error"]
        assert error["code"] == "insufficient_quota" and "'daily_quota'" in error["message"]
        assert 1 <= int(refused.value.response.headers["retry-after"]) <= 86_400
        with pytest.raises(anthropic.RateLimitError):
            message(claude)
    assert simulator.stats()["totals"]["chat"] == 2

    # The spending is in the ledger: a new worker starts from it.
    wait_until(lambda: by_group(usage(fleet, "delta"), "quota_spent").get("ci") == 2, timeout=10, message="ledger committed")
    pid = fleet.pid("delta")
    os.kill(pid, signal.SIGKILL)
    fleet.wait_new_pid("delta", pid)
    with oa(fleet, "delta", ci) as client:
        with pytest.raises(openai.RateLimitError):
            chat(client)
    assert simulator.stats()["totals"]["chat"] == 2


# --------------------------------------------------------------------------- the ledger


def test_ledger_survives_sigkill_and_reload_and_sums_what_the_simulator_counted(make_fleet, simulator) -> None:
    alice, bob = api_key("alice"), api_key("bob")
    fleet = make_fleet({"eps": keyed_tenant("eps", [{"name": "alice", "key": alice}, {"name": "bob", "key": bob}])})
    give_unlimited_quota(simulator, secret_jwt("eps1"))
    with oa(fleet, "eps", alice) as a, an(fleet, "eps", bob) as b:
        for _ in range(5):
            assert chat(a)
        for _ in range(3):
            assert message(b)

    committed = lambda want: (lambda: (r := usage(fleet, "eps")) and total(r, "requests") == want and r)  # noqa: E731
    report = wait_until(committed(8), timeout=10, message="8 records committed")
    assert by_group(report) == {"alice": 5, "bob": 3}

    # SIGKILL: no committed record is lost.
    pid = fleet.pid("eps")
    os.kill(pid, signal.SIGKILL)
    fleet.wait_new_pid("eps", pid)
    assert by_group(usage(fleet, "eps")) == {"alice": 5, "bob": 3}

    # A reload that replaces the worker: the old one's records stay, the new one adds to them.
    doc = json.loads(json.dumps(fleet.doc))
    doc["tenants"]["eps"]["limits"] = {"rpm": 1000}
    fleet.write(doc)
    pid = fleet.pid("eps")
    status, report_ = fleet.reload()
    assert status == 200, report_
    fleet.wait_new_pid("eps", pid)
    with oa(fleet, "eps", alice) as a:
        assert chat(a)
        assert chat(a, model=CLAUDE)
    report = wait_until(committed(10), timeout=10, message="10 records committed")
    assert by_group(report) == {"alice": 7, "bob": 3}

    # What the simulator counted: one upstream call and 1 quota unit per request here.
    chats = simulator.stats()["totals"]["chat"]
    assert chats == 10
    assert total(report, "attempts") == chats
    assert total(report, "quota_spent") == chats
    assert total(report, "errors") == 0
    assert total(report, "tokens_in") > 0 and total(report, "tokens_out") > 0
    assert by_group(usage(fleet, "eps", "--by", "model")) == {GPT: 6, CLAUDE: 4}
    assert by_group(usage(fleet, "eps", "--by", "token")) == {"t1": 10}
    days = usage(fleet, "eps", "--by", "day")
    assert len(days["rows"]) == 1 and days["rows"][0]["requests"] == 10

    # The table and CSV, and the per-key metrics, never show a key.
    code, table, err = fleet.ctl("usage", "eps")
    assert code == 0, err
    assert "alice" in table and "QUOTA_SPENT" in table
    code, csv, err = fleet.ctl("usage", "--csv", "--by", "key")
    assert code == 0, err
    assert csv.splitlines()[0] == "tenant,key,requests,errors,attempts,quota_spent,tokens_in,tokens_out"
    assert "eps,alice,7,0,7,7," in csv
    metrics = wait_metric(fleet, 'jbai_key_quota_spent_total{tenant="eps",key="alice"} 2')
    assert_no_secret(table + csv + metrics + fleet.all_log_text(), alice, bob)
    code, _, err = fleet.ctl("usage", "nope")
    assert code == 1 and "no tenant named 'nope'" in err
    code, _, err = fleet.ctl("usage", "--since", "yesterday")
    assert code == 1 and "invalid --since" in err


def test_a_ledger_that_cannot_be_written_drops_records_and_serving_goes_on(make_fleet, simulator, tmp_path: Path) -> None:
    fleet = make_fleet({"zeta": tenant("zeta")}, start=False)
    # The database's path is a folder: SQLite cannot open it.
    (fleet.dir / "state" / "zeta" / "usage.sqlite").mkdir(parents=True)
    fleet.start()
    give_unlimited_quota(simulator, secret_jwt("zeta1"))
    for _ in range(3):
        assert fleet.complete("zeta").status_code == 200

    def dropped() -> float:
        for line in fleet_metrics(fleet).splitlines():
            if line.startswith('jbai_usage_records_dropped_total{tenant="zeta"}'):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    wait_until(lambda: dropped() >= 3, timeout=10, interval=0.25, message="dropped records counted")
    log = fleet.all_log_text()
    assert "usage ledger unavailable" in log and "usage ledger dropped records" in log
    code, out, err = fleet.ctl("usage", "zeta", "--json")
    assert code == 0
    assert "zeta" in json.loads(out)["problems"]


def test_ledger_off_still_limits(make_fleet, simulator) -> None:
    ci = api_key("ci")
    fleet = make_fleet(
        {"eta": keyed_tenant("eta", [{"name": "ci", "key": ci, "rpm": 1}], usage_ledger=False)},
        env={"JBAI_RPM_WINDOW_SECONDS": "600"},
    )
    give_unlimited_quota(simulator, secret_jwt("eta1"))
    with oa(fleet, "eta", ci) as client:
        assert chat(client)
        with pytest.raises(openai.RateLimitError):
            chat(client)
    assert not (fleet.dir / "state" / "eta" / "usage.sqlite").exists()
    assert usage(fleet, "eta")["rows"] == []
