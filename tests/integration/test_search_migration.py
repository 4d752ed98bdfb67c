"""The search index's migrations (0009, 0012, 0013, 0014): each indexes the sessions that
exist, keeps indexing new messages, and its downgrade brings back what was there.

At a revision older than the head the sessions are written as the storage of that revision
did: inserted whole (`uow.sessions.add`), and their messages appended by the statement it ran
(``json_insert`` on SQLite, ``||`` on PostgreSQL), not by today's storage, whose appends also
write ``last_append`` (0014)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from uuid import UUID

import sqlalchemy as sa

from resolutionflow_core.access import Actor, Role
from resolutionflow_core.search import search_query
from resolutionflow_core.services import SessionService
from resolutionflow_core.session import MessageRole
from resolutionflow_memory import OfflineLLM
from resolutionflow_sqlalchemy import SqlStorage, migrations
from resolutionflow_sqlalchemy.mapping import message_to_json
from resolutionflow_sqlalchemy.search import SqlSessionSearch, check_index
from resolutionflow_sqlalchemy.search_schema import LAST_APPEND, is_search_object
from tests.integration.test_migrations import NewDatabase, new_database, on_connection
from tests.sessions import chat_session

__all__ = ["new_database"]  # the fixture, shared with the migration tests

OWNER = Actor("acme", "alice", Role.OWNER)


def search_objects(connection: sa.Connection) -> set[str]:
    """The index's tables, and every trigger or function named after the search."""
    names = {n for n in sa.inspect(connection).get_table_names() if is_search_object(n)}
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        ).scalars()
    else:
        rows = connection.exec_driver_sql(
            "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal "
            "UNION SELECT proname FROM pg_proc WHERE proname LIKE 'rf_search%'"
        ).scalars()
    return names | {str(name) for name in rows}


async def test_the_upgrade_indexes_existing_sessions_and_the_downgrade_removes_it_all(
    new_database: NewDatabase,
) -> None:
    url = new_database()
    await migrations.upgrade(url, "0006_psa_connections")
    before = await on_connection(url, search_objects)
    storage = SqlStorage.from_url(url)
    try:
        # A session that exists when 0009 runs: written at head, then the index taken away.
        await migrations.upgrade(url)
        service = SessionService(uow=storage.unit_of_work, llm=OfflineLLM())
        session_id = (await service.start_chat(OWNER, "Scanner relay broken")).session.id
        await migrations.downgrade(url, "0006_psa_connections")
        assert await on_connection(url, search_objects) == before

        await migrations.upgrade(url)

        page = await SqlSessionSearch(storage.database).search(search_query(OWNER, "relay"))
        assert [hit.summary.id for hit in page.items] == [session_id]
        assert (await storage.database.read(check_index)).clean
    finally:
        await storage.dispose()


NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


async def insert_chat(storage: SqlStorage, *texts: str) -> UUID:
    """A chat of ``texts`` (the engineer's), inserted whole."""
    session = chat_session(texts[0], now=NOW)
    for n, text in enumerate(texts[1:], start=1):
        session.add_message(MessageRole.USER, text, now=NOW + timedelta(minutes=n), by="alice")
    async with storage.unit_of_work() as uow:
        await uow.sessions.add(session)
        await uow.commit()
    return session.id


async def append_as_before(url: str, session_id: UUID, text: str) -> None:
    """Append a message with the statement the storage ran before 0014."""
    message = json.dumps(message_to_json(chat_session(text, now=NOW).conversation_messages[0]))

    def append(connection: sa.Connection) -> None:
        if connection.dialect.name == "sqlite":
            statement = (
                "UPDATE ai_sessions SET version = version + 1, conversation_messages = "
                "json_insert(conversation_messages, '$[#]', json(:m)) WHERE id = :id"
            )
            key: object = session_id.hex
        else:
            statement = (
                "UPDATE ai_sessions SET version = version + 1, conversation_messages = "
                "conversation_messages || jsonb_build_array(CAST(:m AS jsonb)) WHERE id = :id"
            )
            key = session_id
        assert connection.execute(sa.text(statement), {"m": message, "id": key}).rowcount == 1

    await on_connection(url, append)


async def chat_at(new_database: NewDatabase, revision: str) -> tuple[str, SqlStorage, UUID]:
    """A new database at ``revision``, its storage, and a chat inserted there."""
    url = new_database()
    await migrations.upgrade(url, revision)
    storage = SqlStorage.from_url(url)
    return url, storage, await insert_chat(storage, "Scanner relay broken")


async def found_alone(storage: SqlStorage, session_id: UUID, words: str) -> None:
    """``words`` find this session and no other, and the index equals a rebuild."""
    page = await SqlSessionSearch(storage.database).search(search_query(OWNER, words))
    assert [hit.summary.id for hit in page.items] == [session_id]
    assert (await storage.database.read(check_index)).clean


async def test_0012_converts_the_session_index_into_parts_and_its_downgrade_brings_it_back(
    new_database: NewDatabase,
) -> None:
    url = new_database()
    await migrations.upgrade(url, "0011_former_owners")
    storage = SqlStorage.from_url(url)
    try:
        session_id = await insert_chat(storage, "Scanner relay broken", "the toner gauge is empty")

        def session_level_hits(connection: sa.Connection) -> list[str]:
            """0009's index: one row per session, its messages in the body."""
            if connection.dialect.name == "sqlite":
                statement = (
                    "SELECT x.session_id FROM ai_sessions_fts AS f JOIN ai_sessions_search AS x "
                    "ON x.doc_id = f.rowid WHERE ai_sessions_fts MATCH 'toner AND relay'"
                )
            else:
                statement = (
                    "SELECT session_id::text FROM ai_sessions_search WHERE document @@ "
                    "websearch_to_tsquery('english', 'toner relay')"
                )
            return [
                str(v).replace("-", "") for v in connection.exec_driver_sql(statement).scalars()
            ]

        assert await on_connection(url, session_level_hits) == [session_id.hex]

        await migrations.upgrade(url)

        parts = await on_connection(
            url,
            lambda c: c.exec_driver_sql("SELECT count(*) FROM ai_sessions_search_parts").scalar(),
        )
        assert parts == 1 + 2  # the head, two messages
        page = await SqlSessionSearch(storage.database).search(search_query(OWNER, "toner relay"))
        assert [hit.summary.id for hit in page.items] == [session_id]
        assert (await storage.database.read(check_index)).clean

        await migrations.downgrade(url, "0011_former_owners")
        assert await on_connection(url, session_level_hits) == [session_id.hex]
    finally:
        await storage.dispose()


async def test_0013_indexes_appended_messages_and_its_downgrade_brings_back_0012s_trigger(
    new_database: NewDatabase,
) -> None:
    url, storage, session_id = await chat_at(new_database, "0012_search_parts")
    at_0012 = await on_connection(url, search_objects)
    try:

        async def turn_is_found(word: str) -> None:
            await append_as_before(url, session_id, f"the {word} reads empty")
            await found_alone(storage, session_id, f"{word} relay")

        await turn_is_found("toner")
        await migrations.upgrade(url, "0013_search_appends")
        at_0013 = await on_connection(url, search_objects)
        if url.startswith("sqlite"):
            assert at_0013 == at_0012 | {"ai_sessions_search_messages_append"}
        else:
            assert at_0013 == at_0012
        await turn_is_found("fuser")
        await turn_is_found("drum")

        await migrations.downgrade(url, "0012_search_parts")
        assert await on_connection(url, search_objects) == at_0012
        await turn_is_found("platen")
    finally:
        await storage.dispose()


async def test_0014_indexes_the_storages_appends_from_last_append_and_its_downgrade_drops_it(
    new_database: NewDatabase,
) -> None:
    url, storage, session_id = await chat_at(new_database, "0013_search_appends")
    at_0013 = await on_connection(url, search_objects)
    try:

        async def found(word: str) -> None:
            await found_alone(storage, session_id, f"{word} relay")

        def last_append(connection: sa.Connection) -> object:
            return connection.execute(
                sa.text(f"SELECT {LAST_APPEND} FROM ai_sessions WHERE id = :id"),
                {"id": session_id.hex if connection.dialect.name == "sqlite" else session_id},
            ).scalar_one()

        await append_as_before(url, session_id, "the toner reads empty")
        await found("toner")
        await migrations.upgrade(url, "0014_last_append")
        assert await on_connection(url, search_objects) == at_0013  # same names, new SQL
        service = SessionService(uow=storage.unit_of_work, llm=OfflineLLM())
        turn = await service.send_message(OWNER, session_id, "the fuser reads empty")
        await found("fuser")
        # The new version and the reply the turn appended last (PostgreSQL's storage writes
        # it too; its triggers read it from 0016 on).
        version, messages = json.loads(str(await on_connection(url, last_append)))
        assert version == turn.session.version
        assert [m["content"] for m in messages] == [turn.session.conversation_messages[-1].content]
        await append_as_before(url, session_id, "the drum reads empty")  # not declared: parsed
        await found("drum")

        await migrations.downgrade(url, "0013_search_appends")
        assert await on_connection(url, search_objects) == at_0013
        assert LAST_APPEND not in {
            c["name"]
            for c in await on_connection(url, lambda c: sa.inspect(c).get_columns("ai_sessions"))
        }
        await append_as_before(url, session_id, "the platen reads empty")
        await found("platen")
    finally:
        await storage.dispose()


def fts_segments(connection: sa.Connection) -> int:
    """SQLite: how many FTS5 segments the index is in (each has rows in ``…_idx``)."""
    return int(
        connection.exec_driver_sql(
            "SELECT count(DISTINCT segid) FROM ai_sessions_fts_idx"
        ).scalar_one()
    )


async def test_0015_merges_the_sqlite_index_into_one_segment_and_keeps_what_it_finds(
    new_database: NewDatabase,
) -> None:
    url, storage, session_id = await chat_at(new_database, "0014_last_append")
    try:
        service = SessionService(uow=storage.unit_of_work, llm=OfflineLLM())
        for word in ("toner", "fuser", "drum"):  # each turn's commit writes a new segment
            await service.send_message(OWNER, session_id, f"the {word} reads empty")
        sqlite = url.startswith("sqlite")
        if sqlite:
            assert await on_connection(url, fts_segments) > 1

        await migrations.upgrade(url, "0015_fts_optimize")

        if sqlite:
            assert await on_connection(url, fts_segments) == 1
        await found_alone(storage, session_id, "fuser relay")
        await service.send_message(OWNER, session_id, "the platen reads empty")
        await found_alone(storage, session_id, "platen relay")
        await migrations.downgrade(url, "0014_last_append")
        await found_alone(storage, session_id, "drum relay")
    finally:
        await storage.dispose()


async def test_0016_indexes_postgresqls_appends_from_last_append_and_its_downgrade_compares_again(
    new_database: NewDatabase,
) -> None:
    url, storage, session_id = await chat_at(new_database, "0015_fts_optimize")
    at_0015 = await on_connection(url, search_objects)
    try:
        service = SessionService(uow=storage.unit_of_work, llm=OfflineLLM())

        async def found(word: str) -> None:
            await found_alone(storage, session_id, f"{word} relay")

        await service.send_message(OWNER, session_id, "the toner reads empty")
        await found("toner")
        await migrations.upgrade(url, "0016_pg_last_append")
        at_0016 = await on_connection(url, search_objects)
        if url.startswith("sqlite"):
            assert at_0016 == at_0015
        else:
            assert at_0016 == at_0015 | {
                "ai_sessions_search_messages_append",
                "rf_search_messages_appended",
            }
        await service.send_message(OWNER, session_id, "the fuser reads empty")  # declared
        await found("fuser")
        await append_as_before(url, session_id, "the drum reads empty")  # not declared
        await found("drum")

        await migrations.downgrade(url, "0015_fts_optimize")
        assert await on_connection(url, search_objects) == at_0015
        await service.send_message(OWNER, session_id, "the platen reads empty")
        await found("platen")
    finally:
        await storage.dispose()
