"""The test double that makes the LLM fail on demand (the shipped offline LLM never does)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from resolutionflow_core.access import Actor, Role
from resolutionflow_core.chat import MessageRole
from resolutionflow_core.errors import LLMResponseInvalid, LLMUnavailable
from resolutionflow_core.ports import LLM, ReplyCompleted, ReplyEvent, TextDelta
from resolutionflow_core.services import SessionService
from resolutionflow_core.session import Session
from resolutionflow_memory.llm import LABEL, OfflineLLM
from resolutionflow_memory.storage import InMemoryStorage
from tests.llm_faults import INJECTED, FaultyLLM
from tests.sessions import chat_session, guided_session

NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def guided() -> Session:
    return guided_session("The VPN drops every ten minutes", n=1, user="eve", now=NOW)


def chat() -> Session:
    return chat_session("Outlook keeps asking for the password", n=2, user="eve", now=NOW)


async def collect(llm: LLM, session: Session) -> list[ReplyEvent]:
    return [event async for event in llm.stream_chat_reply(session)]


async def received_before_failing(llm: LLM, session: Session) -> list[ReplyEvent]:
    """What a stream yields before it fails with `LLMUnavailable` (it must fail)."""
    received: list[ReplyEvent] = []

    async def consume() -> None:
        async for event in llm.stream_chat_reply(session):
            received.append(event)

    with pytest.raises(LLMUnavailable):
        await consume()
    return received


def test_the_shipped_offline_llm_has_no_fault_injection() -> None:
    assert not hasattr(OfflineLLM(), "fail_next_calls")
    assert not hasattr(OfflineLLM(), "calls")


async def test_injected_failures_hit_the_next_calls_only() -> None:
    llm = FaultyLLM()
    llm.fail_next_calls(2)

    with pytest.raises(LLMUnavailable, match=INJECTED):
        await llm.next_step(guided())
    with pytest.raises(LLMUnavailable):
        await llm.chat_reply(chat())
    assert (await llm.chat_reply(chat())).text.startswith(LABEL)
    assert llm.calls == ("next_step", "chat_reply", "chat_reply")


async def test_without_injected_failures_it_answers_as_the_wrapped_llm() -> None:
    llm, offline = FaultyLLM(OfflineLLM()), OfflineLLM()

    assert await llm.next_step(guided()) == await offline.next_step(guided())
    assert await llm.chat_reply(chat()) == await offline.chat_reply(chat())
    assert await collect(llm, chat()) == await collect(offline, chat())
    assert await llm.describe(chat()) == await offline.describe(chat())


async def test_an_injected_error_is_raised_as_given() -> None:
    llm = FaultyLLM()
    llm.fail_next_calls(1, LLMResponseInvalid("malformed step"))

    with pytest.raises(LLMResponseInvalid, match="malformed step"):
        await llm.describe(guided())
    assert (await llm.describe(guided())).summary == "The VPN drops every ten minutes"


async def test_a_stream_can_fail_after_some_deltas_and_never_completes() -> None:
    llm = FaultyLLM()
    llm.fail_next_calls(1, after_deltas=2)

    received = await received_before_failing(llm, chat())

    assert len(received) == 2
    assert all(isinstance(event, TextDelta) for event in received)
    events = await collect(llm, chat())
    assert isinstance(events[-1], ReplyCompleted)


async def test_a_stream_failing_after_more_deltas_than_it_has_still_never_completes() -> None:
    llm = FaultyLLM()
    whole = await collect(llm, chat())
    llm.fail_next_calls(1, after_deltas=10_000)

    received = await received_before_failing(llm, chat())

    assert received == whole[:-1]


async def test_a_failed_mid_stream_reply_through_the_service_keeps_the_message_only() -> None:
    llm = FaultyLLM()
    storage = InMemoryStorage()
    service = SessionService(uow=storage.unit_of_work, llm=llm)
    actor = Actor("acme", "eve", Role.ENGINEER)
    turn = await service.start_chat(actor, "Outlook keeps asking for the password")
    llm.fail_next_calls(1, after_deltas=1)

    with pytest.raises(LLMUnavailable):
        async for _ in service.stream_message(actor, turn.session.id, "It is one mailbox"):
            pass

    stored = storage.committed(turn.session.id)
    assert [m.role for m in stored.conversation_messages] == [
        MessageRole.USER,
        MessageRole.ASSISTANT,
        MessageRole.USER,
    ]
    assert stored.conversation_messages[-1].content == "It is one mailbox"
