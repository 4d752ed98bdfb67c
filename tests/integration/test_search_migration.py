"""Migration 0009: indexes the sessions that exist, and its downgrade leaves nothing behind."""

from __future__ import annotations

import sqlalchemy as sa

from resolutionflow_core.access import Actor, Role
from resolutionflow_core.search import search_query
from resolutionflow_core.services import SessionService
from resolutionflow_memory import OfflineLLM
from resolutionflow_sqlalchemy import SqlStorage, migrations
from resolutionflow_sqlalchemy.search import SqlSessionSearch, check_index
from resolutionflow_sqlalchemy.search_schema import is_search_object
from tests.integration.test_migrations import NewDatabase, new_database, on_connection

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


async def test_0012_converts_the_session_index_into_parts_and_its_downgrade_brings_it_back(
    new_database: NewDatabase,
) -> None:
    url = new_database()
    await migrations.upgrade(url, "0011_former_owners")
    storage = SqlStorage.from_url(url)
    try:
        service = SessionService(uow=storage.unit_of_work, llm=OfflineLLM())
        started = await service.start_chat(OWNER, "Scanner relay broken")
        await service.send_message(OWNER, started.session.id, "the toner gauge reads empty")

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

        assert await on_connection(url, session_level_hits) == [started.session.id.hex]

        await migrations.upgrade(url)

        parts = await on_connection(
            url,
            lambda c: c.exec_driver_sql("SELECT count(*) FROM ai_sessions_search_parts").scalar(),
        )
        assert parts == 1 + len(started.session.conversation_messages) + 2  # head, messages
        page = await SqlSessionSearch(storage.database).search(search_query(OWNER, "toner relay"))
        assert [hit.summary.id for hit in page.items] == [started.session.id]
        assert (await storage.database.read(check_index)).clean

        await migrations.downgrade(url, "0011_former_owners")
        assert await on_connection(url, session_level_hits) == [started.session.id.hex]
    finally:
        await storage.dispose()


async def test_0013_indexes_appended_messages_and_its_downgrade_brings_back_0012s_trigger(
    new_database: NewDatabase,
) -> None:
    url = new_database()
    await migrations.upgrade(url, "0012_search_parts")
    at_0012 = await on_connection(url, search_objects)
    storage = SqlStorage.from_url(url)
    try:
        service = SessionService(uow=storage.unit_of_work, llm=OfflineLLM())
        search = SqlSessionSearch(storage.database)
        session_id = (await service.start_chat(OWNER, "Scanner relay broken")).session.id

        async def turn_is_found(word: str) -> None:
            await service.send_message(OWNER, session_id, f"the {word} reads empty")
            page = await search.search(search_query(OWNER, f"{word} relay"))
            assert [hit.summary.id for hit in page.items] == [session_id]
            assert (await storage.database.read(check_index)).clean

        await turn_is_found("toner")
        await migrations.upgrade(url)
        at_head = await on_connection(url, search_objects)
        if url.startswith("sqlite"):
            assert at_head == at_0012 | {"ai_sessions_search_messages_append"}
        else:
            assert at_head == at_0012
        await turn_is_found("fuser")
        await turn_is_found("drum")

        await migrations.downgrade(url, "0012_search_parts")
        assert await on_connection(url, search_objects) == at_0012
        await turn_is_found("platen")
    finally:
        await storage.dispose()
