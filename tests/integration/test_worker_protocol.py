"""Issue 7, "speak the real JetBrains AI": the worker against every protocol variant the
simulator plays, one test (or parametrized group) per bullet of the issue, with real processes
on loopback and the official ``openai`` SDK as the client wherever a user would use it.

Bullets: (1) the default, realistic wire; (2) every wire variant of ``/_sim/protocol``;
(3) ``event_type: "error"`` events; (4) interleaved parallel tool calls; (5) the quota probe's
shapes; (6) upstream 400 and 451; (7) parameters per profile family; (8) ``tool_choice`` and
``parallel_tool_calls``; (9) Codex profiles; (10) message hygiene (empty assistant messages,
long tool-call ids); (11) ``grazie-agent``; (12) model discovery; (13) credentials (license
states, refresh tokens with rotation saved under ``state_dir``).
"""

from __future__ import annotations

import json
import re
import stat
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import openai
import pytest

from harness import CHAT_V8_PATH, RESPONSES_PATH, chat_body_v8, sse_events, wait_until
from worker_harness import (  # noqa: F401 - fixtures
    assert_openai_error,
    fleet_document,
    jwt_name,
    sim,
    start_sim,
    start_worker,
    tokens_for,
)

A, B = jwt_name("a"), jwt_name("b")
UNTIL_ISO = "2027-03-04T05:06:07Z"
UNTIL = datetime(2027, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
UNTIL_MS = int(UNTIL.timestamp() * 1000)
ISO_8601 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$")
P = "llm.parameters."

SEARCH = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "web search",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}, "index": {"type": "integer"}}},
    },
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "weather by city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


# --------------------------------------------------------------------------- helpers


def two_jwt_fleet(sim, **settings: Any) -> dict[str, Any]:
    return fleet_document(sim.url, tokens_for({"a": A, "b": B}), **settings)


@pytest.fixture
def worker(sim, start_worker):
    """A fleet worker with JWTs ``a`` and ``b`` on the default simulator."""
    return start_worker.fleet(two_jwt_fleet(sim))


def parse_iso(text: str) -> datetime:
    assert isinstance(text, str) and ISO_8601.match(text), f"not an ISO-8601 date-time: {text!r}"
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def states(worker) -> dict[str, str]:
    return worker.states()


def assert_all_healthy(worker) -> None:
    assert set(states(worker).values()) == {"healthy"}, worker.health()


def parameters_of(body: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    """``parameters.data`` of an upstream body as fqdn → (type, value); asserts the flat
    key/value pair layout (a key entry with ``fqdn``, then its value entry of the same type)."""
    data = body.get("parameters", {}).get("data", [])
    assert len(data) % 2 == 0, data
    result: dict[str, tuple[str, Any]] = {}
    for key, value in zip(data[0::2], data[1::2]):
        assert "fqdn" in key and "value" not in key, data
        assert "value" in value and "fqdn" not in value, data
        assert key["type"] == value["type"], data
        assert key["fqdn"] not in result, f"{key['fqdn']} sent twice: {data}"
        result[key["fqdn"]] = (value["type"], value["value"])
    return result


def last_request(sim) -> dict[str, Any]:
    recorded = sim.requests(last=1)
    assert recorded, "the simulator received no chat request"
    return recorded[0]


def quota_of_usage(usage: Any) -> dict[str, Any]:
    """``usage.jetbrains_quota`` from an SDK usage object (an extra field the SDK keeps)."""
    assert usage is not None
    dumped = usage.model_dump() if hasattr(usage, "model_dump") else dict(usage)
    assert "jetbrains_quota" in dumped, dumped
    return dumped["jetbrains_quota"]


def collect_sdk_stream(stream) -> dict[str, Any]:
    """Content, tool calls by index, finish reasons and usage of an SDK stream."""
    content: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    order: list[int] = []
    finish: list[str] = []
    usage = None
    count = 0
    for chunk in stream:
        count += 1
        if chunk.usage is not None:
            assert usage is None, "usage on two chunks"
            usage, usage_at = chunk.usage, count
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        if choice.delta.content:
            content.append(choice.delta.content)
        for tc in choice.delta.tool_calls or []:
            order.append(tc.index)
            entry = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": "", "pieces": 0})
            entry["pieces"] += 1
            if tc.id:
                assert entry["id"] is None, f"call {tc.index} got a second id"
                entry["id"] = tc.id
            if tc.function and tc.function.name:
                entry["name"] += tc.function.name
            if tc.function and tc.function.arguments:
                entry["arguments"] += tc.function.arguments
        if choice.finish_reason:
            finish.append(choice.finish_reason)
    if usage is not None:
        assert usage_at == count, "usage must come on the last chunk"
    return {"content": "".join(content), "calls": calls, "order": order, "finish": finish, "usage": usage}


# --------------------------------------------------------------------------- 1. the default wire


def test_default_wire_numeric_until_and_event_type_answer_through_the_sdk(sim, start_worker) -> None:
    for jwt in (A, B):
        sim.set_jwt(jwt, quota_current=10, quota_maximum=1000, until=UNTIL_MS)
    settings = sim.protocol()
    assert settings["until_format"] == "epoch_ms" and settings["event_type"] is True
    # the premise: the wire carries until as a JSON number and event_type on every event
    events = sse_events(sim.chat(A, chat_body_v8("premise")).text)
    assert events and all(e.get("event_type") == "data" for e in events), events
    [quota_event] = [e for e in events if e["type"] == "QuotaMetadata"]
    assert quota_event["updated"]["until"] == UNTIL_MS

    worker = start_worker.fleet(two_jwt_fleet(sim))
    with worker.openai() as client:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=[{"role": "user", "content": "Hello, wire!"}]
        )
        completion = raw.parse()
        assert completion.choices[0].message.content == "!eriw ,olleH"
        assert completion.choices[0].finish_reason == "stop"
        quota = raw.http_response.json()["usage"]["jetbrains_quota"]
        request = last_request(sim)
        assert request["path"] == CHAT_V8_PATH and request["endpoint"] == "chat", request
        assert parse_iso(quota["until"]) == UNTIL
        assert quota_of_usage(completion.usage)["until"] == quota["until"]

        stream = client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "streamed wire [[chunks=3]]"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        seen = collect_sdk_stream(stream)
    assert seen["content"] == "eriw demaerts"
    assert seen["finish"] == ["stop"]
    assert parse_iso(quota_of_usage(seen["usage"])["until"]) == UNTIL
    assert_all_healthy(worker)
    assert all(t["consecutive_failures"] == 0 for t in worker.tokens().values()), worker.health()


# --------------------------------------------------------------------------- 2. every wire variant


VARIANTS = [
    pytest.param({"until_format": "iso"}, id="until-iso"),
    pytest.param({"until_format": "epoch_ms_string"}, id="until-epoch-ms-string"),
    pytest.param({"amount_format": "number"}, id="amount-number"),
    pytest.param({"event_type": False}, id="no-event-type"),
    pytest.param({"extra_noise": True}, id="extra-noise"),
    pytest.param(
        {"until_format": "iso", "amount_format": "number", "event_type": False, "extra_noise": True}, id="all-at-once"
    ),
]


def premise_holds(events: list[dict[str, Any]], variant: dict[str, Any]) -> None:
    """The simulator really plays ``variant`` (else the test would prove nothing)."""
    [quota] = [e for e in events if e["type"] == "QuotaMetadata"]
    until = quota["updated"]["until"]
    if variant.get("until_format") == "iso":
        assert isinstance(until, str) and parse_iso(until) == UNTIL, until
    elif variant.get("until_format") == "epoch_ms_string":
        assert until == str(UNTIL_MS)
    else:
        assert until == UNTIL_MS
    if variant.get("amount_format") == "number":
        assert isinstance(quota["spent"]["amount"], (int, float)), quota
    if variant.get("event_type") is False:
        assert all("event_type" not in e for e in events), events
    if variant.get("extra_noise"):
        types = {e["type"] for e in events}
        assert {"UnknownMetadata", "ExecutionMetadata", "FunctionCallMetadata"} <= types, types


def probe_rounds(worker) -> int:
    return worker.log().count("Health check completed")


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_wire_variant_gives_the_same_answer_and_no_cool_down(sim, start_worker, variant) -> None:
    for jwt in (A, B):
        sim.set_jwt(jwt, quota_current=10, quota_maximum=1000, until=UNTIL_MS)
    worker = start_worker.fleet(two_jwt_fleet(sim, health_check_interval="1s"))
    message = "Same answer, any wire [[chunks=4]]"
    tool_message = "[[chunks=3]] use search for the same tool call"
    with worker.openai() as client:
        def ask(stream: bool) -> tuple[str, list[str], dict[str, Any]]:
            if stream:
                seen = collect_sdk_stream(client.chat.completions.create(
                    model="claude-sonnet-4-5", messages=[{"role": "user", "content": message}],
                    stream=True, stream_options={"include_usage": True},
                ))
                return seen["content"], seen["finish"], quota_of_usage(seen["usage"])
            done = client.chat.completions.create(model="claude-sonnet-4-5", messages=[{"role": "user", "content": message}])
            return done.choices[0].message.content, [done.choices[0].finish_reason], quota_of_usage(done.usage)

        def ask_tool(stream: bool) -> tuple[list[tuple[str, Any]], list[str]]:
            if stream:
                seen = collect_sdk_stream(client.chat.completions.create(
                    model="gpt-4o", messages=[{"role": "user", "content": tool_message}], tools=[SEARCH], stream=True,
                ))
                calls = [seen["calls"][i] for i in sorted(seen["calls"])]
                return [(c["name"], json.loads(c["arguments"])) for c in calls], seen["finish"]
            done = client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": tool_message}], tools=[SEARCH]
            )
            calls = done.choices[0].message.tool_calls or []
            return [(c.function.name, json.loads(c.function.arguments)) for c in calls], [done.choices[0].finish_reason]

        baseline = ask(False)
        assert baseline[0] == "eriw yna ,rewsna emaS" and baseline[1] == ["stop"]
        tool_baseline = ask_tool(False)
        assert tool_baseline == ([("search", {"query": tool_message.replace("[[chunks=3]] ", "")})], ["tool_calls"])

        sim.set_protocol(**variant)
        premise_holds(sse_events(sim.chat(A, chat_body_v8("premise", profile="anthropic-claude-4-5-sonnet")).text), variant)

        for stream in (False, True, False, True):  # each JWT once per mode (round robin)
            text, finish, quota = ask(stream)
            assert text == baseline[0], (stream, text)
            assert finish == ["stop"], (stream, finish)
            assert parse_iso(quota["until"]) == UNTIL, quota
            assert float(quota["maximum"]) == 1000.0, quota
            assert ask_tool(stream) == tool_baseline, stream
    # the quota probe reads the variant too
    rounds = probe_rounds(worker)
    wait_until(lambda: probe_rounds(worker) > rounds, timeout=5, message="a probe round under the variant")
    for token in worker.tokens().values():
        assert parse_iso(token["quota"]["until"]) == UNTIL, token
        assert float(token["quota"]["maximum"]) == 1000.0, token
    assert_all_healthy(worker)
    assert all(t["consecutive_failures"] == 0 for t in worker.tokens().values()), worker.health()
    assert sim.stats()["by_jwt"][A]["chat"] >= 6 and sim.stats()["by_jwt"][B]["chat"] >= 5


# --------------------------------------------------------------------------- 3. error events


def test_error_event_before_content_on_one_jwt_fails_over(sim, worker) -> None:
    sim.fault(kind="error_event", jwt=A, after_events=0, message="jwt a is broken today")
    with worker.openai() as client:
        for _ in range(2):  # round robin: one of the two requests starts on a
            done = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "fail over"}])
            assert done.choices[0].message.content == "revo liaf"
        seen = collect_sdk_stream(client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "stream over"}], stream=True
        ))
    assert seen["content"] == "revo maerts" and seen["finish"] == ["stop"]
    stats = sim.stats()
    assert stats["faults_applied"].get("error_event", 0) >= 1, stats
    assert stats["by_jwt"][B]["chat"] == 3, stats
    assert worker.tokens()["b"]["state"] == "healthy"
    # an error event is an upstream failure, like a 5xx: a cools down, it is not declared invalid
    assert worker.tokens()["a"]["state"] == "cooling_down", worker.health()


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
@pytest.mark.parametrize("with_type", [False, True], ids=["without-type", "with-type"])
def test_error_event_on_every_jwt_is_a_502_with_the_upstream_text(sim, worker, with_type, stream) -> None:
    sim.fault(kind="error_event", after_events=0, message="the model is overloaded, code 7731", with_type=with_type)
    # the premise: what the simulator sends
    [event] = sse_events(sim.chat(A, chat_body_v8("premise")).text)
    assert event["event_type"] == "error" and event["error_message"] == "the model is overloaded, code 7731"
    assert ("type" in event) == with_type, event

    with worker.openai() as client:
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "all broken"}], stream=stream
            )
    assert info.value.status_code == 502, info.value
    assert "the model is overloaded, code 7731" in info.value.message, info.value.message
    assert sim.stats()["by_jwt"][B]["chat"] == 1 and sim.stats()["by_jwt"][A]["chat"] == 2, "each JWT tried once"


def test_error_event_after_content_of_a_non_streamed_answer_still_fails_over(sim, worker) -> None:
    # nothing reached the client yet: the content already received upstream is dropped, b answers
    sim.fault(kind="error_event", jwt=A, after_events=2, message="late trouble on a")
    with worker.openai() as client:
        for _ in range(2):
            done = client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "abcdefgh [[chunks=4]]"}]
            )
            assert done.choices[0].message.content == "hgfedcba"
            assert done.choices[0].finish_reason == "stop"
    stats = sim.stats()
    assert stats["by_jwt"][A]["chat"] == 1 and stats["by_jwt"][B]["chat"] == 2, stats
    assert worker.tokens()["b"]["state"] == "healthy"


@pytest.mark.parametrize("no_end", [False, True], ids=["then-end", "no-end"])
def test_error_event_after_content_ends_the_stream_with_an_error_and_done(sim, worker, no_end) -> None:
    sim.fault(kind="error_event", after_events=2, message="stream broke midway", no_end=no_end)
    result = worker.stream("abcdefgh [[chunks=4]]")
    assert result.status == 200
    assert result.payloads[-1] == "[DONE]" and result.payloads.count("[DONE]") == 1, result.lines
    last = result.chunks[-1]
    assert set(last) == {"error"} and "stream broke midway" in last["error"]["message"], last
    assert result.content == "hgfe", result.lines
    assert result.finish_reasons == [], result.lines

    # and the SDK surfaces it as an error after the pieces it received
    sim.fault(kind="error_event", after_events=2, message="stream broke midway", no_end=no_end)
    with worker.openai() as client:
        received: list[str] = []
        with pytest.raises(openai.APIError):
            for chunk in client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "abcdefgh [[chunks=4]]"}], stream=True
            ):
                if chunk.choices and chunk.choices[0].delta.content:
                    received.append(chunk.choices[0].delta.content)
    assert "".join(received) == "hgfe"


# --------------------------------------------------------------------------- 4. parallel tool calls


def test_interleaved_parallel_tool_calls(sim, worker) -> None:
    message = "[[parallel_tools=3]] use search for cats"
    # the premise: the simulator's pieces really interleave
    upstream_tools = [{"name": "search", "description": "web search", "parameters": SEARCH["function"]["parameters"]}]
    events = sse_events(sim.chat(A, chat_body_v8(message, tools=upstream_tools)).text)
    indexes = [e.get("parallelToolIndex", 0) for e in events if e["type"] == "ToolCall"]
    assert sorted(set(indexes)) == [0, 1, 2]
    assert indexes != sorted(indexes), f"the pieces do not interleave: {indexes}"

    with worker.openai() as client:
        done = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": message}], tools=[SEARCH]
        )
        choice = done.choices[0]
        assert choice.finish_reason == "tool_calls"
        calls = choice.message.tool_calls
        assert len(calls) == 3
        assert [json.loads(c.function.arguments)["index"] for c in calls] == [0, 1, 2]
        assert all(c.function.name == "search" and c.type == "function" for c in calls)
        assert len({c.id for c in calls}) == 3 and all(c.id for c in calls)

        seen = collect_sdk_stream(client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": message}], tools=[SEARCH], stream=True
        ))
    assert sorted(seen["calls"]) == [0, 1, 2]
    assert seen["order"] != sorted(seen["order"]), f"expected interleaved deltas, got {seen['order']}"
    for index, call in seen["calls"].items():
        assert call["id"] and call["name"] == "search", call
        assert json.loads(call["arguments"])["index"] == index, call
    assert len({c["id"] for c in seen["calls"].values()}) == 3
    assert seen["finish"] == ["tool_calls"]

    # a single call without parallelToolIndex is call 0
    sim.set_protocol(omit_parallel_index_when_single=True)
    events = sse_events(sim.chat(A, chat_body_v8("use search", tools=upstream_tools)).text)
    assert all("parallelToolIndex" not in e for e in events if e["type"] == "ToolCall"), events
    with worker.openai() as client:
        seen = collect_sdk_stream(client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "use search [[chunks=3]]"}], tools=[SEARCH], stream=True
        ))
        done = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "use search"}], tools=[SEARCH]
        )
    assert list(seen["calls"]) == [0] and json.loads(seen["calls"][0]["arguments"]) == {"query": "use search"}
    assert [json.loads(c.function.arguments) for c in done.choices[0].message.tool_calls] == [{"query": "use search"}]


# --------------------------------------------------------------------------- 5. quota probe shapes


def test_quota_probe_tariff_shape_top_up_keeps_a_jwt_usable(sim, start_worker) -> None:
    sim.set_protocol(quota_shape="tariff")
    sim.set_jwt(A, quota_current=1000, quota_maximum=1000, until=UNTIL_MS, topup_current=0, topup_maximum=50)
    sim.set_jwt(B, quota_current=1000, quota_maximum=1000, until=UNTIL_MS, topup_current=0, topup_maximum=0)
    answer = sim.quota(A).json()
    assert float(answer["tariffQuota"]["available"]["amount"]) == 0 and float(answer["topUpQuota"]["available"]["amount"]) == 50
    worker = start_worker.fleet(two_jwt_fleet(sim, health_check_interval="1s"))
    assert worker.tokens()["a"]["state"] == "healthy", worker.health()
    exhausted = worker.tokens()["b"]
    assert exhausted["state"] == "quota_exhausted", worker.health()
    assert parse_iso(exhausted["until"]) == UNTIL, exhausted  # out of rotation until the tariff resets
    for _ in range(3):
        assert worker.chat("on top-up").json()["choices"][0]["message"]["content"] == "pu-pot no"
    assert sim.stats()["by_jwt"][A]["chat"] == 3 and sim.stats()["by_jwt"][B]["chat"] == 0
    assert sim.jwts()[A]["topup_current"] == 3
    # a later probe round keeps the verdicts
    rounds = probe_rounds(worker)
    wait_until(lambda: probe_rounds(worker) > rounds, timeout=5, message="another probe round")
    assert worker.tokens()["a"]["state"] == "healthy" and worker.tokens()["b"]["state"] == "quota_exhausted"
    # once the top-up is spent as well, a is out of rotation too
    sim.set_jwt(A, quota_current=1000, quota_maximum=1000, until=UNTIL_MS, topup_current=50, topup_maximum=50)
    assert parse_iso(worker.wait_state("a", "quota_exhausted", timeout=5)["until"]) == UNTIL


@pytest.mark.parametrize(
    "shape, formats",
    [
        pytest.param("current", {}, id="current"),
        pytest.param("old", {}, id="old"),
        pytest.param("tariff", {}, id="tariff"),
        pytest.param("current", {"amount_format": "number", "until_format": "iso"}, id="current-numbers-iso"),
        pytest.param("tariff", {"amount_format": "number", "until_format": "epoch_ms_string"}, id="tariff-numbers-ms-string"),
    ],
)
def test_quota_probe_reads_every_shape(sim, start_worker, shape, formats) -> None:
    sim.set_protocol(quota_shape=shape, **formats)
    sim.set_jwt(A, quota_current=250, quota_maximum=500, until=UNTIL_MS)
    sim.set_jwt(B, quota_current=500, quota_maximum=500, until=UNTIL_MS)
    worker = start_worker.fleet(two_jwt_fleet(sim, health_check_interval="1s"))
    tokens = worker.tokens()
    assert tokens["a"]["state"] == "healthy", worker.health()
    assert float(tokens["a"]["quota"]["current"]) == 250 and float(tokens["a"]["quota"]["maximum"]) == 500, tokens["a"]
    assert parse_iso(tokens["a"]["quota"]["until"]) == UNTIL, tokens["a"]
    assert tokens["b"]["state"] == "quota_exhausted", worker.health()
    assert parse_iso(tokens["b"]["until"]) == UNTIL, tokens["b"]
    # the quota is read again at the next round: a's quota spent upstream shows
    sim.set_jwt(A, quota_current=500, quota_maximum=500, until=UNTIL_MS)
    worker.wait_state("a", "quota_exhausted", timeout=5)


# --------------------------------------------------------------------------- 6. upstream 400 and 451


def test_upstream_400_is_the_clients_problem_no_failover_no_cool_down(sim, worker) -> None:
    sim.fault(kind="status", status=400, body="Unsupported model [x]")
    before = sim.stats()["totals"]["chat"]
    with worker.openai() as client:
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 400
    assert info.value.code == "upstream_rejected"
    assert "Unsupported model" in info.value.message
    assert sim.stats()["totals"]["chat"] == before + 1, "a 400 must not be retried on another JWT"
    with worker.openai() as client:
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}], stream=True).close()
    assert info.value.code == "upstream_rejected"
    assert sim.stats()["totals"]["chat"] == before + 2
    assert_all_healthy(worker)
    assert all(t["consecutive_failures"] == 0 for t in worker.tokens().values()), worker.health()


def test_the_simulators_own_400s_reach_the_client_as_400s(sim, start_worker) -> None:
    models = {
        # a tenant override sends seed to grok, which the simulator's "other" family does not take
        "xai-grok-4": {"parameters": ["seed"]},
        # a configured alias to a profile the upstream does not serve
        "my-model": "openai-gpt-9000",
    }
    worker = start_worker.fleet(two_jwt_fleet(sim, models=models))
    response = worker.chat("x", model="grok-4", seed=3)
    error = assert_openai_error(response, 400, "upstream_rejected")
    assert "Unsupported parameter llm.parameters.seed for profile xai-grok-4" in error["message"], error
    assert sim.stats()["totals"]["chat"] == 1

    response = worker.chat("x", model="my-model")
    error = assert_openai_error(response, 400, "upstream_rejected")
    assert "Unsupported model [" in error["message"] and "anthropic-claude-4-5-sonnet" in error["message"], error
    assert sim.stats()["totals"]["chat"] == 2
    assert_all_healthy(worker)
    assert all(t["consecutive_failures"] == 0 for t in worker.tokens().values()), worker.health()


def test_upstream_451_names_the_region_and_outbound_proxy(sim, worker) -> None:
    sim.fault(kind="status", status=451)
    with worker.openai() as client:
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 451
    assert info.value.code == "upstream_region_restricted"
    assert "region" in info.value.message and "outbound_proxy" in info.value.message, info.value.message
    assert sim.stats()["totals"]["chat"] == 1, "another JWT from the same host would fare no better"
    response = worker.chat("x", stream=True)
    assert_openai_error(response, 451, "upstream_region_restricted")
    assert sim.stats()["totals"]["chat"] == 2
    for token in worker.tokens().values():
        assert token["state"] not in ("invalid", "cooling_down"), worker.health()
    assert_all_healthy(worker)


# --------------------------------------------------------------------------- 7. parameters per family


EVERY_FIELD = dict(
    temperature=0.2,
    top_p=0.9,
    max_tokens=64,
    stop=["END"],
    seed=7,
    response_format={"type": "json_object"},
    reasoning_effort="low",
    verbosity="low",
    tools=[SEARCH],
    parallel_tool_calls=True,
)

FAMILY_FQDNS = {
    "claude-sonnet-4-5": ("anthropic-claude-4-5-sonnet", {"temperature", "top-p", "stop-token", "length", "parallel-tool-calls"}),
    "gpt-4o": ("openai-gpt-4o", {"temperature", "top-p", "seed", "length", "response-format", "parallel-tool-calls"}),
    "o3": ("openai-o3", {"length", "seed", "response-format", "reasoning-effort"}),
    "gpt-5": ("openai-gpt-5", {"length", "response-format", "parallel-tool-calls", "reasoning-effort", "verbosity"}),
    "gemini-2.5-pro": ("google-chat-gemini-pro-2.5", {"temperature", "top-p", "length", "response-format"}),
    "grok-4": ("xai-grok-4", set()),
}


@pytest.mark.parametrize("model", list(FAMILY_FQDNS))
def test_parameters_go_only_to_families_that_take_them(sim, worker, model) -> None:
    assert sim.protocol()["reject_unsupported_parameters"] is True
    profile, names = FAMILY_FQDNS[model]
    with worker.openai() as client:
        done = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "strict params"}], **EVERY_FIELD)
    assert done.choices[0].message.content == "smarap tcirts"
    request = last_request(sim)
    assert request["body"]["profile"] == profile
    sent = parameters_of(request["body"])
    assert set(sent) == {P + "tools"} | {P + n for n in names}, sorted(sent)
    assert sent[P + "tools"][0] == "json"
    assert [t["name"] for t in json.loads(sent[P + "tools"][1])] == ["search"]
    if model == "claude-sonnet-4-5":
        assert sent[P + "temperature"] == ("double", 0.2)
        assert sent[P + "top-p"] == ("double", 0.9)
        assert sent[P + "length"] == ("int", 64)
        assert sent[P + "stop-token"] == ("text", "END")
        assert sent[P + "parallel-tool-calls"] == ("bool", True)
    if model == "o3":
        assert P + "temperature" not in sent
        assert sent[P + "reasoning-effort"] == ("text", "low")
        assert sent[P + "seed"] == ("int", 7)
    if model == "gpt-5":
        assert sent[P + "verbosity"] == ("text", "low")
        assert sent[P + "response-format"][0] == "json"
        assert json.loads(sent[P + "response-format"][1]) == {"type": "json_object"}


def test_parameter_types_and_alternative_fields(sim, worker) -> None:
    with worker.openai() as client:
        client.chat.completions.create(
            model="claude-sonnet-4-5", messages=[{"role": "user", "content": "types"}],
            temperature=1, max_completion_tokens=33, stop="STOP",
        )
        sent = parameters_of(last_request(sim)["body"])
        assert sent == {
            P + "temperature": ("double", 1.0),
            P + "length": ("int", 33),
            P + "stop-token": ("text", "STOP"),
        }, sent
        assert isinstance(sent[P + "length"][1], int)

        client.chat.completions.create(
            model="o3", messages=[{"role": "user", "content": "types"}], max_completion_tokens=500, reasoning_effort="high"
        )
        sent = parameters_of(last_request(sim)["body"])
        assert sent == {P + "length": ("int", 500), P + "reasoning-effort": ("text", "high")}, sent

        # nothing to send: no parameters at all
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "bare"}])
        assert "parameters" not in last_request(sim)["body"], last_request(sim)["body"]


def test_a_tenant_override_gives_grok_temperature(sim, start_worker) -> None:
    worker = start_worker.fleet(two_jwt_fleet(sim, models={"xai-grok-4": {"parameters": ["temperature"]}}))
    with worker.openai() as client:
        done = client.chat.completions.create(
            model="grok-4", messages=[{"role": "user", "content": "hot"}], temperature=0.7, top_p=0.5, max_tokens=10
        )
    assert done.choices[0].message.content == "toh"
    sent = parameters_of(last_request(sim)["body"])
    assert sent == {P + "temperature": ("double", 0.7)}


# --------------------------------------------------------------------------- 8. tool_choice


def test_tool_choice_and_parallel_tool_calls_are_expressed_upstream(sim, worker) -> None:
    with worker.openai() as client:
        def ask(content: str, **kw: Any):
            done = client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": content}], tools=[SEARCH, WEATHER], **kw
            )
            return done.choices[0], parameters_of(last_request(sim)["body"])

        choice, sent = ask("please use search", tool_choice="auto")
        assert sent[P + "tool-choice-auto"] == ("bool", True)
        assert not {P + "tool-choice-none", P + "tool-choice-required", P + "tool-choice-named"} & set(sent)
        assert choice.finish_reason == "tool_calls" and choice.message.tool_calls[0].function.name == "search"

        choice, sent = ask("hello there", tool_choice="required")
        assert sent[P + "tool-choice-required"] == ("bool", True)
        assert not {P + "tool-choice-none", P + "tool-choice-auto", P + "tool-choice-named"} & set(sent)
        assert choice.finish_reason == "tool_calls" and choice.message.tool_calls, choice

        choice, sent = ask("hello there", tool_choice={"type": "function", "function": {"name": "get_weather"}})
        assert sent[P + "tool-choice-named"] == ("text", "get_weather")
        assert not {P + "tool-choice-none", P + "tool-choice-auto", P + "tool-choice-required"} & set(sent)
        assert choice.finish_reason == "tool_calls"
        assert [c.function.name for c in choice.message.tool_calls] == ["get_weather"]

        choice, sent = ask("please use search", tool_choice="none")
        assert sent[P + "tool-choice-none"] == ("bool", True)
        assert not {P + "tool-choice-auto", P + "tool-choice-required", P + "tool-choice-named"} & set(sent)
        assert choice.finish_reason == "stop" and not choice.message.tool_calls
        assert choice.message.content == "hcraes esu esaelp"

        choice, sent = ask("please use search", parallel_tool_calls=False)
        assert sent[P + "parallel-tool-calls"] == ("bool", False)


# --------------------------------------------------------------------------- 9. Codex


def test_codex_goes_to_the_responses_endpoint_without_tools_or_parameters(sim, worker) -> None:
    with worker.openai() as client:
        done = client.chat.completions.create(
            model="gpt-5.1-codex", messages=[{"role": "user", "content": "write code"}], temperature=0.3, max_tokens=100
        )
        assert done.choices[0].message.content == "edoc etirw"
        request = last_request(sim)
        assert request["endpoint"] == "responses" and request["path"] == RESPONSES_PATH
        assert request["body"]["profile"] == "openai-gpt-5-1-codex"
        assert "parameters" not in request["body"], request["body"]

        seen = collect_sdk_stream(client.chat.completions.create(
            model="gpt-5.1-codex", messages=[{"role": "user", "content": "stream code [[chunks=3]]"}],
            temperature=0.3, stream=True,
        ))
        assert seen["content"] == "edoc maerts" and seen["finish"] == ["stop"]
        request = last_request(sim)
        assert request["endpoint"] == "responses" and "parameters" not in request["body"], request

        recorded = len(sim.requests())
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(
                model="gpt-5.1-codex", messages=[{"role": "user", "content": "use search"}], tools=[SEARCH]
            )
    assert info.value.status_code == 400
    assert info.value.param == "tools", info.value.body
    assert len(sim.requests()) == recorded, "no upstream call for a refused Codex request"


# --------------------------------------------------------------------------- 10. messages


def test_empty_assistant_messages_are_not_sent(sim, worker) -> None:
    response = worker.chat([
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": "second"},
    ])
    assert response.status_code == 200, response.text
    assert last_request(sim)["body"]["chat"]["messages"] == [
        {"type": "user_message", "content": "first"},
        {"type": "user_message", "content": "second"},
    ]


def test_long_tool_call_ids_are_shortened_consistently(sim, worker) -> None:
    first = "call_" + "x" * 50 + "_one"
    second = "call_" + "x" * 50 + "_two"  # same first 40 characters as `first`
    messages = [
        {"role": "user", "content": "use search twice"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": first, "type": "function", "function": {"name": "search", "arguments": '{"query": "a"}'}},
                {"id": second, "type": "function", "function": {"name": "search", "arguments": '{"query": "b"}'}},
            ],
        },
        {"role": "tool", "tool_call_id": first, "content": "result one"},
        {"role": "tool", "tool_call_id": second, "content": "result two"},
    ]
    with worker.openai() as client:
        done = client.chat.completions.create(model="gpt-4o", messages=messages, tools=[SEARCH])
    assert done.choices[0].finish_reason == "stop"
    assert done.choices[0].message.content == "tool result: result two"
    upstream = last_request(sim)["body"]["chat"]["messages"]
    assert [m["type"] for m in upstream] == [
        "user_message", "assistant_message_tool", "assistant_message_tool", "tool_message", "tool_message",
    ], upstream
    calls, results = upstream[1:3], upstream[3:5]
    for call, result, arguments in zip(calls, results, ('{"query": "a"}', '{"query": "b"}')):
        assert len(call["id"]) <= 40, call
        assert result["id"] == call["id"], (call, result)
        assert call["toolName"] == result["toolName"] == "search"
        assert json.loads(call["content"]) == json.loads(arguments)
    assert calls[0]["id"] != calls[1]["id"], "two long ids must not collapse into one"
    assert [r["result"] for r in results] == ["result one", "result two"]


# --------------------------------------------------------------------------- 11. grazie-agent


def test_grazie_agent_default_and_tenant_value(sim, worker, start_worker) -> None:
    assert worker.chat("agent").status_code == 200
    agent = json.loads(last_request(sim)["headers"]["grazie-agent"])
    assert isinstance(agent["name"], str) and agent["name"]
    assert re.match(r"^253\.\d+", agent["version"]), agent

    custom = '{"name":"aia:idea","version":"253.1.2"}'
    tenant = start_worker.fleet(two_jwt_fleet(sim, grazie_agent=custom))
    assert tenant.chat("agent").status_code == 200
    assert last_request(sim)["headers"]["grazie-agent"] == custom


# --------------------------------------------------------------------------- 12. models


def listed_models(worker) -> dict[str, str]:
    with worker.openai() as client:
        return {m.id: (m.model_extra or {}).get("profile") for m in client.models.list()}


def test_models_come_from_the_profiles_endpoint(sim, start_worker) -> None:
    offered = ["vendor-new-1", "anthropic-claude-4-5-sonnet", "openai-o3"]
    sim.set_profiles([*offered, "openai-embedding-large"])
    worker = start_worker.fleet(two_jwt_fleet(sim))
    models = wait_until(
        lambda: (m := listed_models(worker)) and "vendor-new-1" in m and m,
        timeout=10, message="the profile list to reach /v1/models",
    )
    assert set(offered) <= set(models)
    # every built-in alias of an offered profile is listed with it
    assert {"claude-sonnet-4-5", "claude-4-5-sonnet", "claude-sonnet-4.5", "o3"} <= set(models), sorted(models)
    assert "gpt-4o" not in models and "openai-gpt-4o" not in models
    assert "openai-embedding-large" not in models  # not a chat model
    assert {p for p in models.values()} == set(offered), models
    assert models["claude-sonnet-4-5"] == "anthropic-claude-4-5-sonnet"

    with worker.openai() as client:
        fresh = client.chat.completions.create(model="vendor-new-1", messages=[{"role": "user", "content": "new"}])
        assert fresh.choices[0].message.content == "wen"
        assert last_request(sim)["body"]["profile"] == "vendor-new-1"

        dated = client.chat.completions.create(
            model="claude-sonnet-4-5-20250929", messages=[{"role": "user", "content": "dated"}]
        )
        assert dated.choices[0].message.content == "detad"
        assert last_request(sim)["body"]["profile"] == "anthropic-claude-4-5-sonnet"

        chats = sim.stats()["totals"]["chat"]
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model="claude-sonet-4-5", messages=[{"role": "user", "content": "typo"}])
    assert info.value.code == "model_not_found"
    assert "claude-sonnet-4-5" in info.value.message, info.value.message
    assert sim.stats()["totals"]["chat"] == chats


def test_models_fall_back_to_the_built_in_table(sim, start_worker) -> None:
    sim.fault(kind="status", status=500, endpoint="profiles")
    worker = start_worker.fleet(two_jwt_fleet(sim))
    wait_until(lambda: sim.stats()["totals"]["profiles"] >= 1, timeout=10, message="the worker's profile fetch")
    wait_until(lambda: sim.stats()["faults_applied"].get("status", 0) >= 1, timeout=5, message="the fault to be played")
    models = listed_models(worker)
    assert "gpt-4o" in models and "claude-sonnet-4-5" in models and "vendor-new-1" not in models
    with worker.openai() as client:
        done = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "fallback"}])
    assert done.choices[0].message.content == "kcabllaf"
    assert_all_healthy(worker)


# --------------------------------------------------------------------------- 13. credentials


TRIAL_AUTH = "trial-license-auth-secret-0123456789"
LICENSE = "L-sim-refresh-0123456789"
REFRESH = "rt-original-secret-0123456789abcdef"


def test_a_trial_license_that_issues_a_token_works(sim, start_worker) -> None:
    sim.add_license("L-trial-1", TRIAL_AUTH, state="TRIAL")
    worker = start_worker.fleet(fleet_document(sim.url, [
        {"name": "trial", "license_id": "L-trial-1", "authorization": TRIAL_AUTH},
    ]))
    assert worker.tokens()["trial"]["state"] == "healthy", worker.health()
    with worker.openai() as client:
        done = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "trial"}])
    assert done.choices[0].message.content == "lairt"
    assert sim.stats()["by_license"] == {"L-trial-1": 1}
    issued = last_request(sim)["jwt"]
    log = worker.log()
    assert TRIAL_AUTH not in log and issued not in log


def test_refresh_token_rotation_is_saved_and_survives_a_restart(sim, start_worker, tmp_path: Path) -> None:
    sim.add_license(LICENSE, None)  # only id tokens minted by the OAuth exchange are accepted
    sim.add_refresh_token(REFRESH, license_id=LICENSE, rotate=True)
    state_dir = tmp_path / "worker-state"
    document = fleet_document(
        sim.url,
        [{"name": "durable", "license_id": LICENSE, "refresh_token": REFRESH}],
        account_url=sim.url,
        supervisor={"state_dir": str(state_dir)},
    )
    first = start_worker.fleet(document)
    assert first.tokens()["durable"]["state"] == "healthy", first.health()
    with first.openai() as client:
        assert client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "durable"}]
        ).choices[0].message.content == "elbarud"
    jwt_first = last_request(sim)["jwt"]

    oauth = sim.oauth()
    [original] = [r for r in oauth["refresh_tokens"] if r["rotated_from"] is None]
    assert original["uses"] == 1 and original["valid"] is False and original["replaced_by"], oauth

    saved_file = state_dir / "team-a" / "credentials.json"
    wait_until(saved_file.exists, timeout=5, message=f"{saved_file} to be written")
    text = saved_file.read_text()
    assert REFRESH not in text
    assert stat.S_IMODE(saved_file.stat().st_mode) == 0o600
    rotated = json.loads(text)["tokens"]["durable"]["refresh_token"]
    assert rotated and rotated != REFRESH
    log_first = first.log()
    assert first.terminate() == 0

    second = start_worker.fleet(document, workdir=first.workdir)
    assert second.tokens()["durable"]["state"] == "healthy", second.health()
    with second.openai() as client:
        assert client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "again"}]
        ).choices[0].message.content == "niaga"
    oauth = sim.oauth()
    records = {r["id"]: r for r in oauth["refresh_tokens"]}
    assert records[original["id"]]["rejected_uses"] == 0, oauth
    successor = records[original["replaced_by"]]
    assert successor["uses"] == 1 and successor["rejected_uses"] == 0, oauth
    assert sum(r["rejected_uses"] for r in records.values()) == 0, oauth
    assert sim.stats()["totals"]["oauth"] == 2
    newest = json.loads(saved_file.read_text())["tokens"]["durable"]["refresh_token"]
    assert newest not in (REFRESH, rotated)
    assert stat.S_IMODE(saved_file.stat().st_mode) == 0o600

    config = second.client.get("/config").json()
    assert config["state_dir"] == str(state_dir), config
    logs = log_first + second.log() + json.dumps(config) + json.dumps(second.health())
    for secret in (REFRESH, rotated, newest, jwt_first, last_request(sim)["jwt"]):
        assert secret not in logs


def test_the_id_token_is_renewed_against_the_simulator(sim, start_worker, tmp_path: Path) -> None:
    sim.add_license(LICENSE, None)
    sim.add_refresh_token(REFRESH, license_id=LICENSE, rotate=True, id_token_ttl_s=4)
    worker = start_worker.fleet(fleet_document(
        sim.url,
        [{"name": "durable", "license_id": LICENSE, "refresh_token": REFRESH}],
        account_url=sim.url,
        supervisor={"state_dir": str(tmp_path / "state")},
    ))
    assert worker.tokens()["durable"]["state"] == "healthy", worker.health()
    wait_until(lambda: sim.stats()["totals"]["oauth"] >= 2, timeout=10, message="the id token's renewal")
    oauth = sim.oauth()
    assert sum(r["rejected_uses"] for r in oauth["refresh_tokens"]) == 0, oauth
    # the renewal presented the rotated token, not the original one
    [original] = [r for r in oauth["refresh_tokens"] if r["rotated_from"] is None]
    assert original["uses"] == 1, oauth
    assert worker.chat("renewed").json()["choices"][0]["message"]["content"] == "dewener"
    assert worker.tokens()["durable"]["state"] == "healthy"
    assert REFRESH not in worker.log()
