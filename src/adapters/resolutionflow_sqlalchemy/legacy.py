"""Moves the legacy ``assistant_chats`` into ``ai_sessions`` as chat sessions (plan, phase 6).

``await migrate_assistant_chats(storage.database)`` migrates every chat not migrated yet
and returns a `MigrationReport`. Why it is built the way it is:

- **Through the domain.** Each chat is rebuilt with `Session.start_chat` and `add_message`,
  so a migrated session obeys the same invariants as a new one (``step_count`` = messages,
  ``version`` = events, cleaned and bounded content) and its events go to the outbox, as any
  other change's would. Only what the aggregate cannot replay is then restored from the
  legacy row: its title and its timestamps (`_restore_history`).
- **Idempotent.** A session keeps its chat's id, so a chat is pending exactly when no
  session has its id (an anti-join); a run over a migrated database writes nothing. The
  INSERT also does nothing on a conflicting id (``ON CONFLICT DO NOTHING`` and
  ``RETURNING``), so two runs at once migrate each chat once and only the run that wrote a
  session writes its outbox events.
- **Resumable.** Chats go in id order, a batch at a time, each batch in its own write
  transaction: a crash loses at most the batch in flight, and the next run continues with
  the chats still pending.
- **Never silent.** A message the domain refuses (empty, unknown role such as ``system``,
  too long, or before the first user message: a chat session starts with the engineer's
  message) is left out and reported with its reason; a chat with no user message the
  domain accepts is not migrated and reported. The originals are only ever read, so nothing
  is lost: a refused message is still in ``assistant_chats``.
- **Fast.** One query, one multi-row INSERT into ``ai_sessions`` and one into the outbox per
  batch, whatever the batch size.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, cast
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from resolutionflow_core.chat import MessageRole, make_title
from resolutionflow_core.errors import DomainError
from resolutionflow_core.session import Session
from resolutionflow_sqlalchemy.engine import WRITE, AsyncDatabase, Database
from resolutionflow_sqlalchemy.mapping import message_to_json, outbox_values, session_values
from resolutionflow_sqlalchemy.rows import from_row
from resolutionflow_sqlalchemy.tables import ai_sessions, assistant_chats, session_outbox

DEFAULT_BATCH_SIZE = 500
"""Chats per transaction: large enough to amortise a round trip, small enough for a short lock."""

TIMESTAMP_KEYS = ("timestamp", "created_at")
"""Where legacy messages keep their time, in order of preference."""

_EPOCH_MILLISECONDS_FROM = 100_000_000_000
"""Numeric timestamps above this are milliseconds (JavaScript), below it seconds (Unix)."""

_TITLE_LIMIT: int = cast(sa.String, ai_sessions.c.title.type).length or 255
"""The longest title the ``ai_sessions.title`` column holds."""


# -- what a run reports -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MigrationProgress:
    """Where a run stands: sent once before the first batch and after every batch."""

    done: int
    """Chats looked at: ``migrated + already_migrated + not_migrated``."""
    total: int
    migrated: int
    already_migrated: int
    """Chats found migrated before (by an earlier or a concurrent run): left as they are."""
    not_migrated: int
    """Chats with no user message the domain accepts (see `MigrationReport.not_migrated`)."""


@dataclass(frozen=True, slots=True)
class RefusedMessage:
    """A legacy message that was not carried over; it stays in ``assistant_chats``."""

    chat_id: UUID
    index: int
    """Its position in the legacy ``messages`` list, from 0."""
    reason: str


@dataclass(frozen=True, slots=True)
class UnmigratedChat:
    """A legacy chat that could not become a session; every run reports it again."""

    chat_id: UUID
    reason: str


@dataclass(slots=True)
class MigrationReport:
    """What a run did. Refused messages of chats migrated by an earlier run are not repeated."""

    total: int = 0
    migrated: int = 0
    already_migrated: int = 0
    not_migrated: list[UnmigratedChat] = field(default_factory=list)
    refused_messages: list[RefusedMessage] = field(default_factory=list)

    @property
    def done(self) -> int:
        return self.migrated + self.already_migrated + len(self.not_migrated)

    def progress(self) -> MigrationProgress:
        return MigrationProgress(
            done=self.done,
            # Chats written while the run goes (an old client still writing) raise the total.
            total=max(self.total, self.done),
            migrated=self.migrated,
            already_migrated=self.already_migrated,
            not_migrated=len(self.not_migrated),
        )


class MigrationInterrupted(Exception):
    """A run stopped part-way (database error, a progress callback raised...).

    The batches in ``report`` are committed; run the migration again to continue. The cause
    is chained (``__cause__``).
    """

    def __init__(self, report: MigrationReport) -> None:
        super().__init__(
            f"legacy chat migration interrupted after {report.done} of {report.total} chats; "
            "run it again to continue"
        )
        self.report = report


# -- one chat -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LegacyChat:
    """A row of ``assistant_chats``; ``messages`` as stored (a list, or JSON text of one)."""

    id: UUID
    account_id: str
    user_id: str
    title: str | None
    messages: Any
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ChatConversion:
    """A chat as a session (``None`` when it cannot be one: see ``failure``)."""

    chat_id: UUID
    session: Session | None
    refused: list[RefusedMessage]
    failure: str | None = None


@dataclass(frozen=True, slots=True)
class _LegacyMessage:
    index: int
    role: MessageRole
    content: str
    created_at: datetime


def convert_chat(chat: LegacyChat) -> ChatConversion:
    """The chat session a legacy chat becomes, and the messages left out with their reason."""
    try:
        raw_messages = _message_list(chat.messages)
    except ValueError as error:
        return ChatConversion(chat.id, None, [], f"its messages are unreadable: {error}")
    refused: list[RefusedMessage] = []
    readable: list[_LegacyMessage] = []
    for index, raw in enumerate(raw_messages):
        message = _read_message(chat, index, raw)
        if isinstance(message, RefusedMessage):
            refused.append(message)
        else:
            readable.append(message)
    session = _replay(chat, readable, refused)
    refused.sort(key=lambda r: r.index)
    if session is None:
        return ChatConversion(chat.id, None, refused, "it has no user message to start from")
    _restore_history(session, chat)
    return ChatConversion(chat.id, session, refused)


def _message_list(stored: Any) -> list[Any]:
    """The messages as a list, whether the driver decoded them or they were JSON text."""
    value = stored
    # JSON text: a TEXT column, or a JSON column holding a string (encoded twice).
    for _ in range(2):
        if not isinstance(value, str | bytes):
            break
        value = json.loads(value)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"expected a JSON list, found {type(value).__name__}")
    return value


def _read_message(chat: LegacyChat, index: int, raw: Any) -> _LegacyMessage | RefusedMessage:
    """A legacy message with a known role and text content, or why it is refused."""
    if not isinstance(raw, Mapping):
        return RefusedMessage(chat.id, index, f"not a message object: {type(raw).__name__}")
    role_name = raw.get("role")
    try:
        role = MessageRole(str(role_name).strip().lower())
    except ValueError:
        known = ", ".join(r.value for r in MessageRole)
        reason = f"role {role_name!r} has no place in a chat session (only {known})"
        return RefusedMessage(chat.id, index, reason)
    content = raw.get("content")
    if not isinstance(content, str):
        return RefusedMessage(chat.id, index, f"content is not text: {type(content).__name__}")
    return _LegacyMessage(index, role, content, _message_time(raw, chat.created_at))


def _message_time(raw: Mapping[str, Any], default: datetime) -> datetime:
    """The message's own time if it has a readable one, else the chat's creation time."""
    for key in TIMESTAMP_KEYS:
        stamp = _parse_time(raw.get(key))
        if stamp is not None:
            return stamp
    return default


def _parse_time(value: Any) -> datetime | None:
    """An aware datetime from ISO 8601 text or epoch seconds/milliseconds; naive means UTC."""
    stamp: datetime | None = None
    if isinstance(value, datetime):
        stamp = value
    elif isinstance(value, str) and value.strip():
        try:
            stamp = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if abs(value) >= _EPOCH_MILLISECONDS_FROM else value
        try:
            stamp = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if stamp is None:
        return None
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def _replay(
    chat: LegacyChat, messages: list[_LegacyMessage], refused: list[RefusedMessage]
) -> Session | None:
    """Replays the messages on the aggregate; whatever it refuses goes to ``refused``."""
    session: Session | None = None
    for message in messages:
        try:
            if session is not None:
                by = chat.user_id if message.role is MessageRole.USER else None
                session.add_message(message.role, message.content, now=message.created_at, by=by)
            elif message.role is MessageRole.USER:
                session = Session.start_chat(
                    session_id=chat.id,
                    account_id=chat.account_id,
                    user_id=chat.user_id,
                    first_message=message.content,
                    now=message.created_at,
                )
            else:
                reason = "comes before the first user message: a chat session starts with one"
                refused.append(RefusedMessage(chat.id, message.index, reason))
        except DomainError as error:
            refused.append(RefusedMessage(chat.id, message.index, error.message))
    return session


def _restore_history(session: Session, chat: LegacyChat) -> None:
    """Gives the replayed session the legacy chat's title and timestamps.

    The aggregate stamps a session with the time of the messages it replays and titles it
    from the first one; a migrated chat keeps what its users saw: its own title if it had
    one, its creation time, and its last update as its last activity.
    """
    title = (chat.title or "").strip()
    if title:
        session.title = title if len(title) <= _TITLE_LIMIT else make_title(title, _TITLE_LIMIT)
    session.created_at = chat.created_at
    session.updated_at = chat.updated_at
    session.last_activity_at = chat.updated_at


# -- the run ------------------------------------------------------------------------------


async def migrate_assistant_chats(
    database: Database | AsyncEngine,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[MigrationProgress], None] | None = None,
) -> MigrationReport:
    """Migrates the legacy chats not migrated yet, ``batch_size`` per transaction.

    ``database`` is the adapter's (``SqlStorage.database``) or an async engine. ``progress``
    is called once before the first batch and after each committed batch. If anything fails
    (the callback included), `MigrationInterrupted` carries what the committed batches did;
    running again continues where it stopped.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    db = _as_database(database)
    report = MigrationReport()
    try:
        report.total, report.already_migrated = await db.read(_counts)
        _notify(progress, report)
        after: UUID | None = None
        while (batch := await db.write(partial(_migrate_batch, after, batch_size))) is not None:
            _record(report, batch)
            after = batch.last_id
            _notify(progress, report)
    except Exception as error:
        raise MigrationInterrupted(report) from error
    return report


def _as_database(database: Database | AsyncEngine) -> Database:
    if isinstance(database, AsyncEngine):
        # Every transaction of the run is a write one: on SQLite it then takes the write
        # lock at BEGIN, so the batch's read and its INSERT see the same database.
        return AsyncDatabase(database.execution_options(**{WRITE: True}))
    return database


def _notify(progress: Callable[[MigrationProgress], None] | None, report: MigrationReport) -> None:
    if progress is not None:
        progress(report.progress())


def _counts(conn: sa.Connection) -> tuple[int, int]:
    """All legacy chats, and those already migrated (a session has their id)."""
    chats = assistant_chats.c
    total = sa.select(sa.func.count()).select_from(assistant_chats)
    migrated = sa.select(sa.func.count()).select_from(
        assistant_chats.join(ai_sessions, ai_sessions.c.id == chats.id)
    )
    return conn.scalar(total) or 0, conn.scalar(migrated) or 0


@dataclass(frozen=True, slots=True)
class _Batch:
    last_id: UUID
    conversions: list[ChatConversion]
    written: set[UUID]
    """Ids of the sessions this batch inserted (not those a concurrent run got to first)."""


def _migrate_batch(after: UUID | None, size: int, conn: sa.Connection) -> _Batch | None:
    """One write transaction: the next pending chats after ``after``, as sessions and events."""
    rows = conn.execute(_pending_chats(after, size)).all()
    if not rows:
        return None
    conversions = [convert_chat(_legacy_chat(row)) for row in rows]
    sessions = [c.session for c in conversions if c.session is not None]
    written = _insert_sessions(conn, sessions)
    _insert_events(conn, [s for s in sessions if s.id in written])
    return _Batch(rows[-1].id, conversions, written)


def _pending_chats(after: UUID | None, limit: int) -> sa.Select[Any]:
    """The next ``limit`` chats in id order that no session has the id of (anti-join)."""
    chats = assistant_chats.c
    query = (
        sa.select(assistant_chats)
        .where(~sa.exists().where(ai_sessions.c.id == chats.id))
        .order_by(chats.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(chats.id > after)
    return query


def _legacy_chat(row: sa.Row[Any]) -> LegacyChat:
    return from_row(LegacyChat, row)


def _insert_sessions(conn: sa.Connection, sessions: list[Session]) -> set[UUID]:
    """Inserts the sessions, skipping ids taken meanwhile; the ids actually inserted."""
    if not sessions:
        return set()
    rows = [_session_row(session) for session in sessions]
    statement = _insert_or_ignore(conn, ai_sessions).returning(ai_sessions.c.id)
    return set(conn.execute(statement, rows).scalars())


def _session_row(session: Session) -> dict[str, Any]:
    values = session_values(session)
    values["conversation_messages"] = [message_to_json(m) for m in session.conversation_messages]
    return values


def _insert_events(conn: sa.Connection, sessions: list[Session]) -> None:
    """The sessions' domain events into the outbox, in the sessions' transaction."""
    rows = [outbox_values(event) for session in sessions for event in session.pull_events()]
    if rows:
        # A session deleted after its migration is migrated again; its old events stay.
        conn.execute(_insert_or_ignore(conn, session_outbox), rows)


def _insert_or_ignore(conn: sa.Connection, table: sa.Table) -> sa.Insert:
    """``INSERT … ON CONFLICT DO NOTHING`` in the connection's dialect."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    raise NotImplementedError(f"the legacy migration supports SQLite and PostgreSQL, not {dialect}")


def _record(report: MigrationReport, batch: _Batch) -> None:
    """Adds a committed batch to the report."""
    for conversion in batch.conversions:
        if conversion.session is None:
            reason = conversion.failure or "it cannot become a session"
            report.not_migrated.append(UnmigratedChat(conversion.chat_id, reason))
            report.refused_messages += conversion.refused
        elif conversion.chat_id in batch.written:
            report.migrated += 1
            report.refused_messages += conversion.refused
        else:
            # A concurrent run migrated it between our anti-join and our INSERT.
            report.already_migrated += 1
