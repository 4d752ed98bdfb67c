"""The session repository and unit of work on SQLAlchemy Core (SQLite or PostgreSQL).

Reads run in short read transactions (on PostgreSQL, a read of one statement, such as a chat
session's row, runs in autocommit: one round trip). `commit` writes, for every tracked
session whose version moved, with a compare-and-set on the version it was loaded with: a
concurrent writer is detected (`StaleSession`) and nothing is written. A chat turn appends
only the new messages to ``conversation_messages`` (``||`` on PostgreSQL, ``json_insert``
on SQLite): the history is never re-serialised on a turn. The same messages, with the new
version, go to ``last_append``, from which the search index's trigger indexes them
(migrations 0014 and 0016, `search_schema.sqlite_messages_triggers` and
`postgres_messages_triggers`); a write that adds no message leaves the history column out
of its ``SET``, and a write sets only the scalar columns whose values changed since the
session was loaded (`_Loaded.columns`).

- SQLite: `change` loads, applies and writes in one write transaction (one thread hop);
  the hot statements (the session's row, the append, the outbox rows) run on the sqlite3
  cursor, compiled once from their Core form (`engine.driver_statement`, called through
  `first_row`, `rowcount` and `execute_many`).
- PostgreSQL: a chat session's change is an autocommit ``SELECT`` and then one statement,
  the compare-and-set ``UPDATE`` with the outbox ``INSERT`` in a CTE, in autocommit (two
  round trips), both run on the asyncpg connection (`Database.row`); a write with more to it
  (steps, former owners, PSA notes due, a statement waiting for the next write) is one
  transaction as before.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from resolutionflow_core.chat import ConversationMessage, MessageHistory
from resolutionflow_core.delivery import note_due
from resolutionflow_core.errors import InvalidInput, SessionNotFound, StaleSession
from resolutionflow_core.guided import GuidedStep
from resolutionflow_core.listing import SessionPage, SessionQuery, SessionSummary, page_of
from resolutionflow_core.session import Session, SessionType
from resolutionflow_sqlalchemy.delivery import due_values
from resolutionflow_sqlalchemy.engine import (
    AsyncDatabase,
    Database,
    execute_many,
    first_row,
    is_async_engine,
    open_database,
    rowcount,
)
from resolutionflow_sqlalchemy.mapping import (
    SUMMARY_COLUMNS,
    message_to_json,
    outbox_values,
    session_from_row,
    session_values,
    step_from_row,
    step_values,
    stored_chars,
    summary_from_row,
)
from resolutionflow_sqlalchemy.tables import (
    LAST_APPEND,
    ai_session_former_owners,
    ai_session_steps,
    ai_sessions,
    psa_deliveries,
    session_outbox,
    visible_to,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")

_C = ai_sessions.c
_SUMMARY = [_C[name] for name in SUMMARY_COLUMNS]
_AS_KNOWN = sa.and_(
    _C.version == sa.bindparam("known_version", type_=sa.Integer),
    _C.updated_at == sa.bindparam("known_updated_at", type_=_C.updated_at.type),
)
"""The row is still at the version and update time of the copy this process holds
(`HistoryCache`)."""
_HISTORY_KNOWN = sa.case(
    (_AS_KNOWN, sa.literal_column("1", sa.Integer)), else_=sa.literal_column("0", sa.Integer)
).label("history_known")
"""1 when the copy is current, decided by the database in the statement that reads the row.
A flag of its own, not the history column's NULL: another writer may store a JSON ``null``
history, which reads back as ``None`` too."""
_HISTORY_UNLESS_KNOWN = sa.type_coerce(
    sa.case((_AS_KNOWN, sa.null()), else_=_C.conversation_messages),
    _C.conversation_messages.type,
).label("conversation_messages")
"""The history, or NULL when the copy is current (`_HISTORY_KNOWN`): an unchanged history is
neither sent nor decoded again."""
_SESSION_BY_ID = sa.select(
    *(_HISTORY_UNLESS_KNOWN if c.name == "conversation_messages" else c for c in ai_sessions.c),
    _HISTORY_KNOWN,
).where(_C.id == sa.bindparam("id"), _C.account_id == sa.bindparam("account"))
_STEPS_OF = (
    sa.select(ai_session_steps)
    .where(ai_session_steps.c.session_id == sa.bindparam("id"))
    .order_by(ai_session_steps.c.number)
)
_FORMER_OWNERS_OF = (
    sa.select(ai_session_former_owners.c.user_id)
    .where(ai_session_former_owners.c.session_id == sa.bindparam("id"))
    .order_by(ai_session_former_owners.c.position)
)
_INSERT_FORMER_OWNER = sa.insert(ai_session_former_owners)
_SCALARS = [
    c.name for c in ai_sessions.c if c.name not in ("id", "conversation_messages", LAST_APPEND)
]
_JSON_SCALARS = [
    c.name for c in ai_sessions.c if c.name in _SCALARS and c.type._type_affinity is sa.JSON
]
"""The scalar columns holding JSON (dicts, lists): `_Loaded.columns` keeps copies of them."""
STATEMENT_SHAPES = 512
"""How many UPDATE shapes (messages appended × columns set) are kept built: a server meets a
few dozen (a turn, a pause, a resolution, …), but the shape depends on the data, so the
cache is bounded rather than growing with whatever a long-running process is sent."""
_INSERT_OUTBOX = sa.insert(session_outbox).values(
    {c.name: sa.bindparam(c.name) for c in session_outbox.c if not c.primary_key}
)
_INSERT_DELIVERY = sa.insert(psa_deliveries)
_STEP_COLUMNS = [c.name for c in ai_session_steps.c if c.name not in ("session_id", "number")]
_UPDATE_STEP = (
    sa.update(ai_session_steps)
    .where(
        ai_session_steps.c.session_id == sa.bindparam("b_session_id"),
        ai_session_steps.c.number == sa.bindparam("b_number"),
    )
    .values({name: sa.bindparam(name) for name in _STEP_COLUMNS})
)


@dataclass(frozen=True, slots=True)
class _Loaded:
    """What a session looked like when loaded: the base of its compare-and-set and diff."""

    version: int
    history: MessageHistory
    message_count: int
    steps: tuple[GuidedStep, ...]
    former_owner_count: int
    columns: dict[str, Any]
    """The ``ai_sessions`` scalar columns' values (`_SCALARS`): a write sets only those that
    differ from these."""

    @classmethod
    def of(cls, session: Session) -> _Loaded:
        history = session.conversation_messages
        return cls(
            session.version,
            history,
            len(history),
            tuple(session.steps),
            len(session.former_owner_ids),
            _scalar_columns(session),
        )


def _scalar_columns(session: Session) -> dict[str, Any]:
    """`_SCALARS`' values of ``session`` as a write would store them. A JSON value (a dict or
    list) is copied, so that a change made to it in place still shows as a change."""
    values = session_values(session)
    del values["id"]
    for name in _JSON_SCALARS:
        values[name] = _copied(values[name])
    return values


def _copied(value: Any) -> Any:
    """A JSON value's copy (`copy.deepcopy` costs ~10 µs for a one-key dict; this ~1 µs)."""
    if isinstance(value, dict):
        return {key: _copied(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copied(item) for item in value]
    return value


_Tracked = dict[UUID, tuple[Session, _Loaded | None]]

HISTORY_CACHE_SESSIONS = 512
"""How many sessions' histories a process keeps decoded (the most recently used)."""
HISTORY_CACHE_MESSAGES = 20_000
"""How many messages those histories may hold in all (20,000 assistant messages of ~1 KB with
their usage, held raw and decoded: 47 MB measured with tracemalloc); a longer history is not
kept."""
HISTORY_CACHE_CHARS = 16_000_000
"""How many characters of message text they may hold in all: a message may be 32,000
characters, so the message count alone does not bound the memory (20,000 such messages took
~600 MB)."""


@dataclass(frozen=True, slots=True)
class _Known:
    """A session's history as stored at ``version`` and ``updated_at``; never handed out
    (each load gets a `MessageHistory.copy`, so nothing an aggregate does reaches it)."""

    version: int
    updated_at: datetime
    history: MessageHistory
    chars: int
    """The characters of its messages' text, in all."""

    def params(self) -> dict[str, Any]:
        return {"known_version": self.version, "known_updated_at": self.updated_at}


_UNKNOWN = {"known_version": -1, "known_updated_at": None}


class HistoryCache:
    """Per process (per `SqlStorage`): each recently read or written session's decoded
    history, by id, with the version and update time it was stored at.

    Only ever used after the database confirmed it: the statement that reads the session's
    row says whether the row still has that version and update time (`_HISTORY_KNOWN`), and
    sends the history only when it has not; every write that changes a session moves its
    version (the compare-and-set). A write by another process, or by this one through
    another engine, therefore makes the next read fetch and decode the history anew. Bounded
    by sessions, by messages and by characters of text held (least recently used go first).
    Thread-safe: SQLite's loads run on the write thread, commits on the event loop.
    """

    def __init__(
        self,
        sessions: int = HISTORY_CACHE_SESSIONS,
        messages: int = HISTORY_CACHE_MESSAGES,
        chars: int = HISTORY_CACHE_CHARS,
    ) -> None:
        self.max_sessions = sessions
        self.max_messages = messages
        self.max_chars = chars
        self._entries: OrderedDict[UUID, _Known] = OrderedDict()
        self._messages = 0
        self._chars = 0
        self._lock = threading.Lock()
        self.hits = 0
        """Loads that used a copy held here (for tests and benchmarks)."""

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def messages(self) -> int:
        """The messages held, in all."""
        return self._messages

    @property
    def chars(self) -> int:
        """The characters of message text held, in all."""
        return self._chars

    def entry(self, session_id: UUID) -> _Known | None:
        with self._lock:
            known = self._entries.get(session_id)
            if known is not None:
                self._entries.move_to_end(session_id)
            return known

    def remember(self, session: Session, chars: int) -> None:
        """Keep a copy of ``session``'s history, as stored at its version: call it only
        with a session just read from, or just written to, the database. ``chars``: the
        characters of its messages' text, counted by the caller without decoding what it
        need not (`mapping.stored_chars`, `written`)."""
        history = session.conversation_messages
        size = len(history)
        keep = self.max_sessions > 0 and size <= self.max_messages and chars <= self.max_chars
        known = _Known(session.version, session.updated_at, history.copy(), chars) if keep else None
        with self._lock:
            self._drop(session.id)
            if known is None:
                return
            self._entries[session.id] = known
            self._messages += size
            self._chars += chars
            while (
                len(self._entries) > self.max_sessions
                or self._messages > self.max_messages
                or self._chars > self.max_chars
            ):
                self._drop(next(iter(self._entries)))

    def written(self, session: Session, loaded: _Loaded | None) -> None:
        """Keep ``session``'s history as a commit just wrote it (``loaded``: as the session
        was loaded, None for a new one). Its text is counted from the copy kept of it as
        loaded plus the messages appended since, so what was stored before is not decoded
        for it; only without such a copy (a new session, a copy no longer kept) is the whole
        history counted."""
        history = session.conversation_messages
        with self._lock:
            known = self._entries.get(session.id)
        if (
            known is not None
            and loaded is not None
            and known.version == loaded.version
            and history is loaded.history
            and len(known.history) == loaded.message_count <= len(history)
        ):
            chars = known.chars + _text_chars(history[loaded.message_count :])
        else:
            chars = _text_chars(history)
        self.remember(session, chars)

    def forget(self, session_id: UUID) -> None:
        with self._lock:
            self._drop(session_id)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._messages = 0
            self._chars = 0

    def _drop(self, session_id: UUID) -> None:
        known = self._entries.pop(session_id, None)
        if known is not None:
            self._messages -= len(known.history)
            self._chars -= known.chars

    def session_of(
        self,
        row: Any,
        known: _Known | None,
        steps: list[GuidedStep],
        former_owner_ids: list[str],
    ) -> Session:
        """The session of a row read with ``known``'s parameters (`_UNKNOWN` without)."""
        if known is not None and row.history_known:
            # The database said the row is still at the version and time of ``known``.
            self.hits += 1
            return session_from_row(row, steps, former_owner_ids, known.history.copy())
        session = session_from_row(row, steps, former_owner_ids)
        self.remember(session, stored_chars(row.conversation_messages))
        return session


def _text_chars(messages: Iterable[ConversationMessage]) -> int:
    return sum(len(message.content) for message in messages)


_NO_HISTORIES = HistoryCache(0)
"""Keeps none: for a repository or unit of work made without a `HistoryCache`."""


def _row_params(session_id: UUID, account_id: str, known: _Known | None) -> dict[str, Any]:
    return {
        "id": session_id,
        "account": account_id,
        **(_UNKNOWN if known is None else known.params()),
    }


class SqlSessionRepository:
    def __init__(self, database: Database, histories: HistoryCache | None = None) -> None:
        self._database = database
        self._histories = _NO_HISTORIES if histories is None else histories
        self.tracked: _Tracked = {}

    async def add(self, session: Session) -> None:
        self.tracked[session.id] = (session, None)

    async def get(self, session_id: UUID, *, account_id: str) -> Session:
        if session_id in self.tracked:
            session = self.tracked[session_id][0]
        else:
            found = await self._read(session_id, account_id)
            if found is None:
                raise SessionNotFound(session_id)
            session = found
            self.tracked[session_id] = (session, _Loaded.of(session))
        if session.account_id != account_id:
            raise SessionNotFound(session_id)
        return session

    async def attach(self, session: Session) -> None:
        self.tracked[session.id] = (session, _Loaded.of(session))

    async def _read(self, session_id: UUID, account_id: str) -> Session | None:
        if self._database.dialect.name == "postgresql":
            # A chat session is its one row: one autocommit SELECT, one round trip (a read
            # transaction is three: BEGIN, SELECT, COMMIT).
            found = await _read_row_only(self._database, session_id, account_id, self._histories)
            if not isinstance(found, _More):
                return found
        # SQLite (where a transaction costs no round trip), or a session with rows in other
        # tables (guided, escalated): all of them in one read transaction.
        histories = self._histories
        return await self._database.read(
            lambda conn: _load(conn, session_id, account_id, histories)
        )

    async def list(self, query: SessionQuery) -> SessionPage:
        rows = await self._database.read(lambda conn: _list(conn, query), one_statement=True)
        return page_of(rows, query.limit)


class SqlUnitOfWork:
    """One unit of work: reads as it goes, all writes in one transaction at `commit`."""

    def __init__(self, database: Database, histories: HistoryCache | None = None) -> None:
        self._database = database
        self._histories = _NO_HISTORIES if histories is None else histories
        self._sessions = SqlSessionRepository(database, self._histories)

    @property
    def sessions(self) -> SqlSessionRepository:
        return self._sessions

    async def __aenter__(self) -> Self:
        self._sessions = SqlSessionRepository(self._database, self._histories)
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
        changed = self._changed()
        if not changed:
            return
        if _one_statement(changed, self._database.dialect.name):
            session, loaded = changed[0]
            assert loaded is not None
            statement, params = _update_with_outbox(session, loaded)
            (written,) = await self._database.row(statement, params, write=True)
            if written != 1:
                raise StaleSession(session.id, loaded.version)
        else:
            await self._database.write(lambda conn: _write(conn, changed))
        self._committed(changed)

    async def change(
        self, session_id: UUID, *, account_id: str, apply: Callable[[Session], T]
    ) -> tuple[Session, T]:
        """Load, apply and commit as one operation.

        On SQLite one write transaction (one thread hop) that holds the write lock from its
        start (``BEGIN IMMEDIATE``), so the compare-and-set cannot fail. On PostgreSQL a
        chat session is read in autocommit and written by one statement; the
        compare-and-set guards against a writer that committed in between (`StaleSession`,
        nothing written), as it did when both ran in one transaction.
        """
        if session_id in self._sessions.tracked:  # already loaded here: no read needed
            session = await self._sessions.get(session_id, account_id=account_id)
            result = apply(session)
            await self.commit()
            return session, result
        others = self._changed()
        if self._database.dialect.name == "postgresql" and not others:
            # A chat session: one autocommit SELECT, then (usually) one statement that
            # writes it under the compare-and-set with its outbox rows: two round trips
            # where a transaction around both takes five.
            found = await _read_row_only(self._database, session_id, account_id, self._histories)
            if found is None:
                raise SessionNotFound(session_id)
            if not isinstance(found, _More):
                await self._sessions.attach(found)
                result = apply(found)
                await self.commit()
                return found, result

        histories = self._histories

        def work(conn: sa.Connection) -> tuple[Session, _Loaded, T]:
            session = _load(conn, session_id, account_id, histories)
            if session is None:
                raise SessionNotFound(session_id)
            loaded = _Loaded.of(session)
            result = apply(session)
            changed = [*others, (session, loaded)] if session.version != loaded.version else others
            if changed:
                _write(conn, changed)
            return session, loaded, result

        session, loaded, result = await self._database.write(work)
        self._sessions.tracked[session_id] = (session, loaded)
        self._committed([*others, (session, loaded)])
        return session, result

    def _changed(self) -> list[tuple[Session, _Loaded | None]]:
        return [
            (session, loaded)
            for session, loaded in self._sessions.tracked.values()
            if loaded is None or session.version != loaded.version
        ]

    def _committed(self, changed: list[tuple[Session, _Loaded | None]]) -> None:
        for session, loaded in changed:
            session.pull_events()
            self._sessions.tracked[session.id] = (session, _Loaded.of(session))
            if loaded is None or session.version != loaded.version:  # written: as stored now
                self._histories.written(session, loaded)


class SqlStorage:
    """Sessions in SQLite or PostgreSQL; hand `unit_of_work` to the services."""

    def __init__(
        self, database: Database | AsyncEngine, *, histories: HistoryCache | None = None
    ) -> None:
        self.database: Database = (
            AsyncDatabase(database) if is_async_engine(database) else cast(Database, database)
        )
        self.histories = HistoryCache() if histories is None else histories
        """The decoded histories this process holds (`HistoryCache`); ``HistoryCache(0)``
        keeps none."""

    @classmethod
    def from_url(
        cls, url: str, *, histories: HistoryCache | None = None, **engine_options: Any
    ) -> SqlStorage:
        """``sqlite:///path/to/file.db`` or ``postgresql://user@host/db``."""
        return cls(open_database(url, **engine_options), histories=histories)

    def unit_of_work(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.database, self.histories)

    async def dispose(self) -> None:
        await self.database.dispose()


# -- the SQL, as plain functions of a connection inside a transaction -----------------------


def _load(
    conn: sa.Connection,
    session_id: UUID,
    account_id: str,
    histories: HistoryCache = _NO_HISTORIES,
) -> Session | None:
    known = histories.entry(session_id)
    row = first_row(conn, _SESSION_BY_ID, _row_params(session_id, account_id, known))
    if row is None:
        return None
    steps: list[GuidedStep] = []
    if row.session_type == SessionType.GUIDED:
        steps = [step_from_row(step) for step in conn.execute(_STEPS_OF, {"id": session_id})]
    former: list[str] = []
    if row.escalated_by is not None:  # only an escalated session was ever claimed
        former = list(conn.execute(_FORMER_OWNERS_OF, {"id": session_id}).scalars())
    return histories.session_of(row, known, steps, former)


class _More:
    """The session has rows in other tables too (steps, former owners)."""


_MORE = _More()


async def _read_row_only(
    database: Database, session_id: UUID, account_id: str, histories: HistoryCache
) -> Session | _More | None:
    """The session from its one row (one statement), or `_MORE` if it has rows elsewhere."""
    known = histories.entry(session_id)
    row = await database.row(_SESSION_BY_ID, _row_params(session_id, account_id, known))
    if row is None:
        return None
    if row.session_type == SessionType.GUIDED or row.escalated_by is not None:
        return _MORE
    return histories.session_of(row, known, [], [])


def _list(conn: sa.Connection, query: SessionQuery) -> list[SessionSummary]:
    statement = (
        sa.select(*_SUMMARY)
        .where(*_filters(query))
        .order_by(_C.last_activity_at.desc(), _C.id.desc())
        .limit(query.limit + 1)
    )
    return [summary_from_row(row) for row in conn.execute(statement)]


def _filters(query: SessionQuery) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = [_C.account_id == query.account_id]
    if query.session_types is not None:
        where.append(_C.session_type.in_(sorted(t.value for t in query.session_types)))
    if query.statuses is not None:
        where.append(_C.status.in_(sorted(s.value for s in query.statuses)))
    if query.owner_id is not None:
        where.append(_C.user_id == query.owner_id)
    if query.visible_to_user is not None:
        where.append(visible_to(query.visible_to_user))
    if query.created_from is not None:
        where.append(_C.created_at >= query.created_from)
    if query.created_to is not None:
        where.append(_C.created_at <= query.created_to)
    if query.cursor is not None:
        # Row-value comparison, so the (…, last_activity_at, id) indexes serve deep pages.
        where.append(
            sa.tuple_(_C.last_activity_at, _C.id)
            < sa.tuple_(
                sa.literal(query.cursor.last_activity_at, _C.last_activity_at.type),
                sa.literal(query.cursor.session_id, _C.id.type),
            )
        )
    return where


def _write(conn: sa.Connection, changed: list[tuple[Session, _Loaded | None]]) -> None:
    for session, loaded in changed:
        if loaded is None:
            _insert(conn, session)
        else:
            _update(conn, session, loaded)
    events = [event for session, _ in changed for event in session.events]
    if events:
        execute_many(conn, _INSERT_OUTBOX, [outbox_values(event) for event in events])
    due = [note for note in map(note_due, events) if note is not None]
    if due:  # due on the ticket from this commit on: same transaction as the change
        now = max(event.occurred_at for event in events)
        conn.execute(_INSERT_DELIVERY, [due_values(note, now) for note in due])


def _one_statement(changed: list[tuple[Session, _Loaded | None]], dialect: str) -> bool:
    """Whether the write is one statement on PostgreSQL: one session, already stored, whose
    steps and former owners did not change and whose events make no PSA note due."""
    if dialect != "postgresql" or len(changed) != 1:
        return False
    session, loaded = changed[0]
    return (
        loaded is not None
        and tuple(session.steps) == loaded.steps
        and len(session.former_owner_ids) == loaded.former_owner_count
        and all(note_due(event) is None for event in session.events)
    )


def _update_with_outbox(session: Session, loaded: _Loaded) -> tuple[sa.Select[Any], dict[str, Any]]:
    """The compare-and-set UPDATE and the outbox INSERT as one statement (PostgreSQL), and
    its parameters; its one value is 1 if the compare-and-set held, else 0."""
    params, added, columns = _update_params(session, loaded, "postgresql")
    params["events"] = [  # the rest of each row comes from the updated row
        {
            "version": event.version,
            "event_name": event.name,
            "payload": event.payload(),
            "occurred_at": event.occurred_at.isoformat(),
        }
        for event in session.events
    ]
    return _update_with_outbox_statement(added, columns), params


def _insert(conn: sa.Connection, session: Session) -> None:
    values = session_values(session)
    values["conversation_messages"] = [message_to_json(m) for m in session.conversation_messages]
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(ai_sessions), values)
    except IntegrityError as error:
        raise InvalidInput("id", f"a session {session.id} exists already") from error
    if session.steps:
        conn.execute(sa.insert(ai_session_steps), [step_values(session, s) for s in session.steps])
    _write_former_owners(conn, session, 0)


def _update_params(
    session: Session, loaded: _Loaded, dialect: str
) -> tuple[dict[str, Any], int, tuple[str, ...]]:
    """The parameters of `_update_statement`, and its shape: how many messages it appends
    (-1: it replaces the whole history) and which scalar columns it sets (those whose value
    changed since ``loaded``, and always the version)."""
    values = session_values(session)
    before = loaded.columns
    columns = tuple(name for name in _SCALARS if name == "version" or values[name] != before[name])
    params = {name: values[name] for name in columns}
    params["b_id"] = session.id
    params["b_version"] = loaded.version
    messages = session.conversation_messages
    known = loaded.message_count
    # A MessageHistory only grows; only a history replaced wholesale needs rewriting.
    if messages is not loaded.history or len(messages) < known:
        params["all_messages"] = [message_to_json(m) for m in messages]
        return params, -1, columns
    added = [message_to_json(m) for m in messages[known:]]
    if dialect != "postgresql":
        params.update({f"added_{i}": message for i, message in enumerate(added)})
    elif added:
        params["added"] = added
    return params, len(added), columns


def _update(conn: sa.Connection, session: Session, loaded: _Loaded) -> None:
    params, added, columns = _update_params(session, loaded, conn.dialect.name)
    if rowcount(conn, _update_statement(conn.dialect.name, added, columns), params) != 1:
        raise StaleSession(session.id, loaded.version)
    _write_steps(conn, session, loaded)
    _write_former_owners(conn, session, loaded.former_owner_count)


def _write_former_owners(conn: sa.Connection, session: Session, known: int) -> None:
    """Insert the former owners added since load (the list only grows)."""
    added = session.former_owner_ids[known:]
    if added:
        conn.execute(
            _INSERT_FORMER_OWNER,
            [
                {"session_id": session.id, "user_id": user_id, "position": known + i}
                for i, user_id in enumerate(added)
            ],
        )


def _write_steps(conn: sa.Connection, session: Session, loaded: _Loaded) -> None:
    changed = [
        {**_step_params(session, new), "b_session_id": session.id, "b_number": new.number}
        for old, new in zip(loaded.steps, session.steps, strict=False)
        if old != new
    ]
    if changed:
        conn.execute(_UPDATE_STEP, changed)
    if len(session.steps) > len(loaded.steps):
        conn.execute(
            sa.insert(ai_session_steps),
            [step_values(session, step) for step in session.steps[len(loaded.steps) :]],
        )


def _step_params(session: Session, step: GuidedStep) -> dict[str, Any]:
    values = step_values(session, step)
    return {name: values[name] for name in _STEP_COLUMNS}


@lru_cache(maxsize=STATEMENT_SHAPES)
def _update_statement(dialect: str, added: int, columns: tuple[str, ...]) -> sa.Update:
    """UPDATE … WHERE id = :b_id AND version = :b_version, setting ``columns`` (of
    `_SCALARS`) and appending ``added`` messages (``-1``: replacing the whole history). Built
    once per shape, so SQLAlchemy's compiled cache (and `engine.compiled_once`) always hits.

    Only the columns that changed are set: an unchanged column written again still costs
    its parameter's processing and, on SQLite, ~50 µs of a chat turn's UPDATE (measured
    with 33 columns set against 5)."""
    column = _C.conversation_messages
    values: dict[str, Any] = {name: sa.bindparam(name) for name in columns}
    if added < 0:
        values["conversation_messages"] = sa.bindparam("all_messages", type_=column.type)
    elif added > 0 and dialect == "postgresql":
        appended = sa.bindparam("added", type_=column.type)  # JSONB
        values["conversation_messages"] = column.op("||")(appended)
        # As on SQLite, the messages with the new version go to last_append (text), which
        # the search index's trigger reads (`search_schema.postgres_messages_triggers`).
        values[LAST_APPEND] = sa.cast(
            sa.func.jsonb_build_array(sa.bindparam("version"), appended), sa.Text
        )
    elif added > 0:
        # SQLite applies json_insert's path/value pairs left to right: each lands at the end.
        # The same messages, with the new version, go to last_append: the search index's
        # trigger indexes them from there (`search_schema.sqlite_messages_triggers`).
        new = [sa.func.json(sa.bindparam(f"added_{i}", type_=sa.JSON)) for i in range(added)]
        at_end: list[Any] = []
        for message in new:
            at_end += [sa.literal_column("'$[#]'"), message]
        values["conversation_messages"] = sa.func.json_insert(column, *at_end, type_=column.type)
        values[LAST_APPEND] = sa.func.json_array(sa.bindparam("version"), sa.func.json_array(*new))
    # With no message added the history is not SET at all, so no trigger on it fires.
    return (
        sa.update(ai_sessions)
        .where(_C.id == sa.bindparam("b_id"), _C.version == sa.bindparam("b_version"))
        .values(values)
    )


@lru_cache(maxsize=STATEMENT_SHAPES)
def _update_with_outbox_statement(added: int, columns: tuple[str, ...]) -> sa.Select[Any]:
    """PostgreSQL: ``WITH updated AS (UPDATE … RETURNING id, account_id), outbox AS (INSERT
    INTO session_outbox SELECT … FROM updated, jsonb_to_recordset(:events)) SELECT count(*)
    FROM updated``: 1 if the compare-and-set held (and the events were written), else 0
    (nothing written). One statement, so atomic without a transaction around it."""
    from sqlalchemy.dialects.postgresql import JSONB  # here: SQLite commands never load it

    updated = (
        _update_statement("postgresql", added, columns)
        .returning(_C.id, _C.account_id)
        .cte("updated")
    )
    events = (
        sa.func.jsonb_to_recordset(sa.bindparam("events", type_=JSONB))
        .table_valued(
            sa.column("version", sa.Integer),
            sa.column("event_name", sa.Text),
            sa.column("payload", JSONB),
            sa.column("occurred_at", sa.DateTime(timezone=True)),
        )
        .render_derived(name="events", with_types=True)
    )
    outbox_columns = ["session_id", "account_id", "version", "event_name", "payload", "occurred_at"]
    outbox = (
        sa.insert(session_outbox)
        .from_select(
            outbox_columns,
            sa.select(
                updated.c.id,
                updated.c.account_id,
                events.c.version,
                events.c.event_name,
                events.c.payload,
                events.c.occurred_at,
            ).select_from(updated.join(events, sa.true())),
        )
        .cte("outbox")
    )
    return sa.select(sa.func.count()).select_from(updated).add_cte(outbox)
