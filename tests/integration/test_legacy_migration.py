"""The legacy migration moves ``assistant_chats`` into ``ai_sessions`` on SQLite and PostgreSQL.

A few hundred legacy chats of every shape we know of are written, each with the session it
must become (or why it cannot become one), then migrated, crashed, re-run and raced.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from resolutionflow_core.chat import MAX_MESSAGE_CHARS, MessageRole, make_title
from resolutionflow_core.lifecycle import SessionStatus
from resolutionflow_core.session import IntakeType, Session, SessionType
from resolutionflow_sqlalchemy import SqlStorage, create_engine
from resolutionflow_sqlalchemy.legacy import (
    LegacyChat,
    MigrationInterrupted,
    MigrationProgress,
    MigrationReport,
    convert_chat,
    migrate_assistant_chats,
)
from resolutionflow_sqlalchemy.tables import (
    ai_sessions,
    assistant_chats,
    metadata,
    session_outbox,
)
from tests.databases import PostgresServer, drop_postgres, start_postgres

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
CHATS = 300
BATCH = 40


# -- databases ------------------------------------------------------------------------------


@dataclass
class Database:
    """An empty database with the schema: its storage, and how to open an engine on it."""

    storage: SqlStorage
    url: str
    options: dict[str, Any]

    async def read(self, statement: sa.Executable) -> list[tuple[Any, ...]]:
        rows = await self.storage.database.read(lambda conn: conn.execute(statement).all())
        return [tuple(row) for row in rows]

    async def count(self, table: sa.Table) -> int:
        return (await self.read(sa.select(sa.func.count()).select_from(table)))[0][0]


OpenDatabase = Callable[[], Awaitable[Database]]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def open_database(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[OpenDatabase]:
    """Opens fresh databases: a new file on SQLite, a new database on PostgreSQL.

    (Not a schema of a shared database through ``schema_translate_map``: the search index's
    SQL and its plpgsql triggers name tables through ``search_path``, so they would reach
    whatever tables ``public`` holds, and fail when it holds none.)"""
    opened: list[Database] = []
    servers: list[PostgresServer] = []

    async def open_one() -> Database:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / f'legacy{len(opened)}.db'}"
        else:
            servers.append(start_postgres())
            url = servers[-1].database_url
        storage = SqlStorage.from_url(url)
        database = Database(storage, url, {})
        opened.append(database)
        await storage.database.write(metadata.create_all)
        return database

    try:
        yield open_one
    finally:
        for database in opened:
            await database.storage.dispose()
        for server in servers:
            drop_postgres(server)


@pytest.fixture
async def database(open_database: OpenDatabase) -> Database:
    return await open_database()


# -- legacy chats and what they must become -------------------------------------------------


@dataclass
class LegacyCase:
    """A legacy chat row and the session it must become (``migrates=False``: none)."""

    id: uuid.UUID
    account_id: str
    user_id: str
    created_at: datetime
    updated_at: datetime
    title: str | None = None
    stored_as_text: bool = False
    raw: list[Any] = field(default_factory=list)
    kept: list[tuple[MessageRole, str, datetime]] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)
    """Index in the legacy list → a fragment of the reason it is refused with."""
    migrates: bool = True

    def keep(self, role: str, content: str, at: datetime | None = None, **extra: Any) -> None:
        self.raw.append({"role": role, "content": content, **extra})
        self.kept.append((MessageRole(role.lower()), content.strip(), at or self.created_at))

    def refuse(self, message: Any, reason: str) -> None:
        self.refused[len(self.raw)] = reason
        self.raw.append(message)

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account_id": self.account_id,
            "user_id": self.user_id,
            "title": self.title,
            "messages": json.dumps(self.raw) if self.stored_as_text else self.raw,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    @property
    def expected_title(self) -> str:
        return self.title.strip() if self.title and self.title.strip() else make_title(self.first)

    @property
    def first(self) -> str:
        return self.kept[0][1]


def _plain(case: LegacyCase, rng: random.Random) -> None:
    """``{role, content}`` only, no title: the title comes from the first message."""
    for turn in range(rng.randint(1, 6)):
        case.keep("user" if turn % 2 == 0 else "assistant", f"turn {turn} of chat {case.id}")


def _iso_timestamps(case: LegacyCase, rng: random.Random) -> None:
    """ISO ``timestamp`` with ``Z`` and a title of its own."""
    case.title = "Printer on floor 3 jams"
    for turn in range(rng.randint(2, 8)):
        at = case.created_at + timedelta(minutes=turn, microseconds=turn)
        stamp = at.isoformat().replace("+00:00", "Z")
        case.keep("assistant" if turn % 2 else "user", f"paper jam {turn}", at, timestamp=stamp)


def _epoch_as_text(case: LegacyCase, rng: random.Random) -> None:
    """``created_at`` in epoch milliseconds, and the whole list stored as JSON text."""
    case.stored_as_text = True
    for turn in range(rng.randint(2, 5)):
        at = case.created_at + timedelta(seconds=30 * turn)
        millis = int(at.timestamp() * 1000)
        case.keep("user" if turn % 2 == 0 else "assistant", f"vpn {turn}", at, created_at=millis)


def _greeting_first(case: LegacyCase, rng: random.Random) -> None:
    """The assistant greeted before the engineer wrote: a chat session starts with them."""
    case.refuse({"role": "assistant", "content": "Hi! How can I help?"}, "before the first user")
    case.keep("user", "Outlook keeps asking for the password")
    case.keep("assistant", "Check the credential manager.")


def _system_and_empty(case: LegacyCase, rng: random.Random) -> None:
    """A system prompt (not a chat role) and an empty reply, both refused."""
    case.refuse({"role": "system", "content": "You are a helpful MSP assistant."}, "'system'")
    case.keep("user", "DNS does not resolve on the branch office")
    case.refuse({"role": "assistant", "content": "   "}, "must not be empty")
    case.keep("user", "Still broken")
    case.keep("assistant", "Flush the resolver cache.")


def _oversized_and_offsets(case: LegacyCase, rng: random.Random) -> None:
    """A user message over the domain's limit; padded content; a +02:00 timestamp."""
    local = case.created_at.astimezone(timezone(timedelta(hours=2))) + timedelta(minutes=5)
    case.keep("user", "  Disk full on SRV01 \n", local.astimezone(UTC), timestamp=local.isoformat())
    case.refuse({"role": "user", "content": "x" * (MAX_MESSAGE_CHARS + 1)}, "limit")
    case.keep("assistant", "Run the cleanup wizard.")


def _odd_shapes(case: LegacyCase, rng: random.Random) -> None:
    """Unknown roles, content blocks instead of text, and something that is no message."""
    case.keep("User", "Teams crashes on start")
    case.refuse({"role": "tool", "content": "lookup result"}, "'tool'")
    case.refuse({"role": "assistant", "content": [{"type": "text", "text": "hi"}]}, "not text")
    case.refuse("oops", "not a message object")
    case.refuse({"content": "no role at all"}, "None")
    case.keep("assistant", "Clear the Teams cache.")


def _empty(case: LegacyCase, rng: random.Random) -> None:
    """Opened and never used: nothing to start a session from."""
    case.migrates = False


def _assistant_only(case: LegacyCase, rng: random.Random) -> None:
    """Only the assistant spoke: no user message to start from."""
    case.migrates = False
    case.refuse({"role": "assistant", "content": "Hello?"}, "before the first user")
    case.refuse({"role": "assistant", "content": "Anyone there?"}, "before the first user")


def _long_history(case: LegacyCase, rng: random.Random) -> None:
    """A long first message, a blank title, naive and unreadable timestamps, many turns."""
    case.title = "   "
    first = "The new laptops cannot join the domain " + "because of a trust error " * 10
    case.keep("user", first, timestamp="not a time")
    for turn in range(1, rng.randint(10, 25)):
        at = case.created_at + timedelta(hours=turn)
        naive = at.replace(tzinfo=None).isoformat()
        case.keep("assistant" if turn % 2 else "user", f"step {turn}", at, timestamp=naive)


SHAPES = [
    _plain,
    _iso_timestamps,
    _epoch_as_text,
    _greeting_first,
    _system_and_empty,
    _oversized_and_offsets,
    _odd_shapes,
    _empty,
    _assistant_only,
    _long_history,
]


def legacy_cases(count: int = CHATS, seed: int = 2025) -> list[LegacyCase]:
    """``count`` chats cycling through the shapes; random ids, so id order is not insertion
    order; a few accounts and owners."""
    rng = random.Random(seed)
    cases = []
    for n in range(count):
        created = T0 + timedelta(hours=n)
        case = LegacyCase(
            id=uuid.UUID(int=rng.getrandbits(128)),
            account_id=f"account-{n % 3}",
            user_id=f"user-{n % 7}",
            created_at=created,
            updated_at=created + timedelta(days=1, seconds=n),
        )
        SHAPES[n % len(SHAPES)](case, rng)
        cases.append(case)
    return cases


async def write_legacy(database: Database, cases: list[LegacyCase]) -> None:
    rows = [case.row() for case in cases]
    await database.storage.database.write(
        lambda conn: conn.execute(sa.insert(assistant_chats), rows)
    )


# -- reading back -----------------------------------------------------------------------------


async def dump(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables the migration writes, and of the one it must not touch."""
    return {
        "ai_sessions": await database.read(sa.select(ai_sessions).order_by(ai_sessions.c.id)),
        "session_outbox": await database.read(
            sa.select(session_outbox).order_by(session_outbox.c.id)
        ),
        "assistant_chats": await database.read(
            sa.select(assistant_chats).order_by(assistant_chats.c.id)
        ),
    }


def without_outbox_ids(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Outbox rows without their serial id (it depends on the order batches ran in)."""
    return sorted((row[1:] for row in rows), key=lambda row: (str(row[0]), row[2]))


async def load(database: Database, case: LegacyCase) -> Session:
    async with database.storage.unit_of_work() as uow:
        return await uow.sessions.get(case.id, account_id=case.account_id)


async def assert_migrated(database: Database, cases: list[LegacyCase]) -> None:
    """Every migratable chat is its session, message for message; the others are absent."""
    migrating = [case for case in cases if case.migrates]
    assert await database.count(ai_sessions) == len(migrating)
    for case in migrating:
        session = await load(database, case)
        messages = [(m.role, m.content, m.created_at) for m in session.conversation_messages]
        assert messages == case.kept, case.id
        assert session.session_type is SessionType.CHAT
        assert session.status is SessionStatus.ACTIVE
        assert (session.account_id, session.user_id) == (case.account_id, case.user_id)
        assert session.intake_type is IntakeType.FREE_TEXT
        assert session.intake_content == {"text": case.first}
        assert session.title == case.expected_title
        assert session.step_count == len(case.kept)
        assert session.version == 1 + len(case.kept)  # started + one event per message
        assert session.created_at == case.created_at
        assert session.updated_at == session.last_activity_at == case.updated_at
    box = session_outbox.c
    outbox = await database.read(sa.select(box.session_id, box.version, box.event_name))
    expected_events = sorted(
        (case.id, version, "session.started" if version == 1 else "session.message_added")
        for case in migrating
        for version in range(1, len(case.kept) + 2)
    )
    assert sorted(outbox) == expected_events


def refused_of(cases: list[LegacyCase], *, migrated: bool | None = None) -> set[tuple[Any, ...]]:
    return {
        (case.id, index)
        for case in cases
        if migrated is None or case.migrates == migrated
        for index in case.refused
    }


# -- the migration ------------------------------------------------------------------------------


async def test_every_message_of_every_chat_arrives_in_order(database: Database) -> None:
    cases = legacy_cases()
    await write_legacy(database, cases)

    report = await migrate_assistant_chats(database.storage.database, batch_size=BATCH)

    await assert_migrated(database, cases)
    assert report.total == CHATS
    assert report.migrated == sum(case.migrates for case in cases)
    assert report.already_migrated == 0
    assert {c.chat_id for c in report.not_migrated} == {c.id for c in cases if not c.migrates}
    assert all("no user message" in c.reason for c in report.not_migrated)


async def test_refused_messages_are_reported_with_their_reason(database: Database) -> None:
    cases = legacy_cases()
    await write_legacy(database, cases)

    report = await migrate_assistant_chats(database.storage.database, batch_size=BATCH)

    reasons = {(r.chat_id, r.index): r.reason for r in report.refused_messages}
    assert set(reasons) == refused_of(cases)
    for case in cases:
        for index, fragment in case.refused.items():
            assert fragment in reasons[case.id, index], (case.id, index, reasons[case.id, index])


async def test_running_twice_changes_nothing(database: Database) -> None:
    cases = legacy_cases()
    await write_legacy(database, cases)
    await migrate_assistant_chats(database.storage.database, batch_size=BATCH)
    before = await dump(database)

    again = await migrate_assistant_chats(database.storage.database, batch_size=BATCH)

    assert await dump(database) == before
    migrating = sum(case.migrates for case in cases)
    assert (again.migrated, again.already_migrated) == (0, migrating)
    assert len(again.not_migrated) == CHATS - migrating  # still reported: still not migrated
    assert {(r.chat_id, r.index) for r in again.refused_messages} == refused_of(
        cases, migrated=False
    )


async def test_the_originals_are_left_untouched(database: Database) -> None:
    cases = legacy_cases()
    await write_legacy(database, cases)
    before = (await dump(database))["assistant_chats"]

    await migrate_assistant_chats(database.storage.database, batch_size=BATCH)

    assert (await dump(database))["assistant_chats"] == before
    assert len(before) == CHATS


async def test_a_rerun_after_a_crash_completes_with_each_chat_once(
    open_database: OpenDatabase,
) -> None:
    cases = legacy_cases()
    crashed, clean = await open_database(), await open_database()
    await write_legacy(crashed, cases)
    await write_legacy(clean, cases)
    calls: list[MigrationProgress] = []

    def crash_after_two_batches(progress: MigrationProgress) -> None:
        calls.append(progress)
        if len(calls) == 3:  # the report before the first batch, then two batches
            raise RuntimeError("power cut")

    with pytest.raises(MigrationInterrupted) as interrupted:
        await migrate_assistant_chats(
            crashed.storage.database, batch_size=BATCH, progress=crash_after_two_batches
        )
    first = interrupted.value.report
    assert isinstance(interrupted.value.__cause__, RuntimeError)
    assert first.done == 2 * BATCH
    assert await crashed.count(ai_sessions) == first.migrated > 0

    second = await migrate_assistant_chats(crashed.storage.database, batch_size=BATCH)
    await migrate_assistant_chats(clean.storage.database, batch_size=BATCH)

    await assert_migrated(crashed, cases)
    assert second.already_migrated == first.migrated
    assert first.migrated + second.migrated == sum(case.migrates for case in cases)
    reported = first.refused_messages + second.refused_messages
    assert {(r.chat_id, r.index) for r in reported} == refused_of(cases)
    crashed_rows, clean_rows = await dump(crashed), await dump(clean)
    assert crashed_rows["ai_sessions"] == clean_rows["ai_sessions"]
    assert without_outbox_ids(crashed_rows["session_outbox"]) == without_outbox_ids(
        clean_rows["session_outbox"]
    )


async def test_progress_counts_rise_to_the_total(database: Database) -> None:
    cases = legacy_cases()
    await write_legacy(database, cases)
    seen: list[MigrationProgress] = []

    await migrate_assistant_chats(database.storage.database, batch_size=BATCH, progress=seen.append)

    assert len(seen) == 1 + -(-CHATS // BATCH)  # before the first batch, then after each
    assert seen[0] == MigrationProgress(0, CHATS, 0, 0, 0)
    for earlier, later in itertools.pairwise(seen):
        assert later.done > earlier.done
        assert later.migrated >= earlier.migrated
        assert later.not_migrated >= earlier.not_migrated
    assert all(p.total == CHATS for p in seen)
    assert all(p.done == p.migrated + p.already_migrated + p.not_migrated for p in seen)
    last = seen[-1]
    assert last.done == last.total == CHATS
    assert last.migrated == sum(case.migrates for case in cases)


async def test_progress_of_a_resumed_run_starts_from_what_is_done(database: Database) -> None:
    cases = legacy_cases()
    await write_legacy(database, cases[:100])
    first = await migrate_assistant_chats(database.storage.database, batch_size=BATCH)
    await write_legacy(database, cases[100:])
    seen: list[MigrationProgress] = []

    await migrate_assistant_chats(database.storage.database, batch_size=BATCH, progress=seen.append)

    assert seen[0].done == seen[0].already_migrated == first.migrated
    assert seen[-1].done == seen[-1].total == CHATS
    assert seen[-1].migrated + first.migrated == sum(case.migrates for case in cases)
    await assert_migrated(database, cases)


async def test_a_session_changed_after_its_migration_is_left_alone(database: Database) -> None:
    cases = [case for case in legacy_cases(20) if case.migrates]
    await write_legacy(database, cases)
    await migrate_assistant_chats(database.storage.database)
    case = cases[0]
    async with database.storage.unit_of_work() as uow:
        session = await uow.sessions.get(case.id, account_id=case.account_id)
        later = T0 + timedelta(days=900)
        session.add_message(MessageRole.USER, "one more thing", now=later, by=case.user_id)
        await uow.commit()
    before = await dump(database)

    await migrate_assistant_chats(database.storage.database)

    assert await dump(database) == before
    assert (await load(database, case)).step_count == len(case.kept) + 1


async def test_concurrent_runs_migrate_each_chat_once(open_database: OpenDatabase) -> None:
    cases = legacy_cases()
    database = await open_database()
    await write_legacy(database, cases)
    other = SqlStorage.from_url(database.url, **database.options)
    try:
        reports = await asyncio.gather(
            migrate_assistant_chats(database.storage.database, batch_size=BATCH),
            migrate_assistant_chats(other.database, batch_size=BATCH // 2),
        )
    finally:
        await other.dispose()

    await assert_migrated(database, cases)
    assert sum(r.migrated for r in reports) == sum(case.migrates for case in cases)


async def test_an_async_engine_will_do_too(database: Database) -> None:
    cases = legacy_cases(50)
    await write_legacy(database, cases)
    engine = create_engine(database.url, **database.options)
    try:
        report = await migrate_assistant_chats(engine, batch_size=7)
    finally:
        await engine.dispose()

    assert report.migrated == sum(case.migrates for case in cases)
    await assert_migrated(database, cases)


async def test_an_empty_legacy_store_is_a_complete_run(database: Database) -> None:
    seen: list[MigrationProgress] = []

    report = await migrate_assistant_chats(database.storage.database, progress=seen.append)

    assert report == MigrationReport()
    assert seen == [MigrationProgress(0, 0, 0, 0, 0)]


async def test_batch_size_must_be_positive(database: Database) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        await migrate_assistant_chats(database.storage.database, batch_size=0)


# -- one chat, without a database -------------------------------------------------------------


HALF_PAST_NINE = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


def chat(messages: Any, title: str | None = None) -> LegacyChat:
    return LegacyChat(uuid.UUID(int=1), "acme", "alice", title, messages, T0, T0 + timedelta(1))


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ({"timestamp": "2025-03-01T09:30:00Z"}, HALF_PAST_NINE),
        ({"created_at": "2025-03-01T11:30:00+02:00"}, HALF_PAST_NINE),
        ({"timestamp": "2025-03-01T09:30:00"}, HALF_PAST_NINE),
        ({"timestamp": 1740821400}, HALF_PAST_NINE),
        ({"timestamp": 1740821400000}, HALF_PAST_NINE),
        ({"timestamp": "garbage", "created_at": 1740821400}, HALF_PAST_NINE),
        ({"timestamp": "garbage"}, T0),
        ({"timestamp": True}, T0),
        ({}, T0),
    ],
)
def test_a_message_keeps_its_own_time_when_it_has_a_readable_one(
    stamp: dict[str, Any], expected: datetime
) -> None:
    conversion = convert_chat(chat([{"role": "user", "content": "hello", **stamp}]))

    assert conversion.session is not None
    assert conversion.session.conversation_messages[0].created_at == expected


@pytest.mark.parametrize(
    "stored",
    [
        [{"role": "user", "content": "hello"}],
        '[{"role": "user", "content": "hello"}]',
        b'[{"role": "user", "content": "hello"}]',
        json.dumps('[{"role": "user", "content": "hello"}]'),
    ],
)
def test_messages_may_be_decoded_or_json_text(stored: Any) -> None:
    conversion = convert_chat(chat(stored))

    assert conversion.session is not None
    assert [m.content for m in conversion.session.conversation_messages] == ["hello"]


@pytest.mark.parametrize(
    ("stored", "reason"),
    [("{not json", "unreadable"), ({"role": "user"}, "expected a JSON list"), (None, "no user")],
)
def test_a_chat_whose_messages_cannot_be_read_is_not_migrated(stored: Any, reason: str) -> None:
    conversion = convert_chat(chat(stored))

    assert conversion.session is None
    assert conversion.failure is not None
    assert reason in conversion.failure


def test_the_first_accepted_user_message_starts_the_session() -> None:
    conversion = convert_chat(
        chat(
            [
                {"role": "user", "content": ""},
                {"role": "assistant", "content": "Say again?"},
                {"role": "user", "content": "VPN drops every hour"},
            ]
        )
    )

    assert conversion.session is not None
    assert conversion.session.intake_content == {"text": "VPN drops every hour"}
    assert conversion.session.title == "VPN drops every hour"
    assert [r.index for r in conversion.refused] == [0, 1]


def test_a_legacy_title_longer_than_the_column_is_cut() -> None:
    conversion = convert_chat(chat([{"role": "user", "content": "hi"}], title="word " * 100))

    assert conversion.session is not None
    assert conversion.session.title is not None
    assert len(conversion.session.title) <= 255
    assert conversion.session.title.endswith("…")
