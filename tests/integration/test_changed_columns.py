"""A write sets only the columns whose values changed since the session was loaded, and
every column that did change is stored (SQLite, the UPDATE statements as sqlite3 ran them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from resolutionflow_core.chat import MessageRole
from resolutionflow_core.session import ProblemDomain, Session
from resolutionflow_sqlalchemy import SqlStorage
from resolutionflow_sqlalchemy.engine import ThreadedDatabase
from resolutionflow_sqlalchemy.mapping import session_values
from resolutionflow_sqlalchemy.tables import metadata
from tests.sessions import chat_session

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
ACCOUNT = "acme"


@pytest.fixture
async def storage(tmp_path: Path) -> SqlStorage:
    url = f"sqlite:///{tmp_path / 'columns.db'}"
    metadata.create_all(sa.create_engine(url))
    return SqlStorage.from_url(url)


class Trace:
    """The statements sqlite3 runs on the storage's connections from now on, as it ran them."""

    def __init__(self, storage: SqlStorage) -> None:
        database = storage.database
        assert isinstance(database, ThreadedDatabase)
        self.statements: list[str] = []

        @event.listens_for(database.engine, "connect")
        def _trace(dbapi_connection: Any, _record: object) -> None:
            dbapi_connection.set_trace_callback(self.statements.append)

    def updates(self) -> list[str]:
        """The ``UPDATE ai_sessions`` statements so far."""
        return [s for s in self.statements if s.startswith("UPDATE ai_sessions")]


def set_columns(update: str) -> set[str]:
    """The column names of an UPDATE's SET clause."""
    assignments = update.split(" SET ", 1)[1].rsplit(" WHERE ", 1)[0]
    names = set()
    depth = 0
    start = 0
    quoted = False
    for i, char in enumerate(assignments + ","):
        if char == "'":
            quoted = not quoted
        elif quoted:
            continue
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            names.add(assignments[start:i].split("=", 1)[0].strip())
            start = i + 1
    return names


async def stored(storage: SqlStorage, session: Session) -> Session:
    async with storage.unit_of_work() as uow:
        return await uow.sessions.get(session.id, account_id=ACCOUNT)


async def test_a_chat_turn_sets_only_what_it_changed_and_every_change_is_stored(
    storage: SqlStorage,
) -> None:
    trace = Trace(storage)
    session = chat_session("Outlook keeps asking for the password", now=NOW)
    async with storage.unit_of_work() as uow:
        await uow.sessions.add(session)
        await uow.commit()

    later = NOW + timedelta(minutes=1)
    async with storage.unit_of_work() as uow:
        turned, _ = await uow.change(
            session.id,
            account_id=ACCOUNT,
            apply=lambda s: s.add_message(MessageRole.USER, "still asking", now=later, by="alice"),
        )
    written = set_columns(trace.updates()[-1])
    assert {"version", "last_activity_at", "updated_at", "conversation_messages"} <= written
    # unchanged by a message: not written again
    assert not written & {"account_id", "user_id", "title", "intake_content", "problem_summary"}
    assert session_values(await stored(storage, session)) == session_values(turned)

    # A change of other columns writes them, and they are stored.
    later = later + timedelta(minutes=1)

    def describe_and_resolve(s: Session) -> None:
        s.describe("Outlook cannot reach the mail server", ProblemDomain.EMAIL, now=later)
        s.resolve("Reset the mail profile", now=later, by="alice", root_cause="a stale profile")

    async with storage.unit_of_work() as uow:
        resolved, _ = await uow.change(session.id, account_id=ACCOUNT, apply=describe_and_resolve)
    written = set_columns(trace.updates()[-1])
    assert {"problem_summary", "problem_domain", "status", "resolution_summary"} <= written
    assert {"root_cause", "resolved_at", "version"} <= written
    assert "conversation_messages" not in written
    assert "account_id" not in written
    again = await stored(storage, session)
    assert session_values(again) == session_values(resolved)
    assert again.problem_summary == "Outlook cannot reach the mail server"
    await storage.dispose()


def test_the_update_shapes_kept_built_are_bounded() -> None:
    """The shape of an UPDATE depends on the data (messages appended × columns changed):
    a long-running server must not keep every shape it was ever sent."""
    from resolutionflow_sqlalchemy import storage as module

    module._update_statement.cache_clear()
    shapes = module.STATEMENT_SHAPES + 20
    for added in range(shapes):
        module._update_statement("sqlite", added, ("version",))
    info = module._update_statement.cache_info()
    assert info.maxsize == module.STATEMENT_SHAPES
    assert info.currsize == module.STATEMENT_SHAPES
    assert module._update_with_outbox_statement.cache_info().maxsize == module.STATEMENT_SHAPES
