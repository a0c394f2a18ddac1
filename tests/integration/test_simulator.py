"""Real-process tests of ``jetbrains-ai-simulator``: upstream endpoints, markers, tools,
quota, licenses, auth rules, fault injection and the admin API."""

from __future__ import annotations

import json
import signal
import time
from datetime import datetime, timezone

import httpx
import pytest

from harness import (
    CHAT_V7_PATH,
    CHAT_V8_PATH,
    QUOTA_PATH,
    Simulator,
    assistant_text,
    assistant_tool,
    chat_body_v7,
    chat_body_v8,
    content_text,
    decode_jwt,
    finish_reason,
    function_calls_v7,
    function_message,
    jwt_headers,
    make_jwt,
    parse_sse,
    sse_events,
    system_message,
    tool,
    tool_calls_v8,
    tool_message,
    user_message,
    wait_until,
    write_config,
)

JWT = "jwt-alpha"


def events_of(response: httpx.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return sse_events(response.text)


def types_of(events: list[dict]) -> list[str]:
    return [e["type"] for e in events]


def iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --------------------------------------------------------------------------- basics


def test_listening_line_unknown_path_and_health(simulator: Simulator) -> None:
    assert simulator.url.startswith("http://127.0.0.1:")
    assert not simulator.url.endswith(":0")
    assert simulator.health()
    assert simulator.client.get("/nope").status_code == 404
    assert simulator.client.post("/user/v5/llm/chat/stream/v9").status_code == 404
    assert simulator.client.get("/_sim/nope").status_code == 404


def test_sigterm_and_sigint_exit_zero(start_simulator) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        sim = start_simulator()
        sim.send_signal(sig)
        assert sim.wait(timeout=10) == 0


def test_bad_listen_argument_fails(tmp_path) -> None:
    from harness import Proc, binary

    proc = Proc(binary("jetbrains-ai-simulator"), ["--listen", "nonsense"], log_dir=tmp_path)
    assert proc.wait(timeout=10) != 0
    assert "--listen" in proc.output()


# --------------------------------------------------------------------------- text answers


def test_v8_text_answer_event_shapes(simulator: Simulator) -> None:
    events = events_of(simulator.chat(JWT, chat_body_v8("Hello, world!")))
    assert types_of(events) == ["Content"] * 4 + ["FinishMetadata", "QuotaMetadata"]
    assert content_text(events) == "!dlrow ,olleH"
    pieces = [e["content"] for e in events[:4]]
    assert max(map(len, pieces)) - min(map(len, pieces)) <= 1
    assert events[4] == {"type": "FinishMetadata", "reason": "stop", "event_type": "data"}
    assert all(e["event_type"] == "data" for e in events)
    quota = events[5]
    assert quota["spent"] == {"amount": "1"}
    assert float(quota["updated"]["current"]["amount"]) == 1.0
    assert float(quota["updated"]["maximum"]["amount"]) == 1000.0
    # by default `until` is a JSON number, epoch milliseconds (JetBrains' own client)
    until = quota["updated"]["until"]
    assert type(until) is int and until > time.time() * 1000


def test_stream_ends_with_data_end_and_events_are_single_lines(simulator: Simulator) -> None:
    response = simulator.chat(JWT, chat_body_v8("line one\nline two"))
    assert response.text.endswith("data: end\n\n")
    for block in response.text.split("\n\n")[:-1]:
        assert block.startswith("data: ") and "\n" not in block
    assert content_text(sse_events(response.text)) == "owt enil\neno enil"


def test_v7_text_answer(simulator: Simulator) -> None:
    body = chat_body_v7([system_message("be nice"), user_message("abc def")])
    events = events_of(simulator.chat(JWT, body, version="v7"))
    assert types_of(events) == ["Content"] * 4 + ["FinishMetadata", "QuotaMetadata"]
    assert content_text(events) == "fed cba"
    assert finish_reason(events) == "stop"


def test_answer_reverses_the_last_user_message(simulator: Simulator) -> None:
    body = chat_body_v8([user_message("first"), assistant_text("tsrif"), user_message("second")])
    assert content_text(events_of(simulator.chat(JWT, body))) == "dnoces"
    # the last user message even when an assistant message follows it
    body = chat_body_v8([user_message("only"), assistant_text("ylno")])
    assert content_text(events_of(simulator.chat(JWT, body))) == "ylno"


def test_reversal_is_by_characters(simulator: Simulator) -> None:
    text = "ab👍🏽cé"
    events = events_of(simulator.chat(JWT, chat_body_v8(text)))
    assert content_text(events) == "éc👍🏽ba"


def test_chunk_markers(simulator: Simulator) -> None:
    events = events_of(simulator.chat(JWT, chat_body_v8("[[chunks=2]] abcdef")))
    assert [e["content"] for e in events if e["type"] == "Content"] == ["fed", "cba"]

    events = events_of(simulator.chat(JWT, chat_body_v8("abcdefghij [[chunks=7]]")))
    contents = [e["content"] for e in events if e["type"] == "Content"]
    assert len(contents) == 7 and "".join(contents) == "jihgfedcba"

    # fewer characters than chunks: one event per character
    events = events_of(simulator.chat(JWT, chat_body_v8("[[chunks=10]]xyz")))
    assert [e["content"] for e in events if e["type"] == "Content"] == ["z", "y", "x"]


def test_text_and_finish_markers(simulator: Simulator) -> None:
    events = events_of(simulator.chat(JWT, chat_body_v8("ignored [[text=Hello there]] [[chunks=3]]")))
    assert [e["content"] for e in events if e["type"] == "Content"] == ["Hell", "o th", "ere"]

    events = events_of(simulator.chat(JWT, chat_body_v8("[[finish=length]] abc")))
    assert content_text(events) == "cba"
    assert finish_reason(events) == "length"

    # unknown [[...]] stay in the text
    events = events_of(simulator.chat(JWT, chat_body_v8("a[[x=1]]b")))
    assert content_text(events) == "b]]1=x[[a"


def test_delay_marker_paces_events(simulator: Simulator) -> None:
    body = json.dumps(chat_body_v8("abc [[chunks=3]] [[delay_ms=150]]"))
    arrivals: list[float] = []
    start = time.monotonic()
    with simulator.client.stream("POST", CHAT_V8_PATH, content=body, headers=jwt_headers(JWT)) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                arrivals.append(time.monotonic() - start)
    assert len(arrivals) == 6  # 3 Content, Finish, Quota, end
    assert arrivals[0] >= 0.13  # a pause before the first event too
    assert arrivals[2] - arrivals[0] >= 0.25  # streamed one by one, not at the end


def test_cli_chunks_and_delay_options(start_simulator) -> None:
    sim = start_simulator("--chunks", "2", "--chunk-delay-ms", "100")
    start = time.monotonic()
    events = events_of(sim.chat(JWT, chat_body_v8("abcd")))
    assert time.monotonic() - start >= 0.19
    assert [e["content"] for e in events if e["type"] == "Content"] == ["dc", "ba"]


def test_config_file(start_simulator, tmp_path) -> None:
    config = write_config(
        tmp_path,
        {
            "jwts": [{"jwt": "cfg-jwt", "quota_current": 5, "quota_maximum": 6}],
            "licenses": [{"license_id": "L-cfg", "authorization": "auth-cfg", "state": "PAID", "jwt_ttl_s": 60}],
            "chunks": 1,
            "chunk_delay_ms": 0,
        },
    )
    sim = start_simulator("--config", str(config))
    events = events_of(sim.chat("cfg-jwt", chat_body_v8("abc")))
    assert [e["content"] for e in events if e["type"] == "Content"] == ["cba"]
    assert events[-1]["updated"]["current"]["amount"] == "6.0"
    assert sim.chat("cfg-jwt", chat_body_v8("abc")).status_code == 477
    assert sim.chat("other-jwt", chat_body_v8("abc")).status_code == 401
    minted = sim.license("L-cfg", "auth-cfg")
    assert minted.status_code == 200 and minted.json()["state"] == "PAID"


# --------------------------------------------------------------------------- tools


WEATHER = tool("get_weather", "weather by city")
SEARCH = tool("search", "web search")


def test_v8_tool_call_for_named_tool(simulator: Simulator) -> None:
    message = "please use search for cats"
    events = events_of(simulator.chat(JWT, chat_body_v8(message, tools=[WEATHER, SEARCH])))
    calls = tool_calls_v8(events)
    assert [c["name"] for c in calls] == ["search"]
    assert calls[0]["id"].startswith("call_")
    assert json.loads(calls[0]["arguments"]) == {"query": message}
    tool_events = [e for e in events if e["type"] == "ToolCall"]
    assert len(tool_events) >= 2
    assert set(tool_events[0]) == {"type", "id", "name", "content", "parallelToolIndex", "event_type"}
    assert all(set(e) == {"type", "content", "parallelToolIndex", "event_type"} for e in tool_events[1:])
    assert all(e["parallelToolIndex"] == 0 for e in tool_events)
    assert finish_reason(events) == "tool_call"
    assert "Content" not in types_of(events)
    assert types_of(events)[-2:] == ["FinishMetadata", "QuotaMetadata"]


def test_v8_two_tools_get_two_calls_with_new_ids(simulator: Simulator) -> None:
    message = "check get_weather, then search the web"
    events = events_of(simulator.chat(JWT, chat_body_v8(message, tools=[SEARCH, WEATHER])))
    calls = tool_calls_v8(events)
    assert [c["name"] for c in calls] == ["get_weather", "search"]
    assert calls[0]["id"] != calls[1]["id"]
    for call in calls:
        assert json.loads(call["arguments"]) == {"query": message}
    # ids keep counting across requests
    again = tool_calls_v8(events_of(simulator.chat(JWT, chat_body_v8(message, tools=[SEARCH, WEATHER]))))
    assert {c["id"] for c in again}.isdisjoint({c["id"] for c in calls})


def test_word_tool_calls_the_first_tool(simulator: Simulator) -> None:
    events = events_of(simulator.chat(JWT, chat_body_v8("Use a Tool please", tools=[WEATHER, SEARCH])))
    assert [c["name"] for c in tool_calls_v8(events)] == ["get_weather"]


def test_tools_offered_but_not_asked_for_gives_text(simulator: Simulator) -> None:
    events = events_of(simulator.chat(JWT, chat_body_v8("just talk", tools=[WEATHER])))
    assert content_text(events) == "klat tsuj"
    assert finish_reason(events) == "stop"


def test_tool_words_without_tools_give_text(simulator: Simulator) -> None:
    events = events_of(simulator.chat(JWT, chat_body_v8("use a tool")))
    assert content_text(events) == "loot a esu"


def test_v7_function_call(simulator: Simulator) -> None:
    message = "call get_weather for Paris"
    events = events_of(simulator.chat(JWT, chat_body_v7(message, functions=[WEATHER, SEARCH]), version="v7"))
    fn_events = [e for e in events if e["type"] == "FunctionCall"]
    assert fn_events[0]["name"] == "get_weather"
    assert len(fn_events) >= 2
    assert all("name" in e and e["name"] is None for e in fn_events[1:])
    calls = function_calls_v7(events)
    assert calls == [{"name": "get_weather", "arguments": json.dumps({"query": message}, separators=(",", ":"))}]
    assert json.loads(calls[0]["arguments"]) == {"query": message}
    assert finish_reason(events) == "tool_call"


def test_tool_result_answers(simulator: Simulator) -> None:
    body = chat_body_v8(
        [
            user_message("use search"),
            assistant_tool("call_9", "search", '{"query":"use search"}'),
            tool_message("call_9", "search", "42 results"),
        ],
        tools=[SEARCH],
    )
    events = events_of(simulator.chat(JWT, body))
    assert content_text(events) == "tool result: 42 results"
    assert finish_reason(events) == "stop"

    body7 = chat_body_v7(
        [user_message("use search"), {"type": "assistant_message", "content": "", "functionCall": {"functionName": "search", "content": "{}"}}, function_message("search", "sunny")],
        functions=[SEARCH],
    )
    events = events_of(simulator.chat(JWT, body7, version="v7"))
    assert content_text(events) == "tool result: sunny"


# --------------------------------------------------------------------------- quota and auth


def test_quota_endpoint_new_format_spends_nothing(simulator: Simulator) -> None:
    simulator.set_jwt(JWT, quota_current=12, quota_maximum=1000)
    for _ in range(3):
        response = simulator.quota(JWT)
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"current"}
        until = body["current"].pop("until")
        assert body["current"] == {"current": {"amount": "12.0"}, "maximum": {"amount": "1000.0"}}
        assert type(until) is int and until > time.time() * 1000
    events = events_of(simulator.chat(JWT, chat_body_v8("x")))
    assert events[-1]["updated"]["current"]["amount"] == "13.0"
    assert simulator.quota(JWT).json()["current"]["current"]["amount"] == "13.0"
    assert simulator.stats()["by_jwt"][JWT] == {"chat": 1, "quota": 4, "profiles": 0}


def test_quota_endpoint_old_format(start_simulator) -> None:
    sim = start_simulator("--quota-format", "old", "--jwt", JWT)
    body = sim.quota(JWT).json()
    assert body["dailyUsed"] == 0 and body["dailyTotal"] == 1000
    assert "until" in body
    sim.set_jwt(JWT, quota_current=12.5)
    assert sim.quota(JWT).json()["dailyUsed"] == 12.5


def test_quota_until_is_reported_and_resets(simulator: Simulator) -> None:
    soon = datetime.fromtimestamp(time.time() + 1.5, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    simulator.set_jwt(JWT, quota_current=5, quota_maximum=5, until=soon)
    response = simulator.chat(JWT, chat_body_v8("x"))
    assert response.status_code == 477
    assert simulator.quota(JWT).json()["current"]["until"] == int(iso(soon).timestamp() * 1000)
    # once `until` has passed the quota starts over
    wait_until(lambda: simulator.chat(JWT, chat_body_v8("x")).status_code == 200, timeout=5, message="quota reset")


def test_open_mode_accepts_any_jwt_until_one_is_configured(simulator: Simulator) -> None:
    assert simulator.chat("anything", chat_body_v8("a")).status_code == 200
    assert simulator.quota("something-else").status_code == 200
    assert simulator.chat(None, chat_body_v8("a")).status_code == 401
    assert simulator.chat("", chat_body_v8("a")).status_code == 401
    simulator.set_jwt(JWT)
    assert simulator.chat(JWT, chat_body_v8("a")).status_code == 200
    unknown = simulator.chat("never-seen", chat_body_v8("a"))
    assert unknown.status_code == 401
    assert unknown.headers["content-type"].startswith("application/json") and "error" in unknown.json()
    assert simulator.quota("never-seen").status_code == 401


def test_configured_jwt_flag_rules(start_simulator) -> None:
    sim = start_simulator("--jwt", "j1", "--jwt", "j2")
    assert sim.chat("j1", chat_body_v8("a")).status_code == 200
    assert sim.chat("j2", chat_body_v8("a"), version="v7").status_code == 200
    assert sim.chat("j3", chat_body_v8("a")).status_code == 401
    sim.set_jwt("j1", valid=False)
    assert sim.chat("j1", chat_body_v8("a")).status_code == 401
    assert sim.quota("j1").status_code == 401
    sim.set_jwt("j1", valid=True)
    assert sim.chat("j1", chat_body_v8("a")).status_code == 200


def test_quota_exhaustion_gives_477(simulator: Simulator) -> None:
    simulator.set_jwt(JWT, quota_current=0, quota_maximum=2)
    assert simulator.chat(JWT, chat_body_v8("a")).status_code == 200
    assert simulator.chat(JWT, chat_body_v8("a")).status_code == 200
    response = simulator.chat(JWT, chat_body_v8("a"))
    assert response.status_code == 477
    assert response.json()["error"] == "quota_exhausted"
    quota = simulator.quota(JWT).json()["current"]
    quota.pop("until")
    assert quota == {"current": {"amount": "2.0"}, "maximum": {"amount": "2.0"}}


def test_expired_jwt_claim_is_refused(simulator: Simulator) -> None:
    assert simulator.chat(make_jwt(sub="x", exp=int(time.time()) - 10), chat_body_v8("a")).status_code == 401
    assert simulator.chat(make_jwt(sub="x", exp=int(time.time()) + 600), chat_body_v8("a")).status_code == 200


def test_malformed_body_gives_400(simulator: Simulator) -> None:
    assert simulator.chat(JWT, "{not json").status_code == 400
    assert simulator.chat(JWT, {"chat": {}}).status_code == 400
    assert simulator.chat(JWT, {"chat": {"messages": [{"content": "no type"}]}}).status_code == 400
    bad_tools = chat_body_v8("x")
    bad_tools["parameters"] = {"data": [{"type": "json", "fqdn": "llm.parameters.tools"}, {"type": "json", "value": "nope"}]}
    assert simulator.chat(JWT, bad_tools).status_code == 400
    # malformed requests spend nothing
    assert simulator.quota(JWT).json()["current"]["current"]["amount"] == "0.0"


def test_auth_is_checked_before_the_body(simulator: Simulator) -> None:
    simulator.set_jwt(JWT, quota_current=1, quota_maximum=1)
    assert simulator.chat("unknown", "{not json").status_code == 401
    assert simulator.chat(JWT, "{not json").status_code == 477


# --------------------------------------------------------------------------- licenses


def test_license_minting(simulator: Simulator) -> None:
    simulator.add_license("L-1", "secret-1", jwt_ttl_s=600)
    simulator.set_jwt("configured")  # strict mode: only known JWTs work
    first = simulator.license("L-1", "secret-1")
    second = simulator.license("L-1", "secret-1")
    assert first.status_code == second.status_code == 200
    token1, token2 = first.json()["token"], second.json()["token"]
    assert first.json()["state"] == "PAID"
    assert token1 != token2
    for token in (token1, token2):
        assert token.count(".") == 2
        payload = decode_jwt(token)
        assert payload["sub"] == "L-1"
        assert abs(payload["exp"] - (time.time() + 600)) < 5
        assert payload["iat"] <= time.time() + 1
    assert decode_jwt(token1)["jti"] != decode_jwt(token2)["jti"]
    events = events_of(simulator.chat(token1, chat_body_v8("minted")))
    assert content_text(events) == "detnim"
    assert simulator.quota(token2).status_code == 200
    assert simulator.stats()["by_license"] == {"L-1": 2}


def test_license_refusals_and_states(simulator: Simulator) -> None:
    simulator.add_license("L-1", "secret-1")
    simulator.add_license("L-trial", "secret-2", state="TRIAL_EXPIRED", issue_token=False)
    assert simulator.license("L-1", "wrong").status_code == 401
    assert simulator.license("L-unknown", "secret-1").status_code == 401
    assert simulator.client.post("/auth/jetbrains-jwt/provide-access/license/v2", json={"licenseId": "L-1"}).status_code == 401
    response = simulator.license("L-trial", "secret-2")
    assert response.status_code == 200 and response.json() == {"state": "TRIAL_EXPIRED"}


def test_minted_token_expires(simulator: Simulator) -> None:
    simulator.add_license("L-short", "s", jwt_ttl_s=1)
    token = simulator.license("L-short", "s").json()["token"]
    assert simulator.chat(token, chat_body_v8("a")).status_code == 200
    wait_until(lambda: simulator.chat(token, chat_body_v8("a")).status_code == 401, timeout=5, message="minted JWT expiry")
    assert simulator.quota(token).status_code == 401


# --------------------------------------------------------------------------- faults


def test_fault_status_with_retry_after(simulator: Simulator) -> None:
    simulator.fault(kind="status", status=429, retry_after=2)
    response = simulator.chat(JWT, chat_body_v8("a"))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    simulator.clear_faults()
    simulator.fault(kind="status", status=503)
    response = simulator.chat(JWT, chat_body_v8("a"))
    assert response.status_code == 503 and "retry-after" not in response.headers
    simulator.clear_faults()
    for status in (401, 403, 477, 500):
        fault_id = simulator.fault(kind="status", status=status)
        assert simulator.chat(JWT, chat_body_v8("a")).status_code == status
        assert simulator.clear_faults(fault_id) == 1
    assert simulator.chat(JWT, chat_body_v8("a")).status_code == 200
    # faulted requests spend no quota
    assert simulator.quota(JWT).json()["current"]["current"]["amount"] == "1.0"


def test_fault_count_expires(simulator: Simulator) -> None:
    simulator.fault(kind="status", status=500, count=2)
    assert [simulator.chat(JWT, chat_body_v8("a")).status_code for _ in range(3)] == [500, 500, 200]
    assert simulator.faults() == []
    assert simulator.stats()["faults_applied"] == {"status": 2}


def test_fault_delay(simulator: Simulator) -> None:
    simulator.fault(kind="delay", delay_ms=400)
    start = time.monotonic()
    events = events_of(simulator.chat(JWT, chat_body_v8("abc")))
    assert time.monotonic() - start >= 0.38
    assert content_text(events) == "cba"


def test_fault_hang_then_still_healthy(simulator: Simulator) -> None:
    simulator.fault(kind="hang", count=1)
    with pytest.raises(httpx.ReadTimeout):
        simulator.chat(JWT, chat_body_v8("a"), timeout=0.5)
    # the hung request ends when the client goes away: nothing leaks
    wait_until(lambda: simulator.stats()["in_flight"] == 0, timeout=5, message="hung request to end")
    assert content_text(events_of(simulator.chat(JWT, chat_body_v8("abc")))) == "cba"
    assert simulator.stats()["faults_applied"] == {"hang": 1}


def test_many_hangs_do_not_leak(simulator: Simulator) -> None:
    simulator.fault(kind="hang")
    for _ in range(5):
        with pytest.raises(httpx.ReadTimeout):
            simulator.chat(JWT, chat_body_v8("a"), timeout=0.2)
    wait_until(lambda: simulator.stats()["in_flight"] == 0, timeout=5, message="hung requests to end")
    simulator.clear_faults()
    assert simulator.chat(JWT, chat_body_v8("a")).status_code == 200


def read_until_broken(sim: Simulator, body: dict, jwt: str = JWT) -> tuple[int, list[str], BaseException | None]:
    """Streams a chat answer; returns (status, data payloads received, error that ended it)."""
    lines: list[str] = []
    error: BaseException | None = None
    with sim.client.stream("POST", CHAT_V8_PATH, content=json.dumps(body), headers=jwt_headers(jwt)) as response:
        try:
            for line in response.iter_lines():
                lines.append(line)
        except httpx.HTTPError as e:
            error = e
        status = response.status_code
    return status, parse_sse("\n".join(lines) + "\n"), error


def test_fault_drop_mid_stream(simulator: Simulator) -> None:
    simulator.fault(kind="drop", after_events=2, count=1)
    status, payloads, error = read_until_broken(simulator, chat_body_v8("abcdefgh"))
    assert status == 200
    assert isinstance(error, httpx.RemoteProtocolError)
    assert len(payloads) == 2 and "end" not in payloads
    assert [json.loads(p)["type"] for p in payloads] == ["Content", "Content"]
    wait_until(lambda: simulator.stats()["in_flight"] == 0, timeout=5)
    assert simulator.chat(JWT, chat_body_v8("a")).status_code == 200
    # more events asked for than the answer has: everything but `data: end`
    simulator.fault(kind="drop", after_events=50, count=1)
    status, payloads, error = read_until_broken(simulator, chat_body_v8("abc"))
    assert isinstance(error, httpx.RemoteProtocolError)
    assert [json.loads(p)["type"] for p in payloads] == ["Content"] * 3 + ["FinishMetadata", "QuotaMetadata"]


def test_fault_garbage(simulator: Simulator) -> None:
    simulator.fault(kind="garbage")
    response = simulator.chat(JWT, chat_body_v8("a"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    payloads = parse_sse(response.text)
    assert payloads and "end" not in payloads
    for payload in payloads:
        with pytest.raises(json.JSONDecodeError):
            json.loads(payload)


def test_per_jwt_faults_win_over_global_and_newest_wins(simulator: Simulator) -> None:
    simulator.fault(kind="status", status=503)
    simulator.fault(kind="status", status=429, jwt="special")
    assert simulator.chat("special", chat_body_v8("a")).status_code == 429
    assert simulator.chat("ordinary", chat_body_v8("a")).status_code == 503
    newer_global = simulator.fault(kind="status", status=500)
    assert simulator.chat("special", chat_body_v8("a")).status_code == 429  # per-JWT still wins
    assert simulator.chat("ordinary", chat_body_v8("a")).status_code == 500  # newest global
    newer_special = simulator.fault(kind="status", status=403, jwt="special")
    assert simulator.chat("special", chat_body_v8("a")).status_code == 403
    simulator.clear_faults(newer_special)
    simulator.clear_faults(newer_global)
    assert simulator.chat("special", chat_body_v8("a")).status_code == 429
    assert simulator.chat("ordinary", chat_body_v8("a")).status_code == 503
    assert simulator.clear_faults() == 2
    assert simulator.chat("ordinary", chat_body_v8("a")).status_code == 200


def test_fault_endpoints(simulator: Simulator) -> None:
    simulator.add_license("L-1", "s")
    simulator.fault(kind="status", status=500, endpoint="quota")
    assert simulator.quota(JWT).status_code == 500
    assert simulator.chat(JWT, chat_body_v8("a")).status_code == 200
    assert simulator.license("L-1", "s").status_code == 200
    simulator.clear_faults()
    simulator.fault(kind="status", status=503, endpoint="license")
    assert simulator.license("L-1", "s").status_code == 503
    assert simulator.quota(JWT).status_code == 200
    simulator.clear_faults()
    simulator.fault(kind="status", status=502, endpoint="any")
    assert simulator.quota(JWT).status_code == 502
    assert simulator.license("L-1", "s").status_code == 502
    assert simulator.chat(JWT, chat_body_v8("a")).status_code == 502
    simulator.clear_faults()
    simulator.fault(kind="garbage", endpoint="quota")
    response = simulator.quota(JWT)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()
    simulator.clear_faults()
    simulator.fault(kind="drop", endpoint="license")
    with pytest.raises(httpx.RemoteProtocolError):
        simulator.license("L-1", "s")


def test_fault_api_validation(simulator: Simulator) -> None:
    for body in (
        {},
        {"kind": "explode"},
        {"kind": "status"},
        {"kind": "status", "status": 200},
        {"kind": "delay", "delay_ms": -1},
        {"kind": "hang", "endpoint": "nowhere"},
        {"kind": "drop", "count": 0},
    ):
        response = simulator.client.post("/_sim/faults", json=body)
        assert response.status_code == 400, body
    assert simulator.client.delete("/_sim/faults/fault-999").status_code == 404
    assert simulator.client.post("/_sim/faults", content="nope").status_code == 400


# --------------------------------------------------------------------------- stats, requests, reset


def test_stats_and_recorded_requests(simulator: Simulator) -> None:
    simulator.add_license("L-1", "s")
    body8 = chat_body_v8("first", tools=[SEARCH])
    body7 = chat_body_v7("second")
    simulator.chat("a", body8)
    simulator.chat("b", body7, version="v7")
    simulator.quota("a")
    simulator.license("L-1", "s")
    simulator.fault(kind="status", status=500, count=1)
    simulator.chat("a", chat_body_v8("third"))

    stats = simulator.stats()
    assert stats["totals"] == {"chat": 3, "quota": 1, "license": 1, "profiles": 0, "oauth": 0}
    assert stats["by_jwt"] == {"a": {"chat": 2, "quota": 1, "profiles": 0}, "b": {"chat": 1, "quota": 0, "profiles": 0}}
    assert stats["by_path"] == {CHAT_V8_PATH: 2, CHAT_V7_PATH: 1}
    assert stats["by_license"] == {"L-1": 1}
    assert stats["in_flight"] == 0
    assert stats["faults_applied"] == {"status": 1}

    recorded = simulator.requests()
    assert [r["jwt"] for r in recorded] == ["a", "b", "a"]
    assert [r["api_version"] for r in recorded] == ["v8", "v7", "v8"]
    assert recorded[0]["path"] == CHAT_V8_PATH
    assert recorded[0]["body"] == body8
    assert recorded[1]["body"] == body7
    last = simulator.requests(last=1)
    assert len(last) == 1 and last[0]["body"]["chat"]["messages"][0]["content"] == "third"


def test_in_flight_counts_running_requests(simulator: Simulator) -> None:
    import threading

    body = json.dumps(chat_body_v8("[[chunks=2]] [[delay_ms=600]] ab"))
    done = threading.Event()

    def slow() -> None:
        try:
            simulator.client.post(CHAT_V8_PATH, content=body, headers=jwt_headers(JWT))
        finally:
            done.set()

    thread = threading.Thread(target=slow)
    thread.start()
    try:
        wait_until(lambda: simulator.stats()["in_flight"] == 1, timeout=5, message="request in flight")
    finally:
        thread.join(timeout=10)
    assert done.is_set()
    assert simulator.stats()["in_flight"] == 0


def test_recorded_requests_keep_the_last_200(simulator: Simulator) -> None:
    with httpx.Client(base_url=simulator.url) as client:
        for i in range(205):
            client.post(CHAT_V8_PATH, content=json.dumps(chat_body_v8(f"m{i} [[chunks=1]]")), headers=jwt_headers(JWT))
    recorded = simulator.requests()
    assert len(recorded) == 200
    assert recorded[0]["body"]["chat"]["messages"][0]["content"].startswith("m5 ")
    assert recorded[-1]["body"]["chat"]["messages"][0]["content"].startswith("m204 ")
    assert simulator.stats()["totals"]["chat"] == 205


def test_malformed_chat_is_recorded_with_null_body(simulator: Simulator) -> None:
    simulator.chat(JWT, "{broken")
    recorded = simulator.requests()
    assert len(recorded) == 1
    assert recorded[0].pop("headers")["accept"] == "text/event-stream"
    assert recorded == [{"jwt": JWT, "path": CHAT_V8_PATH, "endpoint": "chat", "api_version": "v8", "body": None}]


def test_reset_keeps_jwts_and_licenses(simulator: Simulator) -> None:
    simulator.set_jwt(JWT, quota_current=3)
    simulator.add_license("L-1", "s")
    simulator.chat(JWT, chat_body_v8("a"))
    simulator.fault(kind="status", status=500)
    simulator.reset()
    assert simulator.faults() == []
    assert simulator.requests() == []
    stats = simulator.stats()
    assert stats["totals"] == {"chat": 0, "quota": 0, "license": 0, "profiles": 0, "oauth": 0}
    assert stats["by_jwt"] == {} and stats["faults_applied"] == {}
    assert simulator.chat(JWT, chat_body_v8("a")).status_code == 200
    assert simulator.chat("unknown", chat_body_v8("a")).status_code == 401
    assert simulator.license("L-1", "s").status_code == 200
    assert simulator.jwts()[JWT]["quota_current"] == 5.0


def test_concurrent_chats(simulator: Simulator) -> None:
    import concurrent.futures

    simulator.set_jwt(JWT, quota_maximum=100)

    def one(i: int) -> str:
        with httpx.Client(base_url=simulator.url, timeout=10) as client:
            r = client.post(CHAT_V8_PATH, content=json.dumps(chat_body_v8(f"n{i} [[delay_ms=20]]")), headers=jwt_headers(JWT))
            return content_text(sse_events(r.text))

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(one, range(32)))
    assert answers == [f"n{i}"[::-1] for i in range(32)]
    assert simulator.quota(JWT).json()["current"]["current"]["amount"] == "32.0"

