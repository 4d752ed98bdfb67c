"""Property: search and memory return only the caller's account, and only what they may open.

For random accounts, engineers, roles, sessions (words, statuses) and queries, on memory,
SQLite and PostgreSQL: every search hit belongs to the caller's account and passes
`access.can_view`; the hits are exactly the visible sessions the reference predicate (the
in-memory engine's) matches; and a new session's ``similar_sessions`` are resolved sessions
of the caller's account that the caller may open.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resolutionflow_core.access import Actor, Role, can_view
from resolutionflow_core.lifecycle import SessionStatus
from resolutionflow_core.ports import SessionSearch, UnitOfWorkFactory
from resolutionflow_core.search import SearchDocument, SearchTerms, search_query
from resolutionflow_core.services import SessionService
from resolutionflow_core.session import Session
from resolutionflow_memory import InMemoryStorage, OfflineLLM
from resolutionflow_memory.search import InMemorySessionSearch, relevance
from resolutionflow_sqlalchemy import SqlStorage
from resolutionflow_sqlalchemy.search import SqlSessionSearch
from resolutionflow_sqlalchemy.tables import metadata
from tests.databases import PostgresServer

WORDS = ("vpn", "dns", "printer", "outlook", "firewall", "laptop", "backup", "wifi")
ACCOUNTS = ("acme", "globex")
USERS = ("alice", "bob", "carol")
T0 = datetime(2026, 11, 1, tzinfo=UTC)

session_specs = st.lists(
    st.tuples(
        st.sampled_from(ACCOUNTS),
        st.sampled_from(USERS),
        st.lists(st.sampled_from(WORDS), min_size=1, max_size=4),
        st.sampled_from(("active", "resolved", "escalated", "abandoned")),
    ),
    max_size=12,
)
queries = st.lists(st.sampled_from(WORDS), min_size=1, max_size=2).map(" ".join) | st.tuples(
    st.sampled_from(WORDS), st.sampled_from(WORDS)
).map(lambda pair: f"{pair[0]} or {pair[1]}")
actors = st.builds(
    Actor, st.sampled_from(ACCOUNTS), st.sampled_from(USERS), st.sampled_from(list(Role))
)


def build(specs: list[tuple[str, str, list[str], str]]) -> list[Session]:
    sessions = []
    for n, (account, user, words, status) in enumerate(specs):
        now = T0 + timedelta(minutes=n)
        session = Session.start_chat(
            session_id=uuid.UUID(int=n + 1),
            account_id=account,
            user_id=user,
            first_message=" ".join(words) + " problem",
            now=now,
        )
        if status == "resolved":
            session.resolve(f"fixed the {' '.join(words)}", now=now, by=user)
        elif status == "escalated":
            session.escalate("needs a senior", now=now, by=user)
        elif status == "abandoned":
            session.abandon(now=now, by=user)
        sessions.append(session)
    return sessions


async def check(
    uow: UnitOfWorkFactory,
    search: SessionSearch,
    specs: list[tuple[str, str, list[str], str]],
    actor: Actor,
    query: str,
) -> None:
    sessions = build(specs)
    async with uow() as unit:
        for session in sessions:
            await unit.sessions.add(session)
        await unit.commit()
    by_id = {s.id: s for s in sessions}

    page = await search.search(search_query(actor, query, limit=200))
    found = {hit.summary.id for hit in page.items}
    assert all(by_id[i].account_id == actor.account_id for i in found)
    assert all(can_view(actor, by_id[i]) for i in found)
    terms = SearchTerms.parse(query)
    expected = {
        s.id
        for s in sessions
        if can_view(actor, s) and relevance(terms, SearchDocument.of(s)) is not None
    }
    assert found == expected

    if actor.role is Role.VIEWER:
        return
    service = SessionService(uow=uow, llm=OfflineLLM(), search=search)
    turn = await service.start_chat(actor, f"{query} problem again")
    for similar in turn.session.similar_sessions:
        original = by_id[similar.id]
        assert original.account_id == actor.account_id
        assert original.status is SessionStatus.RESOLVED
        assert can_view(actor, original)


EXAMPLES = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@EXAMPLES
@given(specs=session_specs, actor=actors, query=queries)
def test_memory_engine_keeps_accounts_and_visibility(
    specs: list[tuple[str, str, list[str], str]], actor: Actor, query: str
) -> None:
    storage = InMemoryStorage()
    asyncio.run(check(storage.unit_of_work, InMemorySessionSearch(storage), specs, actor, query))


@EXAMPLES
@given(specs=session_specs, actor=actors, query=queries)
def test_sqlite_keeps_accounts_and_visibility(
    specs: list[tuple[str, str, list[str], str]], actor: Actor, query: str
) -> None:
    with TemporaryDirectory() as directory:
        asyncio.run(_sql(f"sqlite:///{Path(directory) / 'tenancy.db'}", specs, actor, query))


@pytest.mark.postgres
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(specs=session_specs, actor=actors, query=queries)
def test_postgresql_keeps_accounts_and_visibility(
    postgres_server: PostgresServer,
    specs: list[tuple[str, str, list[str], str]],
    actor: Actor,
    query: str,
) -> None:
    asyncio.run(_sql(postgres_server.database_url, specs, actor, query))


async def _sql(
    url: str, specs: list[tuple[str, str, list[str], str]], actor: Actor, query: str
) -> None:
    storage = SqlStorage.from_url(url)
    try:
        await storage.database.write(lambda c: (metadata.drop_all(c), metadata.create_all(c)))
        await check(storage.unit_of_work, SqlSessionSearch(storage.database), specs, actor, query)
    finally:
        await storage.dispose()
