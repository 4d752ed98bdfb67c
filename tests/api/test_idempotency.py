"""``Idempotency-Key`` on create, chat and respond: replay, mismatch, in flight, after a 503."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from resolutionflow_api.idempotency import REPLAYED_HEADER
from resolutionflow_core.ports import AssistantReply
from resolutionflow_core.session import Session
from resolutionflow_memory import OfflineLLM
from tests.api.conftest import Api, problem
from tests.llm_faults import FaultyLLM

BASE = "/api/v1/ai-sessions"


class GatedLLM(OfflineLLM):
    """Chat replies wait until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()
        self.gate.set()

    async def chat_reply(self, session: Session) -> AssistantReply:
        self.entered.set()
        await self.gate.wait()
        return await super().chat_reply(session)


@pytest.fixture
def llm() -> FaultyLLM:
    return FaultyLLM(GatedLLM())


async def _post(
    api: Api, path: str, body: dict[str, Any] | None, key: str, user: str = "alice"
) -> Any:
    headers = await api.headers(user) | {"Idempotency-Key": key}
    return await api.client.post(path, json=body, headers=headers)


async def _ids(api: Api) -> list[str]:
    listed = await api.client.get(BASE, headers=await api.headers())
    return [row["id"] for row in listed.json()["items"]]


async def test_a_retried_create_returns_the_first_response_and_creates_one_session(
    api: Api,
) -> None:
    body = {"session_type": "chat", "message": "Teams calls drop"}

    first = await _post(api, BASE, body, "create-1")
    again = await _post(api, BASE, body, "create-1")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers[REPLAYED_HEADER] == "true"
    assert REPLAYED_HEADER.lower() not in first.headers
    assert await _ids(api) == [first.json()["id"]]


async def test_a_retried_chat_message_is_stored_once(api: Api) -> None:
    session = await api.start_chat()
    path = f"{BASE}/{session['id']}/chat"

    first = await _post(api, path, {"content": "Rebooted"}, "msg-1")
    again = await _post(api, path, {"content": "Rebooted"}, "msg-1")

    assert again.status_code == 200
    assert again.json() == first.json()
    assert (await api.session(session["id"]))["step_count"] == 4


async def test_a_retried_step_answer_is_stored_once(api: Api) -> None:
    session = await api.start_guided()
    path = f"{BASE}/{session['id']}/respond"

    first = await _post(api, path, {"response": "Yes"}, "answer-1")
    again = await _post(api, path, {"response": "Yes"}, "answer-1")

    assert again.json() == first.json()
    assert (await api.session(session["id"]))["step_count"] == 2


async def test_the_same_key_on_a_different_request_is_422(api: Api) -> None:
    session = await api.start_chat()
    await _post(api, f"{BASE}/{session['id']}/chat", {"content": "One"}, "k")

    different_body = await _post(api, f"{BASE}/{session['id']}/chat", {"content": "Two"}, "k")
    other = await api.start_chat("Second problem")
    different_session = await _post(api, f"{BASE}/{other['id']}/chat", {"content": "One"}, "k")

    for response in (different_body, different_session):
        errors = problem(response, 422, "idempotency_key_reused")["errors"]
        assert errors[0]["field"] == "Idempotency-Key"
    assert (await api.session(session["id"]))["step_count"] == 4


async def test_keys_are_scoped_by_user_and_route(api: Api) -> None:
    body = {"session_type": "chat", "message": "Printer offline"}

    alice = await _post(api, BASE, body, "shared")
    bob = await _post(api, BASE, body, "shared", user="bob")

    assert alice.status_code == bob.status_code == 201
    assert alice.json()["id"] != bob.json()["id"]


async def test_a_retry_while_the_first_is_in_flight_is_409(api: Api) -> None:
    gated = api.llm.inner
    assert isinstance(gated, GatedLLM)
    session = await api.start_chat()
    path = f"{BASE}/{session['id']}/chat"
    gated.gate.clear()
    gated.entered.clear()

    headers = await api.headers() | {"Idempotency-Key": "slow"}
    async with api.concurrent_client() as client:
        first = asyncio.create_task(
            client.post(path, json={"content": "Slow one"}, headers=headers)
        )
        await asyncio.wait_for(gated.entered.wait(), 5)
        during = await client.post(path, json={"content": "Slow one"}, headers=headers)
        gated.gate.set()
        done = await first
    after = await _post(api, path, {"content": "Slow one"}, "slow")

    assert problem(during, 409, "idempotency_key_in_use")
    assert during.headers["retry-after"] == "1"
    assert done.status_code == 200
    assert after.json() == done.json()
    assert (await api.session(session["id"]))["step_count"] == 4


async def test_a_refusal_that_changed_nothing_frees_the_key(api: Api) -> None:
    session = await api.start_chat()
    headers = await api.headers()
    await api.client.post(f"{BASE}/{session['id']}/pause", headers=headers)
    path = f"{BASE}/{session['id']}/chat"

    refused = await _post(api, path, {"content": "Back"}, "after-pause")
    await api.client.post(f"{BASE}/{session['id']}/resume", headers=headers)
    accepted = await _post(api, path, {"content": "Back"}, "after-pause")

    problem(refused, 409, "invalid_transition")
    assert accepted.status_code == 200, accepted.text


async def test_after_a_503_the_retry_completes_the_turn_without_sending_the_message_again(
    api: Api,
) -> None:
    session = await api.start_chat()
    path = f"{BASE}/{session['id']}/chat"
    api.llm.fail_next_calls(1)

    failed = await _post(api, path, {"content": "VPN still drops"}, "turn-1")
    completed = await _post(api, path, {"content": "VPN still drops"}, "turn-1")
    replayed = await _post(api, path, {"content": "VPN still drops"}, "turn-1")

    problem(failed, 503, "llm_unavailable")
    assert completed.status_code == 200, completed.text
    assert completed.json()["message"]["content"] == "VPN still drops"
    assert completed.json()["reply"]["index"] == 3
    assert replayed.json() == completed.json()
    assert replayed.headers[REPLAYED_HEADER] == "true"
    messages = (await api.session(session["id"]))["messages"]
    assert [m["content"] for m in messages].count("VPN still drops") == 1
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]


async def test_after_a_503_on_create_the_retry_answers_the_same_session(api: Api) -> None:
    body = {"session_type": "chat", "message": "Shared drive is gone"}
    api.llm.fail_next_calls(1)

    failed = await _post(api, BASE, body, "create-503")
    api.llm.fail_next_calls(1)
    failed_again = await _post(api, BASE, body, "create-503")
    completed = await _post(api, BASE, body, "create-503")

    session_id = problem(failed, 503)["session_id"]
    assert problem(failed_again, 503)["session_id"] == session_id
    assert completed.status_code == 201
    assert completed.json()["id"] == session_id
    assert [m["role"] for m in completed.json()["messages"]] == ["user", "assistant"]
    assert await _ids(api) == [session_id]


async def test_after_a_503_on_a_guided_start_or_answer_the_retry_proposes_the_step(
    api: Api,
) -> None:
    api.llm.fail_next_calls(1)
    body = {"session_type": "guided", "intake_content": {"text": "Wi-Fi is slow"}}
    problem(await _post(api, BASE, body, "guided-start"), 503)
    started = await _post(api, BASE, body, "guided-start")
    path = f"{BASE}/{started.json()['id']}/respond"
    api.llm.fail_next_calls(1)
    problem(await _post(api, path, {"response": "Everyone"}, "guided-answer"), 503)
    answered = await _post(api, path, {"response": "Everyone"}, "guided-answer")

    assert started.status_code == 201
    assert len(started.json()["steps"]) == 1
    assert answered.status_code == 200, answered.text
    assert answered.json()["answered_step"]["response"] == "Everyone"
    assert answered.json()["next_step"]["number"] == 2
    assert await _ids(api) == [started.json()["id"]]
