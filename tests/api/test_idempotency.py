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


async def test_a_retry_after_the_reply_was_stored_anyway_returns_that_turn_not_409(
    api: Api,
) -> None:
    """The reply can be stored after the key's request failed (its assistant call outlived
    a request deadline, or `/chat/retry` answered first): the retry then returns that turn.
    It was a 409 `nothing_to_answer`, which a client retried forever (seen under load in
    tests/reliability: the message never acknowledged)."""
    session = await api.start_chat()
    path = f"{BASE}/{session['id']}/chat"
    api.llm.fail_next_calls(1)

    failed = await _post(api, path, {"content": "VPN still drops"}, "turn-2")
    answered = await api.client.post(f"{path}/retry", headers=await api.headers())
    retried = await _post(api, path, {"content": "VPN still drops"}, "turn-2")

    problem(failed, 503, "llm_unavailable")
    assert answered.status_code == 200, answered.text
    assert retried.status_code == 200, retried.text
    assert retried.json()["message"] == answered.json()["message"]
    assert retried.json()["reply"] == answered.json()["reply"]
    messages = (await api.session(session["id"]))["messages"]
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


# -- a failure after the input was stored, and a holder that died ------------------------------


async def _fail_replies(api: Api, on: bool) -> None:
    """While on, storing a chat reply (the UPDATE to an even message count) fails: a database
    error that is not the LLM's, after the engineer's message was committed."""

    def install(conn: Any) -> None:
        import sqlalchemy as sa

        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS fail_replies (x INTEGER)"))
        conn.execute(sa.text("DELETE FROM fail_replies"))
        if on:
            conn.execute(sa.text("INSERT INTO fail_replies VALUES (1)"))
        conn.execute(
            sa.text(
                "CREATE TRIGGER IF NOT EXISTS fail_reply BEFORE UPDATE ON ai_sessions "
                "WHEN NEW.step_count % 2 = 0 AND EXISTS (SELECT 1 FROM fail_replies) "
                "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
            )
        )

    await api.application.storage.database.write(install)


async def test_a_failure_after_the_message_was_stored_keeps_the_key_and_the_retry_completes(
    api: Api,
) -> None:
    chat = (await api.start_chat())["id"]
    path = f"{BASE}/{chat}/chat"
    body = {"content": "Still failing after the reboot"}
    await _fail_replies(api, on=True)

    failed = await _post(api, path, body, "after-commit")

    details = problem(failed, 500, "internal_error")
    assert details["session_id"] == chat  # where the message is
    await _fail_replies(api, on=False)
    retried = await _post(api, path, body, "after-commit")
    assert retried.status_code == 200, retried.text
    assert retried.json()["message"]["content"] == body["content"]
    again = await _post(api, path, body, "after-commit")
    assert again.json() == retried.json()
    assert again.headers[REPLAYED_HEADER] == "true"
    contents = [m["content"] for m in (await api.session(chat))["messages"]]
    assert contents.count(body["content"]) == 1
    assert (await api.session(chat))["messages"][-1]["role"] == "assistant"


class DeadStore:
    """The store as a process that dies while holding a claim leaves it: its claim and its
    'input saved' mark land, but it never renews, completes nor releases."""

    def __init__(self, store: Any) -> None:
        self._store = store

    async def claim(self, *args: Any, **kwargs: Any) -> Any:
        return await self._store.claim(*args, **kwargs)

    async def mark_saved(self, *args: Any) -> None:
        await self._store.mark_saved(*args)

    async def saved_in(self, *args: Any) -> Any:
        return await self._store.saved_in(*args)

    async def renew(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def complete(self, *args: Any) -> None:
        return None

    async def release(self, *args: Any) -> None:
        return None


async def _die_holding(
    api: Api, llm: GatedLLM, chat: str, content: str, key: str, *, after_saving: bool
) -> None:
    """A request with ``key`` that dies (no clean-up at all) before or after storing."""
    from datetime import timedelta
    from uuid import UUID

    from resolutionflow_api.idempotency import IdempotencyGate, IdempotentRequest
    from resolutionflow_api.requests import ChatMessage
    from resolutionflow_core.access import Actor, Role

    actor = Actor("acme", "alice", Role.ENGINEER)
    await api.headers()  # the key exists
    dying = IdempotencyGate(
        DeadStore(api.application.idempotency),  # type: ignore[arg-type]
        api.application.clock,
        lease=timedelta(seconds=1),
    )
    stuck = asyncio.Event()

    async def run() -> Any:
        if not after_saving:
            stuck.set()
            await asyncio.Event().wait()
        return await api.application.sessions.send_message(actor, UUID(chat), content)

    async def finish(_: UUID) -> Any:
        raise AssertionError("a first request does not finish")

    llm.gate.clear()
    request = IdempotentRequest(
        "POST /ai-sessions/{session_id}/chat",
        f"{BASE}/{chat}/chat",
        ChatMessage(content=content),
        200,
        run,
        finish,
    )
    task = asyncio.create_task(dying.respond(actor, key, request))
    await asyncio.wait_for(
        asyncio.wait(
            [asyncio.create_task(llm.entered.wait()), asyncio.create_task(stuck.wait())],
            return_when=asyncio.FIRST_COMPLETED,
        ),
        10,
    )
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    llm.gate.set()


@pytest.mark.parametrize("after_saving", [True, False])
async def test_a_claim_whose_holder_died_is_taken_over_after_its_lease_exactly_once(
    api: Api, llm: FaultyLLM, after_saving: bool
) -> None:
    gated = llm.inner
    assert isinstance(gated, GatedLLM)
    chat = (await api.start_chat())["id"]
    gated.entered.clear()
    content = "The printer spooler crashed again"
    await _die_holding(api, gated, chat, content, "dead-holder", after_saving=after_saving)
    path = f"{BASE}/{chat}/chat"

    at_once = await _post(api, path, {"content": content}, "dead-holder")
    problem(at_once, 409, "idempotency_key_in_use")
    await asyncio.sleep(1.2)  # the dead holder's 1 s lease runs out
    taken_over = await _post(api, path, {"content": content}, "dead-holder")
    assert taken_over.status_code == 200, taken_over.text
    replay = await _post(api, path, {"content": content}, "dead-holder")

    assert replay.json() == taken_over.json()
    messages = (await api.session(chat))["messages"]
    assert [m["content"] for m in messages].count(content) == 1
    assert [m["role"] for m in messages[-2:]] == ["user", "assistant"]
