"""A copy committed earlier, changed again without reading it back (`SessionRepository.attach`),
on every storage adapter; and the service's turns, which store the reply that way."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self, TypeVar
from uuid import UUID

import pytest

from resolutionflow_core.access import Actor, Role
from resolutionflow_core.chat import MessageRole
from resolutionflow_core.errors import StaleSession
from resolutionflow_core.listing import SessionPage, SessionQuery
from resolutionflow_core.ports import AssistantReply, UnitOfWork
from resolutionflow_core.services import SessionService
from resolutionflow_core.session import IntakeType, Session
from resolutionflow_memory.llm import OfflineLLM
from tests.contract.conftest import StorageHarness
from tests.contract.test_repository import at, inserted_chat, load, replied

T = TypeVar("T")

ALICE = Actor("acme", "alice", Role.ENGINEER)
BOB = Actor("acme", "bob", Role.ADMIN)


async def test_an_attached_copy_commits_its_change_without_a_read(
    storage: StorageHarness,
) -> None:
    session = await inserted_chat(storage)
    before = session.version
    async with storage.uow() as uow:
        await uow.sessions.attach(session)
        session.add_message(MessageRole.ASSISTANT, "first reply", now=at(1), by=None)
        await uow.commit()

    stored = await load(storage, session.id)
    assert [m.content for m in stored.conversation_messages][1:] == ["first reply"]
    assert stored.version == session.version == before + 1
    rows = [row[1:] for row in await storage.outbox()]
    assert [version for version, _ in rows] == list(range(1, before + 2))
    assert rows[-1] == (before + 1, "session.message_added")


async def test_an_attached_copy_someone_changed_meanwhile_is_stale_and_writes_nothing(
    storage: StorageHarness,
) -> None:
    mine = await inserted_chat(storage)
    before = mine.version
    async with storage.uow() as uow:
        await replied(uow, mine.id, "theirs")
        await uow.commit()

    async with storage.uow() as uow:
        await uow.sessions.attach(mine)
        mine.add_message(MessageRole.ASSISTANT, "mine", now=at(2), by=None)
        with pytest.raises(StaleSession):
            await uow.commit()

    stored = await load(storage, mine.id)
    assert [m.content for m in stored.conversation_messages][1:] == ["theirs"]
    assert stored.version == before + 1
    assert [row[1] for row in await storage.outbox()] == list(range(1, before + 2))


class CountedUnitOfWork:
    """A unit of work that counts the sessions read from the database: ``get``, and
    ``change`` (load, change, commit in one operation)."""

    def __init__(self, inner: UnitOfWork, reads: Counter[str]) -> None:
        self._inner = inner
        self._reads = reads

    @property
    def sessions(self) -> Self:
        return self

    async def __aenter__(self) -> Self:
        await self._inner.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._inner.__aexit__(exc_type, exc, tb)

    async def add(self, session: Session) -> None:
        await self._inner.sessions.add(session)

    async def get(self, session_id: UUID, *, account_id: str) -> Session:
        self._reads["get"] += 1
        return await self._inner.sessions.get(session_id, account_id=account_id)

    async def attach(self, session: Session) -> None:
        self._reads["attach"] += 1
        await self._inner.sessions.attach(session)

    async def list(self, query: SessionQuery) -> SessionPage:
        return await self._inner.sessions.list(query)

    async def commit(self) -> None:
        await self._inner.commit()

    async def rollback(self) -> None:
        await self._inner.rollback()

    async def change(
        self, session_id: UUID, *, account_id: str, apply: Callable[[Session], T]
    ) -> tuple[Session, T]:
        self._reads["change"] += 1
        return await self._inner.change(session_id, account_id=account_id, apply=apply)


class InterruptedLLM(OfflineLLM):
    """The offline LLM; while it answers the first time, ``meanwhile`` runs (someone else
    changes the session)."""

    def __init__(self, meanwhile: Callable[[], Awaitable[object]]) -> None:
        super().__init__()
        self._meanwhile: Callable[[], Awaitable[object]] | None = meanwhile

    async def chat_reply(self, session: Session) -> AssistantReply:
        if self._meanwhile is not None:
            meanwhile, self._meanwhile = self._meanwhile, None
            await meanwhile()
        return await super().chat_reply(session)


async def test_a_chat_turn_reads_the_session_once(storage: StorageHarness) -> None:
    reads: Counter[str] = Counter()
    service = SessionService(uow=lambda: CountedUnitOfWork(storage.uow(), reads), llm=OfflineLLM())
    started = await service.start_chat(ALICE, "VPN drops every 20 minutes")
    assert reads == Counter({"attach": 1}), "the first reply is stored on the inserted copy"

    reads.clear()
    turn = await service.send_message(ALICE, started.session.id, "It is error 809")

    assert reads == Counter({"change": 1, "attach": 1})
    stored = await load(storage, started.session.id)
    assert stored.conversation_messages == turn.session.conversation_messages
    assert [m.role for m in stored.conversation_messages] == [
        MessageRole.USER,
        MessageRole.ASSISTANT,
        MessageRole.USER,
        MessageRole.ASSISTANT,
    ]
    assert stored.version == turn.session.version == started.session.version + 2
    assert [row[1] for row in await storage.outbox()] == list(range(1, stored.version + 1))


async def test_a_reply_to_a_session_changed_meanwhile_lands_on_a_fresh_copy(
    storage: StorageHarness,
) -> None:
    start = SessionService(uow=storage.uow, llm=OfflineLLM())
    started = await start.start_chat(ALICE, "VPN drops every 20 minutes")
    session_id = started.session.id

    async def bob_writes() -> None:
        await SessionService(uow=storage.uow, llm=OfflineLLM()).send_message(
            BOB, session_id, "Bob: the firewall was replaced on Friday"
        )

    reads: Counter[str] = Counter()
    service = SessionService(
        uow=lambda: CountedUnitOfWork(storage.uow(), reads), llm=InterruptedLLM(bob_writes)
    )
    turn = await service.send_message(ALICE, session_id, "Alice: it is error 809")

    assert reads == Counter({"change": 2, "attach": 1}), "the stale copy was reloaded once"
    stored = await load(storage, session_id)
    contents = [m.content for m in stored.conversation_messages]
    assert contents[2:5] == [
        "Alice: it is error 809",
        "Bob: the firewall was replaced on Friday",
        contents[4],
    ]
    assert [m.role for m in stored.conversation_messages][2:] == [
        MessageRole.USER,
        MessageRole.USER,
        MessageRole.ASSISTANT,
        MessageRole.ASSISTANT,
    ]
    assert stored.conversation_messages[-1] == turn.reply
    assert stored.conversation_messages == turn.session.conversation_messages
    assert [row[1] for row in await storage.outbox()] == list(range(1, stored.version + 1))
    assert stored.version == turn.session.version == started.session.version + 4


async def test_a_guided_answer_stores_the_next_step_on_the_copy_it_committed(
    storage: StorageHarness,
) -> None:
    reads: Counter[str] = Counter()
    service = SessionService(uow=lambda: CountedUnitOfWork(storage.uow(), reads), llm=OfflineLLM())
    started = await service.start_guided(ALICE, IntakeType.FREE_TEXT, {"text": "Printer offline"})
    reads.clear()

    answered = await service.answer_step(ALICE, started.id, "The test page prints")

    assert reads == Counter({"change": 1, "attach": 1})
    stored = await load(storage, started.id)
    assert len(stored.steps) == len(answered.steps) == 2
    assert stored.steps[0].response == "The test page prints"
    assert stored.version == answered.version
