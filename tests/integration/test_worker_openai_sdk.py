"""Conformance with a real client: the official `openai` Python SDK against the worker."""

from __future__ import annotations

import json

import openai
import pytest

from worker_harness import (  # noqa: F401 - fixtures
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
    "function": {
        "name": "get_weather",
        "description": "weather by city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture
def worker(sim, start_worker):
    return start_worker.seed(sim.url, [A, B])


@pytest.fixture
def client(worker):
    with worker.openai() as c:
        yield c


def test_chat_non_stream(client) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "Hello, SDK!"}],
        temperature=0.3,
        max_tokens=50,
    )
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "gpt-4o"
    assert len(completion.choices) == 1
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "!KDS ,olleH"
    assert choice.finish_reason == "stop"
    assert not choice.message.tool_calls


def test_chat_stream(client) -> None:
    stream = client.chat.completions.create(
        model="claude-4-sonnet",
        messages=[{"role": "user", "content": "streaming works [[chunks=5]]"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces: list[str] = []
    roles: list[str] = []
    finish: list[str] = []
    usage_chunks = 0
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        if not chunk.choices:
            usage_chunks += 1
            assert chunk.usage is not None
            continue
        delta = chunk.choices[0].delta
        if delta.role:
            roles.append(delta.role)
        if delta.content:
            pieces.append(delta.content)
        if chunk.choices[0].finish_reason:
            finish.append(chunk.choices[0].finish_reason)
    assert "".join(pieces) == "skrow gnimaerts"
    assert len(pieces) == 5
    assert roles == ["assistant"]
    assert finish == ["stop"]
    assert usage_chunks == 1


def test_tools_non_stream(client) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "what does get_weather say for Paris"}],
        tools=[WEATHER],
        tool_choice="auto",
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert calls and len(calls) == 1
    assert calls[0].id
    assert calls[0].type == "function"
    assert calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == {"query": "what does get_weather say for Paris"}

    # the round trip: the tool's result goes back and the model answers from it
    follow_up = client.chat.completions.create(
        model="gpt-4o",
        messages=[
            {"role": "user", "content": "what does get_weather say for Paris"},
            choice.message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": calls[0].id, "content": "sunny, 24C"},
        ],
        tools=[WEATHER],
    )
    assert follow_up.choices[0].message.content == "tool result: sunny, 24C"
    assert follow_up.choices[0].finish_reason == "stop"


def test_tools_stream(client) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "use get_weather for Oslo [[chunks=4]]"}],
        tools=[WEATHER],
        stream=True,
    )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in stream:
        if not chunk.choices:
            continue
        for tc in chunk.choices[0].delta.tool_calls or []:
            entry = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
            if tc.id:
                entry["id"] = tc.id
            if tc.function and tc.function.name:
                entry["name"] += tc.function.name
            if tc.function and tc.function.arguments:
                entry["arguments"] += tc.function.arguments
        finish = chunk.choices[0].finish_reason or finish
    assert list(calls) == [0]
    assert calls[0]["id"] and calls[0]["name"] == "get_weather"
    assert json.loads(calls[0]["arguments"]) == {"query": "use get_weather for Oslo"}
    assert finish == "tool_calls"


def test_models_list(client) -> None:
    models = client.models.list()
    ids = {m.id for m in models}
    assert {"gpt-4o", "claude-4-sonnet", "gemini-pro-2.5", "o3-mini"} <= ids
    assert all(m.object == "model" for m in models)


def test_wrong_key_raises_authentication_error(worker) -> None:
    with worker.openai(api_key="definitely-wrong-key") as bad:
        with pytest.raises(openai.AuthenticationError) as info:
            bad.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
        assert info.value.status_code == 401
        with pytest.raises(openai.AuthenticationError):
            bad.models.list()


def test_unknown_model_raises_bad_request(client) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="gpt-99", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 400
    assert info.value.code == "model_not_found"


def test_no_usable_jwt_raises_503(sim, start_worker) -> None:
    worker = start_worker.fleet(fleet_document(sim.url, tokens_for([A])))
    sim.fault(kind="status", status=401)
    with worker.openai(max_retries=0) as client:
        with pytest.raises(openai.APIStatusError):
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
        assert info.value.status_code == 503
        assert "no available JWT tokens: no healthy JWT tokens available" in str(info.value)
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}], stream=True)
        assert info.value.status_code == 503


def test_mid_stream_error_surfaces_in_the_sdk(sim, worker) -> None:
    sim.fault(kind="drop", after_events=2)
    with worker.openai() as client:
        stream = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "abcdefgh [[chunks=4]]"}], stream=True
        )
        received: list[str] = []
        with pytest.raises(openai.APIError):
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    received.append(chunk.choices[0].delta.content)
        # the pieces sent before the drop (rarely only the first survives the cut: see the report)
        assert "".join(received) in ("hgfe", "hg")


def test_the_default_thread_pool_serves_the_same(sim, start_worker) -> None:
    # JBAI_NIO_EXECUTOR=off keeps Swift concurrency's own pool (the worker's tasks then run off
    # the event loops, and the pooled upstream client hands connections across loops).
    worker = start_worker.seed(sim.url, [A, B], env={"JBAI_NIO_EXECUTOR": "off"})
    with worker.openai() as client:
        for _ in range(3):
            completion = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hello, pool!"}])
            assert completion.choices[0].message.content == "!loop ,olleH"
        stream = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "abc"}], stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "cba"
