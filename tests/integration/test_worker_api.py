"""The worker's OpenAI-compatible API against the simulator: completions (stream and not),
tools, translation of messages to the upstream protocol, model mapping, errors."""

from __future__ import annotations

import base64
import json

import pytest

from worker_harness import fingerprint
from harness import CHAT_V7_PATH, CHAT_V8_PATH, wait_until
from worker_harness import (  # noqa: F401 - fixtures
    KEY,
    assert_openai_error,
    fleet_document,
    jwt_name,
    sim,
    start_sim,
    start_worker,
    stream_request,
    tokens_for,
)

JWTS = [jwt_name("a"), jwt_name("b")]

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "weather by city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
SEARCH = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "web search",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
    },
}


@pytest.fixture
def worker(sim, start_worker):
    return start_worker.seed(sim.url, JWTS)


def last_upstream_body(sim) -> dict:
    recorded = sim.requests(last=1)
    assert recorded, "the simulator received no chat request"
    return recorded[0]["body"]


# --------------------------------------------------------------------------- completions


def test_non_stream_completion_shape(worker) -> None:
    response = worker.chat("Hello, world!")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert isinstance(body["created"], int) and body["created"] > 1_600_000_000
    assert body["model"] == "gpt-4o"
    assert len(body["choices"]) == 1
    choice = body["choices"][0]
    assert choice["index"] == 0
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == "!dlrow ,olleH"
    assert "tool_calls" not in choice["message"] or not choice["message"]["tool_calls"]
    assert choice["finish_reason"] == "stop"


def test_finish_reason_length_is_mapped(worker) -> None:
    body = worker.chat("[[finish=length]] abc").json()
    assert body["choices"][0]["message"]["content"] == "cba"
    assert body["choices"][0]["finish_reason"] == "length"
    stream = worker.stream("[[finish=length]] abc")
    assert stream.finish_reasons == ["length"]


def test_usage_has_estimated_tokens_and_the_upstream_quota(worker) -> None:
    usage = worker.chat("abc").json()["usage"]
    # The upstream reports quota, not tokens: token counts are the documented estimate.
    for field in ("prompt_tokens", "completion_tokens", "total_tokens"):
        assert isinstance(usage[field], int) and usage[field] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["jetbrains_quota"]["spent"] == "1"


def test_stream_completion(worker) -> None:
    result = worker.stream("Hello, world! [[chunks=4]]")
    assert result.status == 200
    assert result.headers["content-type"].startswith("text/event-stream")
    assert result.done, result.lines
    chunks = result.chunks
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"].startswith("chatcmpl-")
    assert all(c["model"] == "gpt-4o" for c in chunks)
    first = chunks[0]["choices"][0]
    assert first["delta"]["role"] == "assistant"
    assert first["finish_reason"] is None
    # the answer's pieces, in order, in content deltas
    contents = [c["choices"][0]["delta"].get("content") for c in chunks[1:-1]]
    assert all(contents), contents
    assert len(contents) == 4
    assert result.content == "!dlrow ,olleH"
    last = chunks[-1]["choices"][0]
    assert last["finish_reason"] == "stop"
    assert not last["delta"].get("content")
    assert result.payloads[-1] == "[DONE]"
    assert result.payloads.count("[DONE]") == 1
    # no usage chunk unless asked for
    assert all(c["choices"] for c in chunks)


def test_stream_include_usage(worker) -> None:
    result = worker.stream("abcdef", stream_options={"include_usage": True})
    assert result.done
    chunks = result.chunks
    final = chunks[-1]
    assert final["choices"] == []
    assert final["usage"] is not None
    assert final["usage"]["jetbrains_quota"]["spent"] == "1"
    # the other chunks carry usage null (as OpenAI does with include_usage)
    assert all(c.get("usage") is None for c in chunks[:-1])
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert result.content == "fedcba"


def test_each_upstream_event_is_forwarded_as_it_arrives(worker) -> None:
    result = worker.stream("abcdefghij [[chunks=5]] [[delay_ms=300]]")
    assert result.done
    assert result.content == "jihgfedcba"
    content_times = [
        t for line, t in zip([l for l in result.lines if l.startswith("data:")], result.arrivals)
        if '"content":"' in line and '"content":""' not in line
    ]
    assert len(content_times) == 5
    # 5 events 300 ms apart upstream: spread over ~1.2 s at the client too, not one burst
    assert content_times[-1] - content_times[0] >= 0.9, content_times
    gaps = [b - a for a, b in zip(content_times, content_times[1:])]
    assert min(gaps) >= 0.15, gaps


def test_keepalive_comments_during_silence(sim, start_worker) -> None:
    worker = start_worker.fleet(
        fleet_document(sim.url, tokens_for(JWTS), keepalive_interval="200ms")
    )
    result = worker.stream("abcdef [[chunks=3]] [[delay_ms=900]]")
    assert result.done
    assert result.content == "fedcba"
    comments = [i for i, line in enumerate(result.lines) if line.startswith(":")]
    assert comments, f"no keep-alive comment in {result.lines}"
    data_lines = [i for i, line in enumerate(result.lines) if '"content":"' in line and '"content":""' not in line]
    # between the first and the last content event the stream was silent for 900 ms twice
    between = [i for i in comments if data_lines[0] < i < data_lines[-1]]
    assert len(between) >= 2, result.lines
    # the comments do not disturb an SSE parser: same content as without
    assert result.finish_reasons == ["stop"]


# --------------------------------------------------------------------------- tools


def test_tool_call_non_stream(worker, sim) -> None:
    message = "please use search for cats"
    response = worker.chat(message, tools=[WEATHER, SEARCH], tool_choice="auto")
    assert response.status_code == 200, response.text
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    calls = choice["message"]["tool_calls"]
    assert len(calls) == 1
    call = calls[0]
    assert call["id"] and isinstance(call["id"], str)
    assert call["type"] == "function"
    assert call["function"]["name"] == "search"
    assert json.loads(call["function"]["arguments"]) == {"query": message}
    assert not choice["message"].get("content")
    # upstream got the tools in v8 form
    body = last_upstream_body(sim)
    data = body["parameters"]["data"]
    assert data[0] == {"type": "json", "fqdn": "llm.parameters.tools"}
    tools = json.loads(data[1]["value"])
    assert [t["name"] for t in tools] == ["get_weather", "search"]
    assert tools[0]["parameters"]["schema"] == WEATHER["function"]["parameters"]
    assert tools[0]["description"] == "weather by city"


def test_two_tool_calls_non_stream(worker) -> None:
    message = "check get_weather, then search the web"
    choice = worker.chat(message, tools=[SEARCH, WEATHER]).json()["choices"][0]
    calls = choice["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "search"]
    assert calls[0]["id"] != calls[1]["id"]
    assert choice["finish_reason"] == "tool_calls"


def test_tool_call_stream(worker) -> None:
    message = "use get_weather for Paris [[chunks=3]]"
    result = worker.stream(message, tools=[WEATHER, SEARCH])
    assert result.done
    deltas = [c["choices"][0]["delta"] for c in result.chunks if c["choices"]]
    tool_deltas = [d["tool_calls"] for d in deltas if d.get("tool_calls")]
    assert len(tool_deltas) >= 2
    first = tool_deltas[0][0]
    assert first["index"] == 0
    assert first["id"]
    assert first["type"] == "function"
    assert first["function"]["name"] == "get_weather"
    for later in tool_deltas[1:]:
        assert later[0]["index"] == 0
        assert "name" not in later[0]["function"] or not later[0]["function"]["name"]
    arguments = "".join(d[0]["function"].get("arguments") or "" for d in tool_deltas)
    assert json.loads(arguments) == {"query": "use get_weather for Paris"}
    assert result.finish_reasons == ["tool_calls"]
    assert deltas[0].get("role") == "assistant"


def test_tools_offered_but_not_used_gives_text(worker) -> None:
    choice = worker.chat("just talk", tools=[WEATHER]).json()["choices"][0]
    assert choice["message"]["content"] == "klat tsuj"
    assert choice["finish_reason"] == "stop"


def test_tool_choice_none_is_expressed_upstream(worker, sim) -> None:
    choice = worker.chat("use search please", tools=[SEARCH], tool_choice="none").json()["choices"][0]
    assert choice["finish_reason"] == "stop"
    data = last_upstream_body(sim)["parameters"]["data"]
    keys = [entry.get("fqdn") for entry in data[0::2]]
    assert keys == ["llm.parameters.tools", "llm.parameters.tool-choice-none"]
    assert data[3] == {"type": "bool", "value": True}


def round_trip_messages() -> list[dict]:
    return [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "use search"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_9", "type": "function", "function": {"name": "search", "arguments": '{"query":"use search"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_9", "content": "42 results"},
    ]


def test_tool_round_trip_v8(worker, sim) -> None:
    response = worker.chat(round_trip_messages(), tools=[SEARCH])
    assert response.status_code == 200, response.text
    choice = response.json()["choices"][0]
    assert choice["message"]["content"] == "tool result: 42 results"
    assert choice["finish_reason"] == "stop"
    recorded = sim.requests(last=1)[0]
    assert recorded["path"] == CHAT_V8_PATH and recorded["api_version"] == "v8"
    body = recorded["body"]
    assert body["prompt"] == "ij.chat.request.new-chat-on-start"
    assert body["profile"] == "openai-gpt-4o"
    messages = body["chat"]["messages"]
    assert messages[0] == {"type": "system_message", "content": "be brief"}
    assert messages[1] == {"type": "user_message", "content": "use search"}
    tool_msgs = [m for m in messages if m["type"] == "assistant_message_tool"]
    assert tool_msgs == [{"type": "assistant_message_tool", "id": "call_9", "toolName": "search", "content": '{"query":"use search"}'}]
    assert messages[-1] == {"type": "tool_message", "id": "call_9", "toolName": "search", "result": "42 results"}
    assert body["parameters"]["data"][0]["fqdn"] == "llm.parameters.tools"


def test_tool_round_trip_v7(sim, start_worker) -> None:
    worker = start_worker.seed(sim.url, JWTS, extra=["--api-version", "v7"])
    response = worker.chat(round_trip_messages(), tools=[SEARCH])
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "tool result: 42 results"
    recorded = sim.requests(last=1)[0]
    assert recorded["path"] == CHAT_V7_PATH and recorded["api_version"] == "v7"
    body = recorded["body"]
    assert body["prompt"] == "ij.chat.request.new-chat"
    messages = body["chat"]["messages"]
    types = [m["type"] for m in messages]
    assert "assistant_message_tool" not in types and "tool_message" not in types
    assistant = [m for m in messages if m["type"] == "assistant_message"]
    assert len(assistant) == 1
    assert assistant[0]["functionCall"] == {"functionName": "search", "content": '{"query":"use search"}'}
    assert messages[-1] == {"type": "function_message", "functionName": "search", "content": "42 results"}
    data = body["parameters"]["data"]
    assert data[0] == {"type": "json", "fqdn": "llm.parameters.functions"}
    functions = json.loads(data[1]["value"])
    # v7: the plain list of OpenAI function objects
    assert functions == [SEARCH["function"]]


def test_v7_function_call_answer_becomes_tool_calls(sim, start_worker) -> None:
    worker = start_worker.seed(sim.url, JWTS, extra=["--api-version", "v7"])
    message = "call get_weather for Paris"
    choice = worker.chat(message, tools=[WEATHER, SEARCH]).json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    calls = choice["message"]["tool_calls"]
    assert len(calls) == 1 and calls[0]["id"]
    assert calls[0]["function"]["name"] == "get_weather"
    assert json.loads(calls[0]["function"]["arguments"]) == {"query": message}
    stream = worker.stream(message, tools=[WEATHER, SEARCH])
    deltas = [c["choices"][0]["delta"] for c in stream.chunks if c["choices"] and c["choices"][0]["delta"].get("tool_calls")]
    assert deltas[0]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert deltas[0]["tool_calls"][0]["id"]
    assert stream.finish_reasons == ["tool_calls"]


def test_image_url_becomes_media_message(worker, sim) -> None:
    png = base64.b64encode(b"\x89PNG\r\n\x1a\nfake-image-bytes").decode()
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
            ],
        }
    ]
    response = worker.chat(messages)
    assert response.status_code == 200, response.text
    upstream = last_upstream_body(sim)["chat"]["messages"]
    assert {"type": "user_message", "content": "what is this"} in upstream
    media = [m for m in upstream if m["type"] == "media_message"]
    assert media == [{"type": "media_message", "mediaType": "image/png", "data": png}]


def test_content_parts_text_only(worker, sim) -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "abc"}, {"type": "text", "text": "def"}]}]
    response = worker.chat(messages)
    assert response.status_code == 200
    text = last_upstream_body(sim)["chat"]["messages"][0]
    assert text["type"] == "user_message"
    assert "abc" in text["content"] and "def" in text["content"]


def test_assistant_text_history_is_translated(worker, sim) -> None:
    messages = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "tsrif"},
        {"role": "user", "content": "second"},
    ]
    assert worker.chat(messages).json()["choices"][0]["message"]["content"] == "dnoces"
    assert last_upstream_body(sim)["chat"]["messages"] == [
        {"type": "user_message", "content": "first"},
        {"type": "assistant_message_text", "content": "tsrif"},
        {"type": "user_message", "content": "second"},
    ]


# --------------------------------------------------------------------------- models


@pytest.mark.parametrize(
    "model, profile",
    [
        ("gpt-4o", "openai-gpt-4o"),
        ("claude-4-sonnet", "anthropic-claude-4-sonnet"),
        ("gemini-flash-2.5", "google-chat-gemini-flash-2.5"),
        ("o3-mini", "openai-o3-mini"),
        ("openai-gpt-4o", "openai-gpt-4o"),  # a profile id is a model id too
        ("anthropic-claude-3.7-sonnet", "anthropic-claude-3.7-sonnet"),
    ],
)
def test_model_mapping(worker, sim, model, profile) -> None:
    response = worker.chat("x", model=model)
    assert response.status_code == 200, response.text
    assert response.json()["model"] == model
    assert last_upstream_body(sim)["profile"] == profile


def test_unknown_model_is_400_model_not_found(worker, sim) -> None:
    before = sim.stats()["totals"]["chat"]
    response = worker.chat("x", model="gpt-99-ultra")
    error = assert_openai_error(response, 400, "model_not_found")
    assert "gpt-99-ultra" in error["message"]
    assert sim.stats()["totals"]["chat"] == before
    stream = stream_request(worker.client, {"model": "nope", "messages": [{"role": "user", "content": "x"}], "stream": True})
    assert stream.status == 400


def test_models_list(worker) -> None:
    response = worker.client.get("/v1/models")
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    ids = {m["id"] for m in body["data"]}
    builtin = {
        "gpt-4o", "o1", "o3", "o3-mini", "o4-mini", "gpt4.1", "gpt4.1-mini", "gpt4.1-nano",
        "gemini-pro-2.5", "gemini-flash-2.0", "gemini-flash-2.5", "claude-3.5-haiku",
        "claude-3.5-sonnet", "claude-3.7-sonnet", "claude-4-sonnet",
    }
    assert builtin <= ids
    for model in body["data"]:
        assert model["object"] == "model"
        assert isinstance(model["created"], int)
        assert model["owned_by"]


def test_fleet_models_override_and_extend(sim, start_worker) -> None:
    worker = start_worker.fleet(
        fleet_document(
            sim.url,
            tokens_for(JWTS),
            defaults={"models": {"team-default": "openai-o1"}},
            models={"my-claude": "anthropic-claude-4-sonnet", "gpt-4o": "openai-gpt4.1"},
        )
    )
    ids = {m["id"] for m in worker.client.get("/v1/models").json()["data"]}
    assert {"my-claude", "team-default", "gpt-4o", "o3"} <= ids
    for model, profile in (("my-claude", "anthropic-claude-4-sonnet"), ("gpt-4o", "openai-gpt4.1"), ("team-default", "openai-o1"), ("o3", "openai-o3")):
        response = worker.chat("x", model=model)
        assert response.status_code == 200, response.text
        assert last_upstream_body(sim)["profile"] == profile


# --------------------------------------------------------------------------- errors


def test_malformed_json_is_400(worker) -> None:
    response = worker.client.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert_openai_error(response, 400)
    response = worker.client.post("/v1/chat/completions", content=b"[1,2]")
    assert_openai_error(response, 400)


@pytest.mark.parametrize(
    "body",
    [
        {"model": "gpt-4o"},
        {"model": "gpt-4o", "messages": []},
        {"model": "gpt-4o", "messages": "hello"},
        {"messages": [{"role": "user", "content": "x"}]},
    ],
    ids=["missing-messages", "empty-messages", "messages-not-a-list", "missing-model"],
)
def test_invalid_bodies_are_400(worker, sim, body) -> None:
    before = sim.stats()["totals"]["chat"]
    assert_openai_error(worker.client.post("/v1/chat/completions", json=body), 400)
    assert sim.stats()["totals"]["chat"] == before


def test_n_greater_than_one_is_rejected(worker) -> None:
    error = assert_openai_error(worker.chat("x", n=2), 400)
    assert "n" in error["message"]
    assert worker.chat("x", n=1).status_code == 200


def test_unknown_role_is_400(worker) -> None:
    assert_openai_error(worker.chat([{"role": "wizard", "content": "x"}]), 400)


def test_api_keys(worker) -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "abc"}]}
    with worker.raw_client() as client:
        assert_openai_error(client.post("/v1/chat/completions", json=body), 401)
        assert_openai_error(client.post("/v1/chat/completions", json=body, headers={"Authorization": "Bearer wrong-key"}), 401)
        assert_openai_error(client.post("/v1/chat/completions", json=body, headers={"x-api-key": "wrong-key"}), 401)
        assert_openai_error(client.post("/v1/chat/completions", json=body, headers={"Authorization": "Bearer"}), 401)
        assert_openai_error(client.get("/v1/models", headers={"Authorization": f"Bearer {KEY}x"}), 401)
        assert_openai_error(client.get("/v1/models", headers={"Authorization": f"Bearer {KEY[:-1]}"}), 401)
        ok = client.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"})
        assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["content"] == "cba"
        ok = client.post("/v1/chat/completions", json=body, headers={"x-api-key": KEY})
        assert ok.status_code == 200
        assert client.get("/v1/models", headers={"x-api-key": KEY}).status_code == 200
        # management endpoints need a key, except /health
        assert client.get("/health").status_code == 200
        for method, path in (("GET", "/stats"), ("GET", "/config"), ("POST", "/reload")):
            assert_openai_error(client.request(method, path), 401)
            assert client.request(method, path, headers={"x-api-key": KEY}).status_code == 200


def test_several_keys_per_tenant(sim, start_worker) -> None:
    worker = start_worker.fleet(fleet_document(sim.url, tokens_for(JWTS), keys=["first-key-abcdefgh", "second-key-abcdefgh"]), key="first-key-abcdefgh")
    with worker.raw_client() as client:
        for key in ("first-key-abcdefgh", "second-key-abcdefgh"):
            assert client.get("/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        assert client.get("/v1/models", headers={"Authorization": "Bearer third-key-abcdefgh"}).status_code == 401


def test_unknown_route_and_wrong_method(worker) -> None:
    assert_openai_error(worker.client.get("/v1/nothing-here"), 404)
    assert_openai_error(worker.client.post("/v2/chat/completions", json={}), 404)
    error = assert_openai_error(worker.client.get("/v1/chat/completions"), 405)
    assert error["message"]
    response = worker.client.delete("/v1/models")
    assert_openai_error(response, 405)
    assert "GET" in response.headers.get("allow", "")


def test_body_over_max_body_size_is_413(sim, start_worker) -> None:
    worker = start_worker.fleet(fleet_document(sim.url, tokens_for(JWTS), max_body_size="1KiB"))
    big = "x" * 2000
    assert_openai_error(worker.chat(big), 413)
    # streamed upload without Content-Length (chunked) is limited too
    def chunks():
        yield json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "y" * 3000}]}).encode()

    with worker.raw_client() as client:
        response = client.post("/v1/chat/completions", content=chunks(), headers={"Authorization": f"Bearer {KEY}"})
        assert_openai_error(response, 413)
    assert sim.stats()["totals"]["chat"] == 0
    # a small body still works afterwards
    assert worker.chat("small").status_code == 200


def test_sampling_parameters_are_accepted_and_ignored(worker, sim) -> None:
    response = worker.chat(
        "abcdefgh",
        temperature=0.2,
        top_p=0.9,
        max_tokens=3,
        stop=["d", "x"],
        presence_penalty=0.5,
        frequency_penalty=0.1,
        seed=7,
        user="someone",
        n=1,
    )
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "hgfedcba"
    body = last_upstream_body(sim)
    assert set(body) <= {"prompt", "profile", "chat", "parameters"}
    stream = worker.stream("abc", temperature=1.5, max_tokens=1, stop="b")
    assert stream.done and stream.content == "cba"


def test_health_shape_without_key(worker) -> None:
    with worker.raw_client() as client:
        response = client.get("/health")
    assert response.status_code == 200
    health = response.json()
    assert health["status"] == "ok"
    assert health["healthy_tokens"] == 2 and health["total_tokens"] == 2
    assert health["strategy"] == "round_robin"
    for token, jwt in zip(health["tokens"], JWTS):
        assert token["fingerprint"] == fingerprint(jwt)
        assert token["state"] == "healthy"
        for field in ("name", "in_flight", "successes", "failures"):
            assert field in token
    stats = worker.client.get("/stats")
    assert stats.status_code == 200 and isinstance(stats.json(), dict)


def test_stats_count_requests(worker) -> None:
    for _ in range(3):
        assert worker.chat("x").status_code == 200
    wait_until(lambda: sum(t["successes"] for t in worker.tokens().values()) == 3, timeout=10, message=lambda: f"{worker.tokens()}")
    wait_until(lambda: sum(t["in_flight"] for t in worker.tokens().values()) == 0, timeout=5)


def test_unicode_survives_chunking(worker) -> None:
    text = "ab👍🏽cé日本"
    assert worker.chat(text + " [[chunks=7]]").json()["choices"][0]["message"]["content"] == text[::-1].replace("🏽👍", "👍🏽")
    assert worker.stream(text + " [[chunks=7]]").content == text[::-1].replace("🏽👍", "👍🏽")


def test_expect_100_continue(worker) -> None:
    """curl sends `Expect: 100-continue` for bodies over 1 KiB."""
    import socket

    body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "z" * 1500 + "a"}]}).encode()
    with socket.create_connection(("127.0.0.1", worker.port), timeout=5) as s:
        head = (
            "POST /v1/chat/completions HTTP/1.1\r\nHost: w\r\n"
            f"Authorization: Bearer {KEY}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
        )
        s.sendall(head.encode())
        assert s.recv(100).startswith(b"HTTP/1.1 100")
        s.sendall(body)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    status, _, payload = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 200")
    assert json.loads(payload)["choices"][0]["message"]["content"].startswith("a" + "z" * 10)


def test_stats_count_statuses(worker) -> None:
    assert worker.chat("x").status_code == 200
    assert worker.chat("x", model="nope").status_code == 400
    assert worker.client.get("/nope").status_code == 404
    with worker.raw_client() as client:
        assert client.get("/v1/models").status_code == 401
    by_status = worker.client.get("/stats").json()["requests"]["by_status"]
    assert by_status.get("400") == 1 and by_status.get("404") == 1 and by_status.get("401") == 1, by_status


# --------------------------------------------------------------------------- known bugs


def test_keepalive_before_the_first_event(sim, start_worker) -> None:
    worker = start_worker.fleet(fleet_document(sim.url, tokens_for(JWTS), keepalive_interval="200ms"))
    result = worker.stream("abcdef [[chunks=2]] [[delay_ms=1200]]")
    assert result.done and result.content == "fedcba"
    first_data = next(i for i, line in enumerate(result.lines) if line.startswith("data:"))
    assert any(line.startswith(":") for line in result.lines[:first_data]), result.lines[: first_data + 1]
