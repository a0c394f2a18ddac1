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
    JWT_HEADER,
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


# --------------------------------------------------------------------------- wire variants (protocol settings)


PROTOCOL_DEFAULTS = {
    "until_format": "epoch_ms",
    "amount_format": "string",
    "event_type": True,
    "quota_shape": "current",
    "extra_noise": False,
    "reject_unknown_profiles": True,
    "reject_unsupported_parameters": True,
    "omit_parallel_index_when_single": False,
}


def quota_metadata(events: list[dict]) -> dict:
    [quota] = [e for e in events if e["type"] == "QuotaMetadata"]
    return quota


def test_protocol_defaults_merge_validation_and_reset(simulator: Simulator) -> None:
    assert simulator.protocol() == PROTOCOL_DEFAULTS
    merged = simulator.set_protocol(until_format="iso", extra_noise=True)
    assert merged == {**PROTOCOL_DEFAULTS, "until_format": "iso", "extra_noise": True}
    assert simulator.set_protocol(amount_format="number") == {**merged, "amount_format": "number"}
    for bad in ({"until_format": "rfc822"}, {"event_type": "yes"}, {"nonsense": 1}, {"quota_shape": "tariff", "bogus": True}):
        response = simulator.client.post("/_sim/protocol", json=bad)
        assert response.status_code == 400, bad
    # a refused update changes nothing, not even its valid part
    assert simulator.protocol()["quota_shape"] == "current"
    assert simulator.client.post("/_sim/protocol", content="[]").status_code == 400
    simulator.reset()
    assert simulator.protocol() == PROTOCOL_DEFAULTS


def test_protocol_flags_set_the_defaults_reset_returns_to(start_simulator) -> None:
    sim = start_simulator(
        "--until-format", "iso", "--amount-format", "number", "--no-event-type", "--quota-shape", "tariff",
        "--extra-noise", "--no-reject-unknown-profiles", "--no-reject-unsupported-parameters",
        "--omit-parallel-index-when-single", "--profiles", "openai-gpt-4o, anthropic-claude-4-5-sonnet",
    )
    flagged = {
        "until_format": "iso",
        "amount_format": "number",
        "event_type": False,
        "quota_shape": "tariff",
        "extra_noise": True,
        "reject_unknown_profiles": False,
        "reject_unsupported_parameters": False,
        "omit_parallel_index_when_single": True,
    }
    assert sim.protocol() == flagged
    assert sim.profiles() == ["openai-gpt-4o", "anthropic-claude-4-5-sonnet"]
    sim.set_protocol(**PROTOCOL_DEFAULTS)
    sim.set_profiles(["qwen-max"])
    sim.reset()
    assert sim.protocol() == flagged
    assert sim.profiles() == ["openai-gpt-4o", "anthropic-claude-4-5-sonnet"]
    # the old --quota-format name still works
    old = start_simulator("--quota-format", "new", "--event-type", "--reject-unknown-profiles")
    assert old.protocol() == PROTOCOL_DEFAULTS


def test_bad_protocol_flags_fail(tmp_path) -> None:
    from harness import Proc, binary

    for args in (["--until-format", "rfc822"], ["--quota-shape", "square"], ["--profiles", " , "], ["--quota-format", "x"]):
        proc = Proc(binary("jetbrains-ai-simulator"), args, log_dir=tmp_path)
        assert proc.wait(timeout=10) != 0, args


def test_until_formats_in_stream_and_quota_answer(simulator: Simulator) -> None:
    simulator.set_jwt(JWT, until="2030-01-02T03:04:05Z")
    expected_ms = int(iso("2030-01-02T03:04:05Z").timestamp() * 1000)

    def untils() -> tuple[object, object]:
        events = events_of(simulator.chat(JWT, chat_body_v8("x")))
        return quota_metadata(events)["updated"]["until"], simulator.quota(JWT).json()["current"]["until"]

    stream, answer = untils()
    assert type(stream) is int and type(answer) is int and stream == answer == expected_ms
    assert '"until":%d' % expected_ms in simulator.quota(JWT).text  # a bare JSON number on the wire

    simulator.set_protocol(until_format="iso")
    stream, answer = untils()
    assert isinstance(stream, str) and iso(stream) == iso("2030-01-02T03:04:05Z") and answer == stream

    simulator.set_protocol(until_format="epoch_ms_string")
    stream, answer = untils()
    assert stream == answer == str(expected_ms)


def test_amount_formats(simulator: Simulator) -> None:
    simulator.set_jwt(JWT, quota_current=12.5, quota_maximum=100)
    quota = quota_metadata(events_of(simulator.chat(JWT, chat_body_v8("x"))))
    assert quota["spent"] == {"amount": "1"}
    assert quota["updated"]["current"] == {"amount": "13.5"} and quota["updated"]["maximum"] == {"amount": "100.0"}
    simulator.set_protocol(amount_format="number")
    quota = quota_metadata(events_of(simulator.chat(JWT, chat_body_v8("x"))))
    assert quota["spent"] == {"amount": 1}
    assert quota["updated"]["current"] == {"amount": 14.5} and quota["updated"]["maximum"] == {"amount": 100.0}
    body = simulator.quota(JWT).json()["current"]
    assert body["current"] == {"amount": 14.5} and body["maximum"] == {"amount": 100.0}


def test_event_type_switch(simulator: Simulator) -> None:
    body = chat_body_v8("use search [[chunks=2]]", tools=[SEARCH])
    events = events_of(simulator.chat(JWT, body))
    assert events and all(e.get("event_type") == "data" for e in events)
    simulator.set_protocol(event_type=False)
    events = events_of(simulator.chat(JWT, body))
    assert events and all("event_type" not in e for e in events)
    events = events_of(simulator.chat(JWT, chat_body_v7("abc"), version="v7"))
    assert all("event_type" not in e for e in events)
    simulator.set_protocol(event_type=True)
    assert all(e["event_type"] == "data" for e in events_of(simulator.chat(JWT, chat_body_v7("abc"), version="v7")))


def test_quota_shapes(simulator: Simulator) -> None:
    simulator.set_jwt(JWT, quota_current=30, quota_maximum=100, topup_current=5, topup_maximum=50, until="2030-01-01T00:00:00Z")
    ms = int(iso("2030-01-01T00:00:00Z").timestamp() * 1000)
    assert simulator.quota(JWT).json() == {
        "current": {"current": {"amount": "30.0"}, "maximum": {"amount": "100.0"}, "until": ms}
    }
    simulator.set_protocol(quota_shape="tariff")
    assert simulator.quota(JWT).json() == {
        "tariffQuota": {
            "current": {"amount": "30.0"},
            "maximum": {"amount": "100.0"},
            "available": {"amount": "70.0"},
            "until": ms,
        },
        "topUpQuota": {"current": {"amount": "5.0"}, "maximum": {"amount": "50.0"}, "available": {"amount": "45.0"}},
    }
    simulator.set_protocol(quota_shape="old")
    body = simulator.quota(JWT).json()
    assert body == {"dailyUsed": 30, "dailyTotal": 100, "until": body["until"]}
    assert iso(body["until"]) == iso("2030-01-01T00:00:00Z")


def test_top_up_keeps_an_exhausted_tariff_usable(simulator: Simulator) -> None:
    simulator.set_protocol(quota_shape="tariff", amount_format="number")
    simulator.set_jwt(JWT, quota_current=2, quota_maximum=2, topup_current=0, topup_maximum=1)
    assert simulator.chat(JWT, chat_body_v8("x")).status_code == 200
    body = simulator.quota(JWT).json()
    assert body["tariffQuota"]["available"] == {"amount": 0.0}
    assert body["topUpQuota"] == {"current": {"amount": 1.0}, "maximum": {"amount": 1.0}, "available": {"amount": 0.0}}
    assert simulator.chat(JWT, chat_body_v8("x")).status_code == 477


def test_extra_noise_changes_nothing_but_noise(simulator: Simulator) -> None:
    text_body = chat_body_v8("noisy answer [[chunks=3]]")
    tool_body = chat_body_v8("use search [[chunks=3]]", tools=[SEARCH])
    plain_text = events_of(simulator.chat(JWT, text_body))
    plain_tools = tool_calls_v8(events_of(simulator.chat(JWT, tool_body)))
    simulator.set_protocol(extra_noise=True)
    noisy = events_of(simulator.chat(JWT, text_body))
    kinds = types_of(noisy)
    assert {"UnknownMetadata", "ExecutionMetadata", "FunctionCallMetadata"} <= set(kinds)
    assert kinds[0] == "ExecutionMetadata" and kinds[-2:] == ["FinishMetadata", "QuotaMetadata"]
    for event in noisy:
        assert event["spentTokens"] == 3 and isinstance(event["traceInfo"]["nested"], dict)
        assert event["event_type"] == "data"
    assert content_text(noisy) == content_text(plain_text)
    assert finish_reason(noisy) == "stop"
    updated = quota_metadata(noisy)["updated"]
    assert isinstance(updated["license"], str) and updated["quotaID"]["quotaId"]
    noisy_tools = events_of(simulator.chat(JWT, tool_body))
    calls = tool_calls_v8(noisy_tools)
    assert [(c["name"], c["arguments"]) for c in calls] == [(c["name"], c["arguments"]) for c in plain_tools]
    assert finish_reason(noisy_tools) == "tool_call"
    v7 = events_of(simulator.chat(JWT, chat_body_v7("abc"), version="v7"))
    assert "ExecutionMetadata" in types_of(v7) and content_text(v7) == "cba"


# --------------------------------------------------------------------------- profiles


PROTOCOL_PAGE_PROFILES = """
anthropic-claude-4-5-sonnet anthropic-claude-4-5-haiku anthropic-claude-4-5-opus anthropic-claude-4-6-sonnet
anthropic-claude-4-6-opus anthropic-claude-4-7-opus anthropic-claude-4-sonnet anthropic-claude-4-opus
anthropic-claude-4.1-opus anthropic-claude-3.7-sonnet anthropic-claude-3.5-sonnet anthropic-claude-3.5-haiku
openai-gpt-5 openai-gpt-5-mini openai-gpt-5-nano openai-gpt-5-1 openai-gpt-5-2 openai-gpt-5-4 openai-gpt-5-4-mini
openai-gpt-5-4-nano openai-gpt-5-5 openai-gpt-4o openai-gpt-4o-mini openai-gpt4.1 openai-gpt4.1-mini
openai-gpt4.1-nano openai-o1 openai-o3 openai-o3-mini openai-o4-mini openai-gpt-5-codex openai-gpt-5-1-codex
openai-gpt-5-1-codex-mini openai-gpt-5-1-codex-max openai-gpt-5-2-codex openai-gpt-5-3-codex google-gemini-3-0-pro
google-gemini-3-0-flash google-gemini-3-1-pro google-chat-gemini-pro-2.5 google-chat-gemini-flash-2.5
google-chat-gemini-flash-lite-2.5 google-chat-gemini-flash-2.0 google-chat-gemini-flash-lite-2.0 xai-grok-4
xai-grok-4-fast xai-grok-4-1-fast xai-grok-code-fast-1 qwen-max
""".split()


def test_profiles_endpoint(simulator: Simulator) -> None:
    response = simulator.profiles_endpoint(JWT)
    assert response.status_code == 200
    profiles = response.json()["profiles"]
    ids = [p["id"] for p in profiles]
    assert ids == PROTOCOL_PAGE_PROFILES
    assert not any(i.startswith("openai-embedding") or i == "openai-instruct-gpt" for i in ids)
    by_id = {p["id"]: p for p in profiles}
    assert by_id["anthropic-claude-4-5-sonnet"]["provider"] == "anthropic"
    assert "tools" in by_id["openai-gpt-4o"]["features"]
    assert by_id["openai-gpt-5-codex"]["endpoint"] == "responses"
    assert simulator.profiles_endpoint(None).status_code == 401
    assert simulator.client.post("/user/v5/llm/profiles/v3", headers=jwt_headers(JWT)).status_code == 405

    simulator.set_profiles(["openai-gpt-4o", "qwen-max"])
    assert [p["id"] for p in simulator.profiles_endpoint(JWT).json()["profiles"]] == ["openai-gpt-4o", "qwen-max"]
    assert simulator.client.post("/_sim/profiles", json={"profiles": "x"}).status_code == 400
    # JWT rules and faults as for the quota endpoint; counted in the stats
    simulator.set_jwt(JWT)
    assert simulator.profiles_endpoint("unknown").status_code == 401
    simulator.fault(kind="status", status=503, endpoint="profiles", count=1)
    assert simulator.profiles_endpoint(JWT).status_code == 503
    assert simulator.chat(JWT, chat_body_v8("a")).status_code == 200
    stats = simulator.stats()
    assert stats["totals"]["profiles"] == 5
    assert stats["by_jwt"][JWT]["profiles"] == 3
    # reset restores the list the flags gave
    simulator.reset()
    assert simulator.profiles() == PROTOCOL_PAGE_PROFILES


def test_profiles_flag_and_config(start_simulator, tmp_path) -> None:
    sim = start_simulator("--profiles", "openai-gpt-4o,xai-grok-4")
    assert [p["id"] for p in sim.profiles_endpoint(JWT).json()["profiles"]] == ["openai-gpt-4o", "xai-grok-4"]
    config = write_config(tmp_path, {"profiles": ["qwen-max"], "protocol": {"until_format": "iso"}, "quota_format": "old"})
    sim = start_simulator("--config", str(config), "--quota-shape", "tariff")
    assert sim.profiles() == ["qwen-max"]
    assert sim.protocol() == {**PROTOCOL_DEFAULTS, "until_format": "iso", "quota_shape": "tariff"}


def test_unknown_profile_gets_400_unsupported_model(simulator: Simulator) -> None:
    simulator.set_jwt(JWT, quota_current=0)
    response = simulator.chat(JWT, chat_body_v8("x", profile="openai-gpt-9"))
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith("Unsupported model [") and response.text.endswith("]")
    listed = response.text[len("Unsupported model ["):-1].split(", ")
    assert listed == [p for p in PROTOCOL_PAGE_PROFILES if "-codex" not in p]
    missing = chat_body_v8("x")
    del missing["profile"]
    assert simulator.chat(JWT, missing).status_code == 400
    assert simulator.quota(JWT).json()["current"]["current"]["amount"] == "0.0"  # refusals spend nothing
    simulator.set_profiles(["qwen-max"])
    assert simulator.chat(JWT, chat_body_v8("x", profile="openai-gpt-4o")).text == "Unsupported model [qwen-max]"
    simulator.set_protocol(reject_unknown_profiles=False)
    assert simulator.chat(JWT, chat_body_v8("x", profile="openai-gpt-9")).status_code == 200


FAMILY_CASES = [
    # profile, family, a parameter it takes, one it refuses
    ("openai-gpt-4o", "gpt-4o", ("temperature", "double", 0.2), ("reasoning-effort", "text", "high")),
    ("openai-gpt4.1-mini", "gpt-4o", ("seed", "int", 7), ("top-k", "int", 3)),
    ("openai-o3", "o-series", ("reasoning-effort", "text", "high"), ("temperature", "double", 0.2)),
    ("openai-o4-mini", "o-series", ("seed", "int", 7), ("parallel-tool-calls", "bool", True)),
    ("openai-gpt-5", "gpt-5", ("verbosity", "text", "low"), ("temperature", "double", 0.2)),
    ("openai-gpt-5-4-mini", "gpt-5", ("parallel-tool-calls", "bool", True), ("seed", "int", 7)),
    ("anthropic-claude-4-5-sonnet", "claude", ("stop-token", "text", "END"), ("seed", "int", 7)),
    ("anthropic-claude-3.5-haiku", "claude", ("top-p", "double", 0.9), ("response-format", "json", "{}")),
    ("google-chat-gemini-pro-2.5", "gemini", ("thinking-budget", "int", 1024), ("seed", "int", 7)),
    ("google-gemini-3-0-flash", "gemini", ("top-k", "int", 3), ("stop-token", "text", "END")),
    ("xai-grok-4", "other", ("length", "int", 100), ("seed", "int", 7)),
    ("qwen-max", "other", ("temperature", "double", 0.2), ("thinking-budget", "int", 1)),
]

# Every tool key a chat profile takes (tool-choice-none is left out: the simulator honours it
# by offering no tools, and this test wants the call; test_tool_choice_is_honoured covers it).
TOOL_KEYS = [
    ("tool-choice-auto", "bool", True),
    ("tool-choice-required", "bool", True),
    ("tool-choice-named", "text", "search"),
]


def test_parameters_are_checked_per_profile_family(simulator: Simulator) -> None:
    from harness import parameter_data

    for profile, family, accepted, refused in FAMILY_CASES:
        table = simulator.client.get("/_sim/parameters", params={"profile": profile}).json()
        assert table["family"] == family, profile
        assert f"llm.parameters.{accepted[0]}" in table["parameters"]
        assert f"llm.parameters.{refused[0]}" not in table["parameters"]

        body = chat_body_v8("use search", tools=[SEARCH], profile=profile)
        body["parameters"]["data"] += parameter_data(accepted, *TOOL_KEYS)["data"]
        ok = simulator.chat(JWT, body)
        assert ok.status_code == 200, (profile, ok.text)
        assert [c["name"] for c in tool_calls_v8(events_of(ok))] == ["search"]

        body = chat_body_v8("x", profile=profile)
        body["parameters"] = parameter_data(accepted, refused)
        response = simulator.chat(JWT, body)
        assert response.status_code == 400, profile
        assert f"llm.parameters.{refused[0]}" in response.text and profile in response.text
    # v7 functions are a tool key too
    assert simulator.chat(JWT, chat_body_v7("call search", functions=[SEARCH], profile="openai-o1"), version="v7").status_code == 200
    # unknown keys are refused too, until the switch is off
    body = chat_body_v8("x", profile="openai-gpt-4o")
    body["parameters"] = parameter_data(("made-up", "int", 1))
    assert simulator.chat(JWT, body).status_code == 400
    simulator.set_protocol(reject_unsupported_parameters=False)
    assert simulator.chat(JWT, body).status_code == 200


# --------------------------------------------------------------------------- codex / responses endpoint


def test_codex_profiles_use_the_responses_endpoint(simulator: Simulator) -> None:
    from harness import RESPONSES_PATH, parameter_data

    codex = chat_body_v8("Hello codex", profile="openai-gpt-5-1-codex")
    events = events_of(simulator.responses(JWT, codex))
    plain = events_of(simulator.chat(JWT, chat_body_v8("Hello codex", profile="openai-gpt-5")))
    assert events[:-1] == plain[:-1]  # same SSE answer as chat v8 (quota aside: it was spent in between)
    assert content_text(events) == "xedoc olleH" and types_of(events)[-1] == "QuotaMetadata"
    # tools or parameters are refused there
    with_tools = chat_body_v8("use search", tools=[SEARCH], profile="openai-gpt-5-1-codex")
    assert simulator.responses(JWT, with_tools).status_code == 400
    with_params = dict(codex, parameters=parameter_data(("length", "int", 10)))
    response = simulator.responses(JWT, with_params)
    assert response.status_code == 400 and "llm.parameters.length" in response.text
    assert simulator.responses(JWT, dict(codex, parameters={"data": []})).status_code == 200
    # a non-codex profile there, and a codex profile on chat: Unsupported model
    response = simulator.responses(JWT, chat_body_v8("x", profile="openai-gpt-5"))
    assert response.status_code == 400
    assert response.text == "Unsupported model [%s]" % ", ".join(p for p in PROTOCOL_PAGE_PROFILES if "-codex" in p)
    response = simulator.chat(JWT, codex)
    assert response.status_code == 400 and response.text.startswith("Unsupported model [")
    assert "-codex" not in response.text
    # even with profile checks off, codex stays on its endpoint
    simulator.set_protocol(reject_unknown_profiles=False, reject_unsupported_parameters=False)
    assert simulator.chat(JWT, codex).status_code == 400
    assert simulator.responses(JWT, chat_body_v8("x", profile="openai-gpt-5-9-codex")).status_code == 200

    recorded = simulator.requests()
    assert recorded[0]["path"] == RESPONSES_PATH and recorded[0]["endpoint"] == "responses"
    assert recorded[1]["path"] == CHAT_V8_PATH and recorded[1]["endpoint"] == "chat"
    stats = simulator.stats()
    assert stats["by_path"][RESPONSES_PATH] == 6 and stats["by_path"][CHAT_V8_PATH] == 3
    assert stats["totals"]["chat"] == 9  # responses count as chat (and faults for chat apply there)
    simulator.fault(kind="status", status=503, count=1)
    assert simulator.responses(JWT, codex).status_code == 503


# --------------------------------------------------------------------------- error events


def test_error_event_fault(simulator: Simulator) -> None:
    simulator.fault(kind="error_event", after_events=2, count=1)
    response = simulator.chat(JWT, chat_body_v8("abcdef"))
    assert response.status_code == 200
    payloads = parse_sse(response.text)
    assert payloads[-1] == "end"
    events = [json.loads(p) for p in payloads[:-1]]
    assert [e["type"] for e in events[:2]] == ["Content", "Content"]
    assert events[2] == {"event_type": "error", "error_message": "Internal error"}
    assert len(events) == 3

    simulator.fault(kind="error_event", after_events=0, message="Upstream is on fire", with_type=True, count=1)
    payloads = parse_sse(simulator.chat(JWT, chat_body_v8("abc")).text)
    assert payloads[1:] == ["end"]
    assert json.loads(payloads[0]) == {"type": "error", "event_type": "error", "error_message": "Upstream is on fire"}

    simulator.fault(kind="error_event", after_events=1, no_end=True, count=1)
    response = simulator.chat(JWT, chat_body_v8("abc"))
    payloads = parse_sse(response.text)
    assert "end" not in payloads and json.loads(payloads[-1])["event_type"] == "error" and len(payloads) == 2
    # more events asked for than there are: the whole answer, then the error
    simulator.fault(kind="error_event", after_events=99, count=1)
    payloads = parse_sse(simulator.chat(JWT, chat_body_v8("abc")).text)
    assert [json.loads(p).get("type") for p in payloads[:-2]] == ["Content"] * 3 + ["FinishMetadata", "QuotaMetadata"]
    assert json.loads(payloads[-2])["event_type"] == "error" and payloads[-1] == "end"
    assert simulator.stats()["faults_applied"] == {"error_event": 4}
    listed = simulator.client.post("/_sim/faults", json={"kind": "error_event", "endpoint": "quota"})
    assert listed.status_code == 400
    assert simulator.client.post("/_sim/faults", json={"kind": "error_event", "with_type": "yes"}).status_code == 400


# --------------------------------------------------------------------------- parallel tool calls


def test_parallel_tool_calls_interleave(simulator: Simulator) -> None:
    from harness import tool_calls_v8_by_index

    body = chat_body_v8("[[parallel_tools=3]] [[chunks=3]] weather everywhere", tools=[WEATHER, SEARCH])
    events = events_of(simulator.chat(JWT, body))
    pieces = [e for e in events if e["type"] == "ToolCall"]
    indexes = [e["parallelToolIndex"] for e in pieces]
    assert indexes == [0, 1, 2] * 3  # call 0 piece 1, call 1 piece 1, call 2 piece 1, call 0 piece 2, …
    for position, event in enumerate(pieces):
        if position < 3:
            assert set(event) == {"type", "id", "name", "content", "parallelToolIndex", "event_type"}
        else:
            assert set(event) == {"type", "content", "parallelToolIndex", "event_type"}
    calls = tool_calls_v8_by_index(events)
    assert [c["name"] for c in calls] == ["get_weather", "search", "get_weather"]  # offered tools, cycling
    assert len({c["id"] for c in calls}) == 3
    for call in calls:
        arguments = json.loads(call["arguments"])
        assert arguments == {"query": "weather everywhere", "index": call["index"]}
    assert finish_reason(events) == "tool_call"
    # the naive arrival-order grouping would get this wrong: the stream really interleaves
    naive = tool_calls_v8(events)
    with pytest.raises(json.JSONDecodeError):
        for call in naive:
            json.loads(call["arguments"])


def test_parallel_index_on_single_calls_and_its_switch(simulator: Simulator) -> None:
    single = chat_body_v8("use search", tools=[SEARCH])
    assert all(e["parallelToolIndex"] == 0 for e in events_of(simulator.chat(JWT, single)) if e["type"] == "ToolCall")
    simulator.set_protocol(omit_parallel_index_when_single=True)
    events = events_of(simulator.chat(JWT, single))
    pieces = [e for e in events if e["type"] == "ToolCall"]
    assert pieces and all("parallelToolIndex" not in e for e in pieces)
    assert json.loads(tool_calls_v8(events)[0]["arguments"]) == {"query": "use search"}
    # several calls keep their indexes
    events = events_of(simulator.chat(JWT, chat_body_v8("[[parallel_tools=2]] go", tools=[SEARCH])))
    assert {e["parallelToolIndex"] for e in events if e["type"] == "ToolCall"} == {0, 1}
    # without tools the marker is ignored; v7 plays the calls one after the other
    assert finish_reason(events_of(simulator.chat(JWT, chat_body_v8("[[parallel_tools=2]] go")))) == "stop"
    v7 = events_of(simulator.chat(JWT, chat_body_v7("[[parallel_tools=2]] go", functions=[SEARCH, WEATHER]), version="v7"))
    assert [c["name"] for c in function_calls_v7(v7)] == ["search", "get_weather"]


def test_named_tools_carry_their_parallel_index(simulator: Simulator) -> None:
    events = events_of(simulator.chat(JWT, chat_body_v8("get_weather and search", tools=[SEARCH, WEATHER])))
    pieces = [e for e in events if e["type"] == "ToolCall"]
    first = [e for e in pieces if "id" in e]
    assert [(e["name"], e["parallelToolIndex"]) for e in first] == [("get_weather", 0), ("search", 1)]


# --------------------------------------------------------------------------- status faults 400 / 451, bodies


def test_status_faults_400_451_and_bodies(simulator: Simulator) -> None:
    simulator.set_profiles(["openai-gpt-4o", "qwen-max"])
    simulator.fault(kind="status", status=400, count=1)
    response = simulator.chat(JWT, chat_body_v8("a"))
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "Unsupported model [openai-gpt-4o, qwen-max]"

    simulator.fault(kind="status", status=451, count=1)
    response = simulator.chat(JWT, chat_body_v8("a"))
    assert response.status_code == 451 and response.json() == {"message": "Unavailable For Legal Reasons"}

    simulator.fault(kind="status", status=400, body="Parameter llm.parameters.seed is not supported", count=1)
    response = simulator.chat(JWT, chat_body_v8("a"))
    assert response.status_code == 400 and response.text == "Parameter llm.parameters.seed is not supported"

    simulator.fault(kind="status", status=500, body='{"detail": "boom"}', endpoint="quota", count=1)
    response = simulator.quota(JWT)
    assert response.status_code == 500 and response.json() == {"detail": "boom"}
    assert response.headers["content-type"].startswith("application/json")

    simulator.fault(kind="status", status=451, endpoint="license", count=1)
    assert simulator.license("L-x", "y").status_code == 451
    assert simulator.client.post("/_sim/faults", json={"kind": "status", "status": 451, "body": 5}).status_code == 400


# --------------------------------------------------------------------------- licenses: states and tokens


def test_license_any_state_with_or_without_token(simulator: Simulator) -> None:
    for state in ("PAID", "TRIAL", "FREE", "EXPIRED"):
        simulator.add_license(f"L-{state}", "auth", state=state)
        body = simulator.license(f"L-{state}", "auth").json()
        assert body["state"] == state and decode_jwt(body["token"])["sub"] == f"L-{state}"
        assert simulator.chat(body["token"], chat_body_v8("a")).status_code == 200
    simulator.add_license("L-none", "auth", state="PAID", issue_token=False)
    response = simulator.license("L-none", "auth")
    assert response.status_code == 200 and response.json() == {"state": "PAID"}
    assert simulator.client.post("/_sim/licenses", json={"license_id": "x", "issue_token": 1}).status_code == 400


# --------------------------------------------------------------------------- OAuth refresh tokens


def test_oauth_refresh_rotation_and_the_whole_chain(start_simulator) -> None:
    sim = start_simulator("--log-level", "trace", "--jwt", "configured-only")
    secret = "refresh-secret-0123456789abcdef"
    record = sim.add_refresh_token(secret, license_id="L-oauth", id_token_ttl_s=1800)
    assert record == "rt-1"

    response = sim.oauth_exchange(secret)
    assert response.status_code == 200
    grant = response.json()
    assert set(grant) == {"id_token", "access_token", "token_type", "expires_in", "refresh_token"}
    assert grant["access_token"] == grant["id_token"] and grant["token_type"] == "Bearer"
    assert grant["expires_in"] == 1800
    assert abs(decode_jwt(grant["id_token"])["exp"] - (time.time() + 1800)) < 5
    fresh = grant["refresh_token"]
    assert fresh and fresh != secret

    # the old refresh token is spent: invalid_grant from now on
    reused = sim.oauth_exchange(secret)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    # the new one works the same way and rotates again
    again = sim.oauth_exchange(fresh).json()
    assert again["expires_in"] == 1800 and again["refresh_token"] not in (secret, fresh)

    # id token -> license JWT -> chat
    license_answer = sim.license("L-oauth", grant["id_token"])
    assert license_answer.status_code == 200
    jwt = license_answer.json()["token"]
    assert content_text(events_of(sim.chat(jwt, chat_body_v8("chain")))) == "niahc"
    assert sim.license("L-oauth", "not-an-id-token").status_code == 401

    status = sim.oauth()
    assert [(r["id"], r["valid"], r["uses"]) for r in status["refresh_tokens"]] == [
        ("rt-1", False, 1),
        ("rt-2", False, 1),
        ("rt-3", True, 0),
    ]
    assert status["refresh_tokens"][0]["rejected_uses"] == 1 and status["refresh_tokens"][1]["rotated_from"] == "rt-1"
    assert status["valid_count"] == 1 and status["used_count"] == 2 and status["id_tokens_issued"] == 2
    assert sim.stats()["totals"]["oauth"] == 3
    # no secret in the admin answer or the simulator's own log
    text = json.dumps(status)
    logs = sim.output()
    for value in (secret, fresh, again["refresh_token"], grant["id_token"]):
        assert value not in text and value not in logs
    assert "rt-1" in logs


def test_oauth_refusals_and_non_rotating_tokens(simulator: Simulator) -> None:
    unknown = simulator.oauth_exchange("never-registered")
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_grant"
    simulator.add_refresh_token("steady", rotate=False, id_token_ttl_s=60)
    assert simulator.oauth_exchange("steady", grant_type="password").status_code == 400
    assert simulator.oauth_exchange("steady", client_id="browser").status_code == 400
    for _ in range(2):
        grant = simulator.oauth_exchange("steady").json()
        assert "refresh_token" not in grant and grant["expires_in"] == 60
    assert simulator.client.post("/api/rest/oauth2/token", content="").status_code == 400
    assert simulator.client.post("/_sim/oauth", json={"refresh_token": ""}).status_code == 400
    assert simulator.client.post("/_sim/oauth", json={"refresh_token": "x", "rotate": "no"}).status_code == 400
    # an id token without a license works for any license (still needs that license to exist)
    simulator.add_license("L-any", "own-auth")
    assert simulator.license("L-any", grant["id_token"]).status_code == 200
    simulator.fault(kind="status", status=503, endpoint="oauth", count=1)
    assert simulator.oauth_exchange("steady").status_code == 503
    assert simulator.oauth()["refresh_tokens"][0]["uses"] == 2


def test_oauth_id_tokens_expire_and_stay_with_their_license(simulator: Simulator) -> None:
    simulator.add_license("L-b", "b-auth")
    simulator.add_refresh_token("short", license_id="L-a", id_token_ttl_s=1, rotate=False)
    id_token = simulator.oauth_exchange("short").json()["id_token"]
    assert simulator.license("L-b", id_token).status_code == 401  # bound to L-a
    assert simulator.license("L-a", "b-auth").status_code == 401  # L-a takes id tokens only
    assert simulator.license("L-a", id_token).status_code == 200
    wait_until(lambda: simulator.license("L-a", id_token).status_code == 401, timeout=5, message="id token expiry")
    assert simulator.license("L-a", simulator.oauth_exchange("short").json()["id_token"]).status_code == 200


# --------------------------------------------------------------------------- recorded headers


def test_recorded_requests_keep_the_headers_that_matter(simulator: Simulator) -> None:
    headers = jwt_headers(JWT)
    simulator.client.post(CHAT_V8_PATH, content=json.dumps(chat_body_v8("x")), headers=headers)
    [recorded] = simulator.requests()
    assert recorded["headers"] == {
        "grazie-agent": headers["grazie-agent"],
        "user-agent": "ktor-client",
        "accept": "text/event-stream",
        "content-type": "application/json",
    }
    simulator.client.post(CHAT_V8_PATH, content=json.dumps(chat_body_v8("x")), headers={JWT_HEADER: JWT})
    assert "grazie-agent" not in simulator.requests(last=1)[0]["headers"]


def test_tool_choice_is_honoured(simulator: Simulator) -> None:
    from harness import parameter_data

    def calls(message: str, *keys) -> list[str]:
        body = chat_body_v8(message, tools=[SEARCH, {"name": "lookup", "description": "d", "parameters": {"schema": {"type": "object"}}}])
        body["parameters"]["data"] += parameter_data(*keys)["data"]
        response = simulator.chat(JWT, body)
        assert response.status_code == 200, response.text
        return [c["name"] for c in tool_calls_v8(events_of(response))]

    assert calls("use search") == ["search"]
    assert calls("use search", ("tool-choice-none", "bool", True)) == []
    assert calls("just talk", ("tool-choice-required", "bool", True)) == ["search"]
    assert calls("just talk", ("tool-choice-named", "text", "lookup")) == ["lookup"]
