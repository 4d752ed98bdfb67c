"""The session repository and unit of work on SQLAlchemy Core (SQLite or PostgreSQL).

Reads run in short read transactions; `commit` runs one write transaction that, for every
tracked session whose version moved, does a compare-and-set on the version it was loaded
with, so a concurrent writer is detected (`StaleSession`) and nothing is written. A chat
turn appends only the new messages to ``conversation_messages`` (``||`` on PostgreSQL,
``json_insert`` on SQLite): the history is never re-serialised on a turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from resolutionflow_core.chat import ConversationMessage
from resolutionflow_core.errors import InvalidInput, SessionNotFound, StaleSession
from resolutionflow_core.guided import GuidedStep
from resolutionflow_core.lifecycle import SessionStatus
from resolutionflow_core.listing import SessionPage, SessionQuery, page_of
from resolutionflow_core.session import Session, SessionType
from resolutionflow_sqlalchemy.engine import WRITE
from resolutionflow_sqlalchemy.mapping import (
    SUMMARY_COLUMNS,
    message_to_json,
    session_from_row,
    session_values,
    step_from_row,
    step_values,
    summary_from_row,
)
from resolutionflow_sqlalchemy.tables import ai_session_steps, ai_sessions, session_outbox

_SUMMARY = [ai_sessions.c[name] for name in SUMMARY_COLUMNS]
_SESSION_BY_ID = sa.select(ai_sessions).where(
    ai_sessions.c.id == sa.bindparam("id"), ai_sessions.c.account_id == sa.bindparam("account")
)
_STEPS_OF = (
    sa.select(ai_session_steps)
    .where(ai_session_steps.c.session_id == sa.bindparam("id"))
    .order_by(ai_session_steps.c.number)
)


@dataclass
class _Loaded:
    """What a session looked like when loaded: the base of its compare-and-set and diff."""

    version: int
    messages: tuple[ConversationMessage, ...]
    steps: tuple[GuidedStep, ...]


class SqlSessionRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.tracked: dict[UUID, tuple[Session, _Loaded | None]] = {}

    async def add(self, session: Session) -> None:
        self.tracked[session.id] = (session, None)

    async def get(self, session_id: UUID, *, account_id: str) -> Session:
        if session_id in self.tracked:
            session = self.tracked[session_id][0]
            if session.account_id != account_id:
                raise SessionNotFound(session_id)
            return session
        async with self._engine.connect() as conn, conn.begin():
            row = (
                await conn.execute(_SESSION_BY_ID, {"id": session_id, "account": account_id})
            ).first()
            if row is None:
                raise SessionNotFound(session_id)
            steps: list[GuidedStep] = []
            if row.session_type == SessionType.GUIDED:
                result = await conn.execute(_STEPS_OF, {"id": session_id})
                steps = [step_from_row(step) for step in result]
        session = session_from_row(row, steps)
        loaded = _Loaded(session.version, tuple(session.conversation_messages), tuple(steps))
        self.tracked[session_id] = (session, loaded)
        return session

    async def list(self, query: SessionQuery) -> SessionPage:
        statement = (
            sa.select(*_SUMMARY)
            .where(*_filters(query))
            .order_by(ai_sessions.c.last_activity_at.desc(), ai_sessions.c.id.desc())
            .limit(query.limit + 1)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(statement)).all()
        return page_of([summary_from_row(row) for row in rows], query.limit)


def _filters(query: SessionQuery) -> list[sa.ColumnElement[bool]]:
    c = ai_sessions.c
    where: list[sa.ColumnElement[bool]] = [c.account_id == query.account_id]
    if query.session_types is not None:
        where.append(c.session_type.in_(sorted(t.value for t in query.session_types)))
    if query.statuses is not None:
        where.append(c.status.in_(sorted(s.value for s in query.statuses)))
    if query.owner_id is not None:
        where.append(c.user_id == query.owner_id)
    if query.visible_to_user is not None:
        where.append(
            sa.or_(c.user_id == query.visible_to_user, c.status == SessionStatus.ESCALATED.value)
        )
    if query.created_from is not None:
        where.append(c.created_at >= query.created_from)
    if query.created_to is not None:
        where.append(c.created_at <= query.created_to)
    if query.cursor is not None:
        where.append(
            sa.tuple_(c.last_activity_at, c.id)
            < sa.tuple_(
                sa.literal(query.cursor.last_activity_at, c.last_activity_at.type),
                sa.literal(query.cursor.session_id, c.id.type),
            )
        )
    return where


class SqlUnitOfWork:
    """One unit of work: reads as it goes, all writes in one transaction at `commit`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = SqlSessionRepository(engine)

    @property
    def sessions(self) -> SqlSessionRepository:
        return self._sessions

    async def __aenter__(self) -> Self:
        self._sessions = SqlSessionRepository(self._engine)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.rollback()

    async def rollback(self) -> None:
        self._sessions.tracked.clear()

    async def commit(self) -> None:
        changed = [
            (session, loaded)
            for session, loaded in self._sessions.tracked.values()
            if loaded is None or session.version != loaded.version
        ]
        if not changed:
            return
        async with self._engine.connect() as conn:
            conn = await conn.execution_options(**{WRITE: True})
            async with conn.begin():
                for session, loaded in changed:
                    if loaded is None:
                        await _insert(conn, session)
                    else:
                        await _update(conn, session, loaded)
                events = [
                    {
                        "session_id": event.session_id,
                        "account_id": event.account_id,
                        "version": event.version,
                        "event_name": event.name,
                        "payload": event.payload(),
                        "occurred_at": event.occurred_at,
                    }
                    for session, _ in changed
                    for event in session.events
                ]
                if events:
                    await conn.execute(sa.insert(session_outbox), events)
        for session, _ in changed:
            session.pull_events()
            self._sessions.tracked[session.id] = (
                session,
                _Loaded(
                    session.version, tuple(session.conversation_messages), tuple(session.steps)
                ),
            )


async def _insert(conn: AsyncConnection, session: Session) -> None:
    values = session_values(session)
    values["conversation_messages"] = [message_to_json(m) for m in session.conversation_messages]
    try:
        await conn.execute(sa.insert(ai_sessions), values)
    except IntegrityError as error:
        raise InvalidInput("id", f"a session {session.id} exists already") from error
    if session.steps:
        await conn.execute(
            sa.insert(ai_session_steps), [step_values(session, s) for s in session.steps]
        )


async def _update(conn: AsyncConnection, session: Session, loaded: _Loaded) -> None:
    values: dict[str, Any] = session_values(session)
    del values["id"]
    values["conversation_messages"] = _messages_update(conn, session, loaded)
    statement = (
        sa.update(ai_sessions)
        .where(ai_sessions.c.id == session.id, ai_sessions.c.version == loaded.version)
        .values(values)
    )
    if (await conn.execute(statement)).rowcount != 1:
        raise StaleSession(session.id, loaded.version)
    known = len(loaded.steps)
    for old, new in zip(loaded.steps, session.steps, strict=False):
        if old != new:
            await conn.execute(
                sa.update(ai_session_steps)
                .where(
                    ai_session_steps.c.session_id == session.id,
                    ai_session_steps.c.number == new.number,
                )
                .values(step_values(session, new))
            )
    if len(session.steps) > known:
        await conn.execute(
            sa.insert(ai_session_steps),
            [step_values(session, step) for step in session.steps[known:]],
        )


def _messages_update(conn: AsyncConnection, session: Session, loaded: _Loaded) -> Any:
    """An expression appending the messages added since load (or the whole list if the
    history was rewritten, which the domain never does)."""
    column = ai_sessions.c.conversation_messages
    messages = session.conversation_messages
    known = len(loaded.messages)
    rewritten = any(a is not b for a, b in zip(loaded.messages, messages, strict=False))
    if len(messages) < known or rewritten:
        return [message_to_json(m) for m in messages]
    added = [message_to_json(m) for m in messages[known:]]
    if not added:
        return column
    if conn.dialect.name == "postgresql":
        return column.op("||")(sa.bindparam("added_messages", added, type_=JSONB))
    # SQLite applies json_insert's path/value pairs left to right: each lands at the end.
    arguments: list[Any] = []
    for index, message in enumerate(added):
        arguments += [
            sa.literal_column("'$[#]'"),
            sa.func.json(sa.bindparam(f"added_{index}", message, type_=sa.JSON)),
        ]
    return sa.func.json_insert(column, *arguments, type_=column.type)


class SqlStorage:
    """Sessions on an async SQLAlchemy engine; hand `unit_of_work` to the services."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    def unit_of_work(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine)

    async def dispose(self) -> None:
        await self.engine.dispose()
