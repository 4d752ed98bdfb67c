"""Search: the same queries find the same sessions on memory, SQLite and PostgreSQL.

Words are chosen so that stemming cannot make the engines disagree; where their relevance
formulas could, the tests only compare orders that every formula agrees on (a word in the
title and throughout the body beats the same word once in a long body).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from resolutionflow_core.access import Actor, Role
from resolutionflow_core.chat import MessageRole
from resolutionflow_core.errors import InvalidCursor
from resolutionflow_core.guided import ProposedStep, StepKind
from resolutionflow_core.lifecycle import SessionStatus
from resolutionflow_core.ports import SessionSearch, UnitOfWork
from resolutionflow_core.search import SearchPage, search_query
from resolutionflow_core.session import IntakeType, Session, SessionType
from resolutionflow_core.tickets import PSALink
from resolutionflow_memory import InMemoryStorage
from resolutionflow_memory.search import InMemorySessionSearch
from resolutionflow_sqlalchemy.search import SqlSessionSearch, check_index
from tests.contract.conftest import insert, sql_harness
from tests.databases import PostgresServer

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
OWNER = Actor("acme", "alice", Role.OWNER)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


@dataclass
class Engine:
    name: str
    uow: Callable[[], UnitOfWork]
    search: SessionSearch
    check: Callable[[], Awaitable[bool]] | None = None
    """SQL engines: True if the index equals a rebuild from the sessions."""


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Engine]:
    if request.param == "memory":
        storage = InMemoryStorage()
        yield Engine("memory", storage.unit_of_work, InMemorySessionSearch(storage))
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'sessions.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.database_url
    harness, sql = await sql_harness(request.param, url)

    async def clean() -> bool:
        return (await sql.database.read(check_index)).clean

    try:
        yield Engine(request.param, harness.uow, SqlSessionSearch(sql.database), clean)
    finally:
        await sql.dispose()


def chat(n: int, first: str, *more: str, user: str = "alice", account: str = "acme") -> Session:
    session = Session.start_chat(
        session_id=uuid.UUID(int=n),
        account_id=account,
        user_id=user,
        first_message=first,
        now=at(n),
    )
    for i, text in enumerate(more):
        role = MessageRole.ASSISTANT if i % 2 == 0 else MessageRole.USER
        session.add_message(role, text, now=at(n), by=None if i % 2 == 0 else user)
    return session


def guided(n: int, intake: str, *, user: str = "alice") -> Session:
    return Session.start_guided(
        session_id=uuid.UUID(int=n),
        account_id="acme",
        user_id=user,
        intake_type=IntakeType.FREE_TEXT,
        intake_content={"text": intake},
        now=at(n),
    )


async def change(engine: Engine, n: int, mutate: Callable[[Session], object]) -> None:
    async with engine.uow() as uow:
        mutate(await uow.sessions.get(uuid.UUID(int=n), account_id="acme"))
        await uow.commit()


async def find(engine: Engine, text: str, actor: Actor = OWNER, **filters: object) -> list[int]:
    page = await page_of(engine, text, actor, **filters)
    return [hit.summary.id.int for hit in page.items]


async def page_of(engine: Engine, text: str, actor: Actor = OWNER, **filters: object) -> SearchPage:
    return await engine.search.search(search_query(actor, text, **filters))  # type: ignore[arg-type]


def corpus() -> tuple[Session, ...]:
    return (
        chat(1, "The VPN tunnel drops every hour", "Check the tunnel lifetime on the firewall"),
        chat(2, "VPN tunnel will not come up for the branch", "Is the branch router reachable?"),
        chat(3, "Printer on the third floor shows offline"),
        chat(4, "DNS lookups fail for the intranet", "Flush the resolver cache"),
        chat(5, "Mailbox quota warning for the sales team"),
    )


async def test_words_phrases_exclusions_and_alternatives_select_the_same_sessions(
    engine: Engine,
) -> None:
    await insert(engine, *corpus())

    assert sorted(await find(engine, "vpn tunnel")) == [1, 2]
    assert await find(engine, '"tunnel drops"') == [1]
    assert await find(engine, "vpn -firewall") == [2]
    assert sorted(await find(engine, "printer or dns")) == [3, 4]
    assert sorted(await find(engine, "the printer")) == [3]
    assert await find(engine, "kerberos") == []
    assert sorted(await find(engine, "tunnel or mailbox -branch")) == [1, 2, 5]
    assert sorted(await find(engine, "tunnel -branch or mailbox")) == [1, 5]


async def test_a_session_about_the_words_ranks_above_one_that_mentions_them_once(
    engine: Engine,
) -> None:
    filler = " ".join(f"step{i} checked" for i in range(200))
    await insert(
        engine,
        chat(1, f"Long session about many things {filler} and once outlook"),
        chat(2, "Outlook keeps crashing on start", "Start Outlook in safe mode", "Outlook ok"),
    )

    assert await find(engine, "outlook") == [2, 1]


async def test_search_combines_with_type_status_owner_dates_and_visibility(
    engine: Engine,
) -> None:
    mine = chat(1, "Backup job failed on the file server")
    theirs = chat(2, "Backup job failed on the mail server", user="bob")
    escalated = chat(3, "Backup tapes are not ejected", user="bob")
    escalated.escalate("needs the datacenter", now=at(10), by="bob")
    steps = guided(4, "Backup agent missing on laptop")
    elsewhere = chat(5, "Backup job failed too", account="globex")
    await insert(engine, mine, theirs, escalated, steps, elsewhere)

    assert sorted(await find(engine, "backup")) == [1, 2, 3, 4]
    chats = frozenset({SessionType.CHAT})
    assert sorted(await find(engine, "backup", session_types=chats)) == [1, 2, 3]
    statuses = frozenset({SessionStatus.ESCALATED})
    assert await find(engine, "backup", statuses=statuses) == [3]
    assert sorted(await find(engine, "backup", owner_id="bob")) == [2, 3]
    assert sorted(await find(engine, "backup", created_from=at(2), created_to=at(3))) == [2, 3]
    engineer = Actor("acme", "alice", Role.ENGINEER)
    assert sorted(await find(engine, "backup", engineer)) == [1, 3, 4]
    assert await find(engine, "backup", Actor("globex", "zed", Role.OWNER)) == [5]


async def test_an_engineer_finds_the_sessions_they_escalated_or_owned_before_a_claim(
    engine: Engine,
) -> None:
    await insert(
        engine,
        chat(1, "Backup job fails nightly", user="eve"),
        chat(2, "Backup tape is full", user="eve"),
        chat(3, "Backup share is read only", user="zoe"),
    )
    await change(engine, 1, lambda s: s.escalate("Needs storage", now=at(10), by="ada"))
    await change(engine, 1, lambda s: s.claim(now=at(11), by="ben"))
    await change(engine, 3, lambda s: s.escalate("Needs storage", now=at(12), by="zoe"))
    await change(engine, 3, lambda s: s.claim(now=at(13), by="ben"))

    assert sorted(await find(engine, "backup", Actor("acme", "eve", Role.ENGINEER))) == [1, 2]
    assert sorted(await find(engine, "backup", Actor("acme", "zoe", Role.ENGINEER))) == [3]
    assert sorted(await find(engine, "backup", Actor("acme", "ben", Role.ENGINEER))) == [1, 3]
    assert await find(engine, "backup", Actor("acme", "dan", Role.ENGINEER)) == []


async def test_cursor_pages_walk_every_hit_once_in_rank_order(engine: Engine) -> None:
    sessions = [chat(n, "Wifi drops " + "wifi " * n) for n in range(1, 8)]
    await insert(engine, *sessions)
    everything = await find(engine, "wifi", limit=50)

    seen: list[int] = []
    cursor: str | None = None
    while True:
        page = await page_of(engine, "wifi", limit=3, cursor=cursor)
        seen += [hit.summary.id.int for hit in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor.encode()
        with pytest.raises(InvalidCursor):  # a cursor belongs to its query
            await page_of(engine, "wifi drops", limit=3, cursor=cursor)

    assert seen == everything
    assert sorted(seen) == list(range(1, 8))
    scores = [hit.score for hit in (await page_of(engine, "wifi")).items]
    assert scores == sorted(scores, reverse=True)


async def test_every_part_of_a_session_is_found_as_soon_as_it_is_committed(
    engine: Engine,
) -> None:
    await insert(engine, chat(1, "Laptop is slow"), guided(2, "Shared drive mapping lost"))
    assert await find(engine, "defragment") == []

    await change(
        engine,
        1,
        lambda s: s.add_message(MessageRole.USER, "should I defragment?", now=at(20), by="alice"),
    )
    assert await find(engine, "defragment") == [1]

    await change(
        engine,
        1,
        lambda s: s.resolve(
            "Replaced the failing SSD", now=at(21), by="alice", root_cause="worn flash"
        ),
    )
    assert await find(engine, "ssd") == [1]
    assert await find(engine, "flash") == [1]

    await change(
        engine,
        2,
        lambda s: s.add_step(
            ProposedStep(kind=StepKind.QUESTION, content="Is the GPO applied?", confidence=0.5),
            now=at(22),
        ),
    )
    await change(
        engine, 2, lambda s: s.answer_step("gpresult shows it missing", now=at(23), by="alice")
    )
    assert await find(engine, "gpo") == [2]
    assert await find(engine, "gpresult") == [2]

    link = PSALink("connectwise", "4711", {"summary": "Contoso payroll share unreachable"}, at(24))
    await change(engine, 2, lambda s: s.link_ticket(link, by="alice"))
    assert await find(engine, "payroll") == [2]

    await change(
        engine, 2, lambda s: s.escalate("needs domain admin rights", now=at(25), by="alice")
    )
    assert await find(engine, "admin") == [2]

    async with engine.uow() as uow:  # not committed: not searchable
        session = await uow.sessions.get(uuid.UUID(int=1), account_id="acme")
        session.link_ticket(PSALink("connectwise", "1", {"summary": "zebra"}, at(26)), by="alice")
    assert await find(engine, "zebra") == []
    if engine.check is not None:
        assert await engine.check()


async def test_a_hit_says_where_it_matched(engine: Engine) -> None:
    await insert(engine, chat(1, "Scanner to email stopped after the relay change"))

    [hit] = (await page_of(engine, "relay")).items

    assert hit.match is not None
    assert "«relay»" in hit.match.lower()
    assert hit.summary.title == "Scanner to email stopped after the relay change"


async def test_marker_wrapping_is_not_searchable_but_its_text_is(engine: Engine) -> None:
    reply = 'Try this.\n[QUESTIONS]\n[{"text": "Is the spooler running?"}]\n[/QUESTIONS]'
    await insert(engine, chat(1, "Cannot print", reply))

    assert await find(engine, "spooler") == [1]
    assert await find(engine, "questions") == []
