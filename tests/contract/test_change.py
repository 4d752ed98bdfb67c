"""`UnitOfWork.change`: load, apply and commit as one operation, on every storage adapter."""

from __future__ import annotations

import uuid

import pytest

from resolutionflow_core.chat import MessageRole
from resolutionflow_core.errors import PermissionDenied, SessionNotFound
from resolutionflow_core.session import Session
from tests.contract.conftest import StorageHarness, insert
from tests.contract.test_repository import at, inserted_chat, load, new_chat


async def test_a_change_is_loaded_applied_and_committed_with_its_events(
    storage: StorageHarness,
) -> None:
    session = await inserted_chat(storage)
    before = session.version

    def add_reply(fresh: Session) -> int:
        fresh.add_message(MessageRole.ASSISTANT, "a reply", now=at(1), by=None)
        return len(fresh.conversation_messages)

    async with storage.uow() as uow:
        changed, result = await uow.change(session.id, account_id="acme", apply=add_reply)

    assert result == 2
    assert changed.version == before + 1
    assert changed.events == [], "the committed events were handed to the outbox"
    stored = await load(storage, session.id)
    assert [m.content for m in stored.conversation_messages][1:] == ["a reply"]
    assert stored.version == before + 1
    assert (await storage.outbox())[-1][1:] == (before + 1, "session.message_added")


async def test_a_change_whose_apply_raises_writes_nothing(storage: StorageHarness) -> None:
    session = await inserted_chat(storage)
    outbox = await storage.outbox()

    def change_then_refuse(fresh: Session) -> None:
        fresh.add_message(MessageRole.ASSISTANT, "never stored", now=at(1), by=None)
        raise PermissionDenied("answer", "not yours")

    async with storage.uow() as uow:
        with pytest.raises(PermissionDenied):
            await uow.change(session.id, account_id="acme", apply=change_then_refuse)

    stored = await load(storage, session.id)
    assert [m.content for m in stored.conversation_messages] == [
        m.content for m in session.conversation_messages
    ]
    assert stored.version == session.version
    assert await storage.outbox() == outbox


async def test_a_change_of_an_unknown_or_other_accounts_session_is_not_found(
    storage: StorageHarness,
) -> None:
    theirs = new_chat(account="globex")
    await insert(storage, theirs)
    applied: list[Session] = []

    for session_id in (theirs.id, uuid.UUID(int=999)):
        async with storage.uow() as uow:
            with pytest.raises(SessionNotFound):
                await uow.change(session_id, account_id="acme", apply=applied.append)

    assert applied == []
    assert (await load(storage, theirs.id, account="globex")).version == theirs.version
