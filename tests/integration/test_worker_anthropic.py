"""Conformance with a real client: the official `anthropic` Python SDK against the worker's
Anthropic Messages API (`/v1/messages`, `/v1/messages/count_tokens`, `/v1/models`)."""

from __future__ import annotations

import base64
import json

import anthropic
import httpx
import pytest

from worker_harness import (  # noqa: F401 - fixtures
    KEY,
    jwt_name,
    sim,
    start_sim,
    start_worker,
)

A, B = jwt_name("a"), jwt_name("b")
MODEL = "claude-sonnet-4-6"

WEATHER = {
    "name": "get_weather",
    "description": "weather by city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
SEARCH = {"name": "search", "description": "search the web", "input_schema": {"type": "object", "properties": {}}}


@pytest.fixture
def worker(sim, start_worker):
    return start_worker.seed(sim.url, [A, B])


@pytest.fixture
def client(worker):
    with anthropic.Anthropic(base_url=worker.url, api_key=KEY, max_retries=0, timeout=30.0) as c:
        yield c


def last_upstream(sim) -> dict:
    return sim.requests(last=1)[-1]["body"]


def test_create_text(client, sim) -> None:
    message = client.messages.create(
        model=MODEL, max_tokens=64, system="be brief", extra_body={"temperature": 0.2},
        messages=[{"role": "user", "content": "Hello, Claude!"}],
    )
    assert message.type == "message" and message.role == "assistant"
    assert message.id.startswith("msg_")
    assert message.model == MODEL
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "!edualC ,olleH"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    body = last_upstream(sim)
    assert body["profile"] == "anthropic-claude-4-6-sonnet"
    assert body["chat"]["messages"][0] == {"type": "system_message", "content": "be brief"}
    fqdns = {e.get("fqdn"): body["parameters"]["data"][i + 1] for i, e in enumerate(body["parameters"]["data"]) if "fqdn" in e}
    assert fqdns["llm.parameters.length"] == {"type": "int", "value": 64}
    assert fqdns["llm.parameters.temperature"] == {"type": "double", "value": 0.2}


def test_stream_text_and_raw_event_order(client, worker) -> None:
    with client.messages.stream(model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "stream me [[chunks=5]]"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "em maerts"
    assert final.content[0].text == text and final.stop_reason == "end_turn"
    # The raw wire: named events in the documented order, a ping after message_start.
    with httpx.stream(
        "POST", worker.url + "/v1/messages",
        headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
        json={"model": MODEL, "max_tokens": 64, "stream": True, "messages": [{"role": "user", "content": "abc [[chunks=3]]"}]},
        timeout=30,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line[len("event: "):] for line in response.iter_lines() if line.startswith("event: ")]
    assert events[:3] == ["message_start", "ping", "content_block_start"]
    assert events[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(events[3:-3]) == {"content_block_delta"}


def test_tools_non_stream_and_round_trip(client, sim) -> None:
    message = client.messages.create(
        model=MODEL, max_tokens=100, tools=[WEATHER],
        messages=[{"role": "user", "content": "use get_weather for Paris"}],
    )
    assert message.stop_reason == "tool_use"
    [call] = [b for b in message.content if b.type == "tool_use"]
    assert call.name == "get_weather" and isinstance(call.input, dict)
    follow = client.messages.create(
        model=MODEL, max_tokens=100, tools=[WEATHER],
        messages=[
            {"role": "user", "content": "use get_weather for Paris"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": call.id, "name": call.name, "input": call.input}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny, 21C"}]},
        ],
    )
    assert follow.content[0].text == "tool result: sunny, 21C"
    messages = last_upstream(sim)["chat"]["messages"]
    assert [m["type"] for m in messages] == ["user_message", "assistant_message_tool", "tool_message"]
    assert messages[1]["id"] == messages[2]["id"] == call.id
    assert json.loads(messages[1]["content"]) == call.input


def test_tools_stream_forwards_input_json_piece_by_piece(client) -> None:
    with client.messages.stream(
        model=MODEL, max_tokens=100, tools=[WEATHER, SEARCH],
        messages=[{"role": "user", "content": "call both [[parallel_tools=2]] [[chunks=4]]"}],
    ) as stream:
        deltas = [e for e in stream if e.type == "content_block_delta" and e.delta.type == "input_json_delta"]
        final = stream.get_final_message()
    calls = [b for b in final.content if b.type == "tool_use"]
    assert [c.name for c in calls] == ["get_weather", "search"]
    assert [c.input["index"] for c in calls] == [0, 1]
    assert len(deltas) >= 4, "arguments arrive in pieces, not buffered"
    assert {d.index for d in deltas} == {0, 1}
    assert final.stop_reason == "tool_use"


def test_image_block_becomes_media_message(client, sim) -> None:
    png = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
    client.messages.create(
        model=MODEL, max_tokens=10,
        messages=[{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
            {"type": "text", "text": "what is this?"},
        ]}],
    )
    messages = last_upstream(sim)["chat"]["messages"]
    assert messages[0] == {"type": "media_message", "mediaType": "image/png", "data": png}
    assert messages[1] == {"type": "user_message", "content": "what is this?"}


def test_errors_are_in_anthropics_shape(client, worker) -> None:
    with anthropic.Anthropic(base_url=worker.url, api_key="wrong-key", max_retries=0) as bad:
        with pytest.raises(anthropic.AuthenticationError) as info:
            bad.messages.create(model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "x"}])
        assert info.value.body["type"] == "error"
        assert info.value.body["error"]["type"] == "authentication_error"
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(model="claude-sonet-4-6", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert info.value.body["error"]["type"] == "invalid_request_error"
    assert "claude-sonnet-4-6" in info.value.body["error"]["message"]
    raw = httpx.post(worker.url + "/v1/messages", headers={"x-api-key": KEY},
                     json={"model": MODEL, "messages": [{"role": "user", "content": "x"}]})
    assert raw.status_code == 400
    assert raw.json()["error"] == {"type": "invalid_request_error", "message": "max_tokens: Field required"}
    url_image = httpx.post(worker.url + "/v1/messages", headers={"x-api-key": KEY}, json={
        "model": MODEL, "max_tokens": 5,
        "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}]}],
    })
    assert url_image.status_code == 400 and "base64" in url_image.json()["error"]["message"]


def test_no_usable_jwt_is_overloaded_529(sim, start_worker) -> None:
    sim.set_jwt(A, valid=False)
    worker = start_worker.seed(sim.url, [A])
    worker.wait_state("jwt-1", "invalid")
    response = httpx.post(worker.url + "/v1/messages", headers={"x-api-key": KEY},
                          json={"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]})
    assert response.status_code == 529
    assert response.json()["error"]["type"] == "overloaded_error"


def test_count_tokens_matches_usage(client) -> None:
    messages = [{"role": "user", "content": "How many tokens is this sentence, roughly?"}]
    counted = client.messages.count_tokens(model=MODEL, messages=messages, system="be brief")
    created = client.messages.create(model=MODEL, max_tokens=10, messages=messages, system="be brief")
    assert counted.input_tokens > 0
    assert counted.input_tokens == created.usage.input_tokens


def test_models_list_in_anthropic_format(client, worker) -> None:
    page = client.models.list()
    ids = [m.id for m in page.data]
    assert "claude-sonnet-4-5" in ids and "claude-opus-4-1" in ids
    assert not any(i.startswith("anthropic-") for i in ids)
    assert all(m.type == "model" for m in page.data)
    # Without anthropic-version the same route answers in OpenAI's format.
    openai_shape = worker.client.get("/v1/models").json()
    assert openai_shape["object"] == "list"


def test_session_affinity_keeps_a_session_on_one_jwt(client, sim) -> None:
    for _ in range(4):
        client.messages.create(
            model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "x"}],
            extra_headers={"X-Claude-Code-Session-Id": "session-1"},
        )
    jwts = {r["jwt"] for r in sim.requests(last=4)}
    assert len(jwts) == 1
    for _ in range(4):
        client.messages.create(model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert {r["jwt"] for r in sim.requests(last=4)} == {A, B}, "without a session the strategy spreads"


@pytest.fixture
def image_server():
    """A loopback HTTP server answering /cat.png with a small PNG and /page.html with HTML."""
    import http.server
    import threading

    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            body, kind = (png, "image/png") if self.path == "/cat.png" else (b"<html></html>", "text/html")
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", png
    server.shutdown()


def test_image_urls_are_fetched_only_when_the_tenant_allows_it(sim, start_worker, image_server) -> None:
    from worker_harness import fleet_document, tokens_for

    base, png = image_server
    image = {"type": "image", "source": {"type": "url", "url": f"{base}/cat.png"}}
    body = {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": [image, {"type": "text", "text": "cat?"}]}]}
    closed = start_worker.fleet(fleet_document(sim.url, tokens_for([A])))
    refused = httpx.post(closed.url + "/v1/messages", headers={"x-api-key": KEY}, json=body)
    assert refused.status_code == 400 and "fetch_image_urls" in refused.json()["error"]["message"]

    open_ = start_worker.fleet(fleet_document(sim.url, tokens_for([A]), fetch_image_urls=True))
    assert httpx.post(open_.url + "/v1/messages", headers={"x-api-key": KEY}, json=body).status_code == 200
    media = last_upstream(sim)["chat"]["messages"][0]
    assert media == {"type": "media_message", "mediaType": "image/png", "data": base64.b64encode(png).decode()}
    # The OpenAI route takes the same URLs; something that is not an image is a clear 400.
    chat = open_.client.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": f"{base}/page.html"}}]}]})
    assert chat.status_code == 400 and "text/html" in chat.json()["error"]["message"]
