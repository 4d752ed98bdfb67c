"""Chat turns racing on one session from separate connections: none lost, none twice."""

from __future__ import annotations

import asyncio
from collections import Counter

import sqlalchemy as sa

from resolutionflow_core.access import Actor, Role
from resolutionflow_core.chat import MessageRole
from resolutionflow_core.errors import StaleSession
from resolutionflow_core.services import SessionService
from resolutionflow_memory import OfflineLLM
from resolutionflow_sqlalchemy import SqlStorage, SqlUnitOfWork
from resolutionflow_sqlalchemy.tables import session_outbox

ALICE = Actor("acme", "alice", Role.ENGINEER)
WRITERS = 24


class CountingConflicts:
    """A unit-of-work factory that counts the commits refused as stale."""

    def __init__(self, storage: SqlStorage, counter: Counter[str]) -> None:
        self._storage = storage
        self._counter = counter

    def __call__(self) -> SqlUnitOfWork:
        uow = self._storage.unit_of_work()
        commit = uow.commit

        async def counted_commit() -> None:
            try:
                await commit()
            except StaleSession:
                self._counter["stale"] += 1
                raise

        uow.commit = counted_commit  # type: ignore[method-assign]
        return uow


async def test_racing_chat_turns_from_separate_connections_all_land_exactly_once(
    database_url: str,
) -> None:
    first = SqlStorage.from_url(database_url)
    turn = await SessionService(uow=first.unit_of_work, llm=OfflineLLM()).start_chat(
        ALICE, "The file server share is read-only for the finance team"
    )
    session_id = turn.session.id
    # One storage (engine, pool, connections) per writer: they share nothing but the database.
    writers = [SqlStorage.from_url(database_url, pool_size=1) for _ in range(WRITERS)]
    conflicts: Counter[str] = Counter()
    try:
        texts = [f"observation {n}: checked share permissions on host {n}" for n in range(WRITERS)]
        turns = await asyncio.gather(
            *(
                SessionService(
                    uow=CountingConflicts(storage, conflicts), llm=OfflineLLM()
                ).send_message(ALICE, session_id, text)
                for storage, text in zip(writers, texts, strict=True)
            )
        )
    finally:
        for storage in writers:
            await storage.dispose()

    async with first.unit_of_work() as uow:
        stored = await uow.sessions.get(session_id, account_id="acme")
    outbox = await first.database.read(
        lambda conn: (
            conn.execute(
                sa.select(session_outbox.c.version).where(session_outbox.c.session_id == session_id)
            )
            .scalars()
            .all()
        )
    )
    await first.dispose()

    assert conflicts["stale"] > 0, "the writers never collided: the test proves nothing"
    users = Counter(m.content for m in stored.conversation_messages if m.role is MessageRole.USER)
    assert all(users[text] == 1 for text in texts), "a turn was lost or stored twice"
    replies = [m for m in stored.conversation_messages if m.role is MessageRole.ASSISTANT]
    assert len(replies) == WRITERS + 1
    assert {t.reply for t in turns} <= set(replies)
    assert len(stored.conversation_messages) == 2 + 2 * WRITERS
    assert stored.step_count == len(stored.conversation_messages)
    assert sorted(outbox) == list(range(1, stored.version + 1)), "versions skipped or repeated"
