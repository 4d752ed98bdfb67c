"""The decoded histories a process keeps (`HistoryCache`) are used only when the database
confirms, in the statement that reads the row, that the session is still at their version:
writes through another engine (another process), turns racing on one session from this
process and others, and changes never committed all read back exactly as a storage without
the cache reads them."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

from resolutionflow_core.access import Actor, Role
from resolutionflow_core.chat import MessageRole
from resolutionflow_core.errors import StaleSession
from resolutionflow_core.services import SessionService
from resolutionflow_core.session import Session
from resolutionflow_memory import OfflineLLM
from resolutionflow_sqlalchemy import SqlStorage
from resolutionflow_sqlalchemy.storage import HistoryCache

ALICE = Actor("acme", "alice", Role.ENGINEER)


def service(storage: SqlStorage) -> SessionService:
    return SessionService(uow=storage.unit_of_work, llm=OfflineLLM())


async def read(storage: SqlStorage, session_id: UUID) -> Session:
    async with storage.unit_of_work() as uow:
        return await uow.sessions.get(session_id, account_id="acme")


async def uncached(url: str, session_id: UUID) -> list[tuple[MessageRole, str]]:
    """The history as a storage that keeps no histories reads it."""
    storage = SqlStorage.from_url(url, histories=HistoryCache(0))
    try:
        return contents(await read(storage, session_id))
    finally:
        await storage.dispose()


def contents(session: Session) -> list[tuple[MessageRole, str]]:
    return [(m.role, m.content) for m in session.conversation_messages]


async def test_a_read_of_an_unchanged_session_uses_the_copy_and_reads_the_same(
    database_url: str,
) -> None:
    storage = SqlStorage.from_url(database_url)
    try:
        turn = await service(storage).start_chat(ALICE, "VPN drops every ten minutes")
        await service(storage).send_message(ALICE, turn.session.id, "Only on wifi")
        hits = storage.histories.hits
        first = await read(storage, turn.session.id)
        second = await read(storage, turn.session.id)
        assert storage.histories.hits == hits + 2  # neither read decoded the history again
        assert first.conversation_messages is not second.conversation_messages
        assert contents(first) == await uncached(database_url, turn.session.id)
        assert len(first.conversation_messages) == 4
    finally:
        await storage.dispose()


async def test_a_turn_written_through_another_engine_is_read_and_kept(
    database_url: str,
) -> None:
    """Another process (here: another engine, with its own cache) writes the session this
    one holds: the next read gets the new history, and a turn here appends after it."""
    here, there = SqlStorage.from_url(database_url), SqlStorage.from_url(database_url)
    try:
        turn = await service(here).start_chat(ALICE, "Printer on floor 3 is offline")
        session_id = turn.session.id
        assert here.histories.entry(session_id) is not None
        await service(there).send_message(ALICE, session_id, "It has a static IP")
        seen = await read(here, session_id)
        assert "It has a static IP" in [text for _, text in contents(seen)], "a stale copy"
        await service(here).send_message(ALICE, session_id, "The switch port is down")
        await service(there).send_message(ALICE, session_id, "Port re-enabled, it prints")
        expected = await uncached(database_url, session_id)
        users = [text for role, text in expected if role is MessageRole.USER]
        assert users == [
            "Printer on floor 3 is offline",
            "It has a static IP",
            "The switch port is down",
            "Port re-enabled, it prints",
        ]
        assert len(expected) == 8
        assert contents(await read(here, session_id)) == expected
        assert contents(await read(there, session_id)) == expected
    finally:
        await here.dispose()
        await there.dispose()


async def test_a_copy_left_stale_by_a_concurrent_turn_is_not_written_over(
    database_url: str,
) -> None:
    """This process holds version v; another writes v+2 meanwhile; this process's next
    turn loads (the database refuses the copy), appends, and loses nothing."""
    here, there = SqlStorage.from_url(database_url), SqlStorage.from_url(database_url)
    try:
        turn = await service(here).start_chat(ALICE, "Teams calls have no audio")
        session_id = turn.session.id
        held = here.histories.entry(session_id)
        assert held is not None
        await service(there).send_message(ALICE, session_id, "Headset works elsewhere")
        assert here.histories.entry(session_id) is held  # still the old copy, stale now
        hits = here.histories.hits
        await service(here).send_message(ALICE, session_id, "Driver updated, no change")
        assert here.histories.hits == hits  # the database sent the history: no hit
        stored = await uncached(database_url, session_id)
        assert [text for role, text in stored if role is MessageRole.USER] == [
            "Teams calls have no audio",
            "Headset works elsewhere",
            "Driver updated, no change",
        ]
        assert len(stored) == 6
    finally:
        await here.dispose()
        await there.dispose()


async def test_a_change_never_committed_does_not_reach_the_copy(database_url: str) -> None:
    storage = SqlStorage.from_url(database_url)
    try:
        turn = await service(storage).start_chat(ALICE, "Mailbox is full")
        session_id = turn.session.id
        before = contents(await read(storage, session_id))
        now = datetime.now(UTC)
        async with storage.unit_of_work() as uow:  # changed, then rolled back
            session = await uow.sessions.get(session_id, account_id="acme")
            session.add_message(MessageRole.USER, "never committed", now=now, by="alice")
        assert contents(await read(storage, session_id)) == before  # the copy, unchanged
        async with storage.unit_of_work() as uow:  # changed, then refused as stale
            session = await uow.sessions.get(session_id, account_id="acme")
            session.add_message(MessageRole.USER, "refused as stale", now=now, by="alice")
            other = SqlStorage.from_url(database_url)
            try:
                await service(other).send_message(ALICE, session_id, "Archive policy applied")
            finally:
                await other.dispose()
            try:
                await uow.commit()
            except StaleSession:
                pass
            else:
                raise AssertionError("the compare-and-set let a stale write through")
        after = contents(await read(storage, session_id))
        assert after == [*before, *after[len(before) :]]
        assert next(text for _, text in after[len(before) :]) == "Archive policy applied"
        assert all(text not in ("never committed", "refused as stale") for _, text in after)
        assert after == await uncached(database_url, session_id)
    finally:
        await storage.dispose()


async def test_racing_turns_through_this_process_and_others_all_land_exactly_once(
    database_url: str,
) -> None:
    """24 turns on one session at once: 12 through one storage (one process's cache, shared
    by its requests), 12 through storages of their own (other processes)."""
    shared = SqlStorage.from_url(database_url)
    turn = await service(shared).start_chat(ALICE, "The file share is read-only for finance")
    session_id = turn.session.id
    others = [SqlStorage.from_url(database_url, pool_size=1) for _ in range(12)]
    texts = [f"observation {n}: checked host {n}" for n in range(24)]
    try:
        await asyncio.gather(
            *(service(shared).send_message(ALICE, session_id, text) for text in texts[:12]),
            *(
                service(storage).send_message(ALICE, session_id, text)
                for storage, text in zip(others, texts[12:], strict=True)
            ),
        )
        expected = await uncached(database_url, session_id)
        users = Counter(text for role, text in expected if role is MessageRole.USER)
        assert all(users[text] == 1 for text in texts), "a turn was lost or stored twice"
        assert len(expected) == 2 + 2 * 24
        assert contents(await read(shared, session_id)) == expected
        for storage in others:
            assert contents(await read(storage, session_id)) == expected
    finally:
        await shared.dispose()
        for storage in others:
            await storage.dispose()


def chat(messages: int, text: str = "m") -> Session:
    """A chat of ``messages`` messages (the first "hello"), the others ``text`` and a number."""
    now = datetime.now(UTC)
    session = Session.start_chat(
        session_id=uuid4(),
        account_id="acme",
        user_id="alice",
        first_message="hello",
        now=now,
        system_prompt="",
    )
    for n in range(messages - 1):
        session.add_message(MessageRole.USER, f"{text}{n}", now=now, by="alice")
    return session


async def test_the_characters_held_are_counted_as_read_and_as_each_turn_adds_them(
    database_url: str,
) -> None:
    """A commit counts only the messages it appended onto the copy's count, and a read
    counts the stored messages without decoding them: both equal the text held."""

    def text(messages: list[tuple[MessageRole, str]]) -> int:
        return sum(len(content) for _, content in messages)

    storage = SqlStorage.from_url(database_url)
    try:
        turn = await service(storage).start_chat(ALICE, "Printer offline on floor 2")
        session_id = turn.session.id
        for message in ("Only the HP one", "It has an IP but no queue", "Rebooted: same"):
            await service(storage).send_message(ALICE, session_id, message)
            assert storage.histories.chars == text(await uncached(database_url, session_id))
        storage.histories.clear()
        session = await read(storage, session_id)  # not held: read and counted as stored
        assert storage.histories.chars == text(contents(session)) > 0
        assert len(storage.histories) == 1
    finally:
        await storage.dispose()


def test_the_cache_is_bounded_by_sessions_and_messages() -> None:
    cache = HistoryCache(sessions=3, messages=10)
    sessions = [chat(2) for _ in range(5)]
    for session in sessions:
        cache.written(session, None)
    assert len(cache) == 3
    assert cache.messages == 6
    assert [cache.entry(s.id) is None for s in sessions] == [True, True, False, False, False]
    cache.written(chat(11), None)  # longer than the whole cache: not kept
    assert len(cache) == 3
    assert cache.messages == 6
    cache.written(chat(9), None)  # room is made: the least recently used go
    assert cache.messages <= 10
    assert len(cache) == 1
    disabled = HistoryCache(0)
    disabled.written(sessions[0], None)
    assert len(disabled) == 0


def test_the_cache_is_bounded_by_the_characters_of_text_it_holds() -> None:
    """A message may be 32,000 characters: the message count alone does not bound memory."""
    cache = HistoryCache(sessions=10, messages=1_000, chars=25_000)
    long_chats = [chat(3, "x" * 5_000) for _ in range(3)]  # ~10,000 characters each
    for session in long_chats:
        cache.written(session, None)
    assert len(cache) == 2  # the third pushed the oldest out
    assert cache.chars == 2 * sum(len(m.content) for m in long_chats[0].conversation_messages)
    assert cache.chars <= 25_000
    assert cache.entry(long_chats[0].id) is None
    cache.written(chat(7, "y" * 5_000), None)  # ~30,000 characters: more than the whole cache
    assert cache.entry(long_chats[2].id) is not None  # nothing was dropped for it
    assert len(cache) == 2
    cache.clear()
    assert (len(cache), cache.messages, cache.chars) == (0, 0, 0)


async def test_a_history_another_writer_set_to_json_null_is_read_as_stored(
    migrated_database: Path, tmp_path: Path
) -> None:
    """``history_from_json`` reads a JSON ``null`` history (another writer's) as no
    messages. The database says whether the copy is current with a flag of its own, not with
    the history column's NULL, which that ``null`` also reads back as. (SQLite: on
    PostgreSQL the search index's trigger refuses such a history.)"""
    path = tmp_path / "sessions.sqlite3"
    shutil.copyfile(migrated_database, path)
    url = f"sqlite:///{path}"
    storage = SqlStorage.from_url(url)
    try:
        turn = await service(storage).start_chat(ALICE, "VPN drops every ten minutes")
        session_id = turn.session.id
        assert storage.histories.entry(session_id) is not None
        writer = sqlite3.connect(path)
        with writer:
            writer.execute(
                "UPDATE ai_sessions SET conversation_messages = 'null', version = version + 1, "
                "updated_at = '2030-01-01 00:00:00.000000' WHERE id = ?",
                (session_id.hex,),
            )
        writer.close()
        hits = storage.histories.hits
        session = await read(storage, session_id)
        assert storage.histories.hits == hits
        assert contents(session) == [] == await uncached(url, session_id)
        assert session.version == turn.session.version + 1
    finally:
        await storage.dispose()
