"""``POST /ai-sessions/{id}/chat/stream``: server-sent events, failures, a client going away."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from uuid import UUID

import pytest

from resolutionflow_core.access import Actor, Role
from resolutionflow_memory import OfflineLLM
from tests.api.conftest import ACCOUNT, Api, parse_sse, problem
from tests.llm_faults import FaultyLLM

BASE = "/api/v1/ai-sessions"
CHUNK_DELAY = 0.03


@pytest.fixture
def llm() -> FaultyLLM:
    return FaultyLLM(OfflineLLM(chunk_delay=CHUNK_DELAY))


async def _stream(api: Api, session_id: str, content: str) -> Any:
    return await api.client.post(
        f"{BASE}/{session_id}/chat/stream", json={"content": content}, headers=await api.headers()
    )


async def test_the_reply_streams_as_deltas_then_the_stored_turn(api: Api) -> None:
    session = await api.start_chat()

    response = await _stream(api, session["id"], "Only on one laptop")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    events = parse_sse(response.text)
    names = [name for name, _ in events]
    assert names[-1] == "message"
    assert set(names[:-1]) == {"delta"}
    assert len(names) > 2
    turn = events[-1][1]
    assert "".join(data["text"] for _, data in events[:-1]) == turn["reply"]["content"]
    assert turn["message"]["content"] == "Only on one laptop"
    assert turn["reply"]["actions"], "the offline assistant's second reply suggests actions"
    assert "[ACTIONS]" not in turn["reply"]["text"]
    stored = await api.session(session["id"])
    assert stored["messages"][-1]["content"] == turn["reply"]["content"]
    assert stored["step_count"] == 4


async def test_a_refusal_before_the_stream_starts_is_a_plain_problem(api: Api) -> None:
    guided = await api.start_guided()
    chat = await api.start_chat()
    api.llm.fail_next_calls(1)

    wrong_kind = await _stream(api, guided["id"], "hi")
    unavailable = await _stream(api, chat["id"], "Is it the VPN?")

    problem(wrong_kind, 409, "wrong_session_type")
    body = problem(unavailable, 503, "llm_unavailable")
    assert unavailable.headers["retry-after"] == str(body["retry_after"]) == "5"
    assert body["session_id"] == chat["id"]
    assert (await api.session(chat["id"]))["messages"][-1]["content"] == "Is it the VPN?"


async def test_a_failure_mid_stream_ends_with_an_error_event_and_keeps_the_message(
    api: Api,
) -> None:
    session = await api.start_chat()
    api.llm.fail_next_calls(1, after_deltas=2)

    response = await _stream(api, session["id"], "Tried a new profile")

    events = parse_sse(response.text)
    assert [name for name, _ in events] == ["delta", "delta", "error"]
    error = events[-1][1]
    assert (error["status"], error["code"], error["session_id"]) == (
        503,
        "llm_unavailable",
        session["id"],
    )
    stored = await api.session(session["id"])
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant", "user"]
    retried = await api.client.post(
        f"{BASE}/{session['id']}/chat/retry", headers=await api.headers()
    )
    assert retried.status_code == 200


async def test_a_client_going_away_stops_the_response_but_the_reply_is_stored(api: Api) -> None:
    session = await api.start_chat()
    headers = await api.headers()
    body = json.dumps({"content": "Tried it, still broken"}).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"{BASE}/{session['id']}/chat/stream",
        "raw_path": f"{BASE}/{session['id']}/chat/stream".encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"api"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"authorization", headers["Authorization"].encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    gone = asyncio.Event()
    sent: list[bytes] = []
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": body, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            sent.append(message["body"])
            if b"event: delta" in message["body"]:
                gone.set()  # the first delta arrived: the client hangs up

    await asyncio.wait_for(api.app(scope, receive, send), 10)  # type: ignore[arg-type]

    received = parse_sse(b"".join(sent).decode())
    assert received, "a delta arrived before the client went away"
    assert {name for name, _ in received} == {"delta"}, "it stopped mid-stream"
    alice = Actor(ACCOUNT, "alice", Role.ENGINEER)
    sessions = api.application.sessions
    early = await sessions.get(alice, UUID(session["id"]))
    assert early.step_count == 3, "the response ended before the reply was complete"
    for _ in range(200):
        stored = await sessions.get(alice, UUID(session["id"]))
        if stored.step_count == 4:
            break
        await asyncio.sleep(0.02)
    assert [m.role for m in stored.conversation_messages] == ["user", "assistant"] * 2
    reply = stored.conversation_messages[-1].content
    assert reply.startswith("".join(data["text"] for _, data in received))
    assert len(reply) > len("".join(data["text"] for _, data in received))


async def test_every_event_matches_the_documented_event_schema(api: Api) -> None:
    """Found by schemathesis: the 200 was documented as one string, while before OpenAPI 3.2
    the schema of a `text/event-stream` response describes each event."""
    import jsonschema_rs

    document = (await api.client.get("/schema/openapi.json")).json()
    operation = document["paths"][f"{BASE}/{{session_id}}/chat/stream"]["post"]
    reference = operation["responses"]["200"]["content"]["text/event-stream"]["schema"]["$ref"]
    validator = jsonschema_rs.validator_for(
        document["components"]["schemas"][reference.rsplit("/", 1)[1]]
    )
    session = await api.start_chat()

    response = await _stream(api, session["id"], "Only on one laptop")

    events = [{"event": name, "data": json.dumps(data)} for name, data in parse_sse(response.text)]
    assert [event["event"] for event in events][-1] == "message"
    assert all(validator.is_valid(event) for event in events), events[0]
    assert not validator.is_valid(response.text), "a whole stream is not one event"
