"""Repository and unit of work: what every storage adapter promises."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from resolutionflow_core.access import Actor, Role
from resolutionflow_core.chat import MessageRole
from resolutionflow_core.errors import InvalidInput, SessionNotFound, StaleSession
from resolutionflow_core.guided import ProposedStep, StepKind, StepOption
from resolutionflow_core.lifecycle import SessionStatus
from resolutionflow_core.listing import SessionQuery, SessionSummary
from resolutionflow_core.ports import UnitOfWork
from resolutionflow_core.services import SessionService
from resolutionflow_core.session import IntakeType, ProblemDomain, Session, SessionType
from resolutionflow_core.tickets import PSALink
from resolutionflow_core.updates import Audience, UpdateLength
from resolutionflow_core.usage import TokenUsage
from resolutionflow_memory.llm import OfflineLLM
from tests.contract.conftest import StorageHarness, insert

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def new_chat(n: int = 1, account: str = "acme", user: str = "alice", when: int = 0) -> Session:
    return Session.start_chat(
        session_id=uuid.UUID(int=n),
        account_id=account,
        user_id=user,
        first_message=f"Chat number {n}: VPN drops",
        now=at(when),
        system_prompt="offline prompt",
    )


def new_guided(n: int, account: str = "acme", user: str = "alice", when: int = 0) -> Session:
    return Session.start_guided(
        session_id=uuid.UUID(int=n),
        account_id=account,
        user_id=user,
        intake_type=IntakeType.LOG_PASTE,
        intake_content={"text": f"log {n}", "source": "event viewer"},
        now=at(when),
    )


async def inserted_chat(storage: StorageHarness) -> Session:
    """`new_chat()`, stored."""
    session = new_chat()
    await insert(storage, session)
    return session


async def load(storage: StorageHarness, session_id: uuid.UUID, account: str = "acme") -> Session:
    async with storage.uow() as uow:
        return await uow.sessions.get(session_id, account_id=account)


async def replied(
    uow: UnitOfWork, session_id: uuid.UUID, text: str = "reply", when: int = 1
) -> Session:
    """The session loaded in ``uow`` with an assistant reply added (not committed)."""
    loaded = await uow.sessions.get(session_id, account_id="acme")
    loaded.add_message(MessageRole.ASSISTANT, text, now=at(when), by=None)
    return loaded


def comparable(session: Session) -> dict[str, object]:
    fields = dict(vars(session))
    fields.pop("events")
    return fields


async def test_a_chat_session_comes_back_exactly_as_it_was_stored(
    storage: StorageHarness,
) -> None:
    session = new_chat()
    session.add_message(
        MessageRole.ASSISTANT,
        "Check the tunnel [ACTIONS]\n[]\n[/ACTIONS] ünïcode ✓",
        now=at(1),
        by=None,
        model="offline",
        usage=TokenUsage(10, 20, 3, 4),
    )
    session.describe("VPN drops every 10 minutes", ProblemDomain.NETWORK, now=at(2))
    session.link_ticket(
        PSALink("connectwise", "4711", {"summary": "VPN", "company": "Contoso"}, at(3)),
        by="alice",
    )
    session.escalate("Needs the firewall admin", now=at(4), by="alice")
    session.pull_events()
    await insert(storage, session)
    assert comparable(await load(storage, session.id)) == comparable(session)


async def test_a_guided_session_comes_back_with_its_steps_and_confidence(
    storage: StorageHarness,
) -> None:
    session = new_guided(2)
    session.add_step(
        ProposedStep(
            kind=StepKind.FORK,
            content="Which client?",
            options=(StepOption(label="Windows", description="Built-in"), StepOption(label="Mac")),
            reasoning="Splits the causes",
            confidence=0.35,
            matched_flow_id="vpn-flow",
            match_score=0.7,
        ),
        now=at(1),
        usage=TokenUsage(5, 6),
    )
    session.answer_step("Windows", now=at(2), by="alice")
    session.add_step(
        ProposedStep(kind=StepKind.RESOLUTION_SUGGESTION, content="Renew", confidence=0.9),
        now=at(3),
    )
    session.pause(now=at(4), by="alice")
    session.resolve("Renewed the certificate", now=at(5), by="alice", root_cause="Expired cert")
    session.pull_events()
    await insert(storage, session)
    stored = await load(storage, session.id)
    assert comparable(stored) == comparable(session)
    assert stored.confidence_tier == session.confidence_tier
    assert stored.step_count == 2


async def test_another_accounts_session_does_not_exist(storage: StorageHarness) -> None:
    session = await inserted_chat(storage)
    with pytest.raises(SessionNotFound):
        await load(storage, session.id, account="globex")
    with pytest.raises(SessionNotFound):
        await load(storage, uuid.UUID(int=999))


async def test_leaving_a_unit_of_work_without_commit_writes_nothing(
    storage: StorageHarness,
) -> None:
    session = await inserted_chat(storage)
    async with storage.uow() as uow:
        await replied(uow, session.id)
    async with storage.uow() as uow:
        await uow.sessions.add(new_chat(2))
    assert (await load(storage, session.id)).step_count == 1
    with pytest.raises(SessionNotFound):
        await load(storage, uuid.UUID(int=2))


async def test_a_stale_write_raises_and_writes_nothing(storage: StorageHarness) -> None:
    session = await inserted_chat(storage)
    async with storage.uow() as first, storage.uow() as second:
        mine = await first.sessions.get(session.id, account_id="acme")
        await replied(second, session.id, "theirs")
        await second.commit()
        mine.add_message(MessageRole.ASSISTANT, "mine", now=at(2), by=None)
        with pytest.raises(StaleSession):
            await first.commit()
    stored = await load(storage, session.id)
    assert [m.content for m in stored.conversation_messages][1:] == ["theirs"]
    assert stored.version == session.version + 1


async def test_commits_put_each_event_in_the_outbox_once_in_version_order(
    storage: StorageHarness,
) -> None:
    session = await inserted_chat(storage)
    async with storage.uow() as uow:
        loaded = await replied(uow, session.id)
        loaded.resolve("Fixed", now=at(2), by="alice")
        await uow.commit()
    rows = [row for row in await storage.outbox() if row[0] == str(session.id)]
    assert rows == [
        (str(session.id), 1, "session.started"),
        (str(session.id), 2, "session.message_added"),
        (str(session.id), 3, "session.message_added"),
        (str(session.id), 4, "session.resolved"),
    ]


async def test_a_failed_commit_puts_nothing_in_the_outbox(storage: StorageHarness) -> None:
    session = await inserted_chat(storage)
    before = len(await storage.outbox())
    async with storage.uow() as first, storage.uow() as second:
        mine = await first.sessions.get(session.id, account_id="acme")
        theirs = await second.sessions.get(session.id, account_id="acme")
        theirs.pause(now=at(1), by="alice")
        await second.commit()
        mine.resolve("Fixed", now=at(2), by="alice")
        with pytest.raises(StaleSession):
            await first.commit()
    names = [row[2] for row in (await storage.outbox())[before:]]
    assert names == ["session.paused"]


async def test_the_list_is_newest_activity_first_and_pages_without_gaps_or_repeats(
    storage: StorageHarness,
) -> None:
    sessions = [new_chat(n, when=n % 7) for n in range(1, 24)]
    await insert(storage, *sessions)
    seen: list[SessionSummary] = []
    async with storage.uow() as uow:
        page = await uow.sessions.list(SessionQuery(account_id="acme", limit=5))
        seen += page.items
        while page.next_cursor is not None:
            query = SessionQuery(account_id="acme", limit=5, cursor=page.next_cursor)
            page = await uow.sessions.list(query)
            seen += page.items
    expected = sorted(sessions, key=lambda s: (s.last_activity_at, s.id), reverse=True)
    assert [row.id for row in seen] == [s.id for s in expected]


async def test_the_list_filters_by_type_status_owner_dates_and_visibility(
    storage: StorageHarness,
) -> None:
    mine_chat = new_chat(1, when=1)
    mine_guided = new_guided(2, when=2)
    bobs_escalated = new_chat(3, user="bob", when=3)
    bobs_escalated.escalate("Needs admin", now=at(4), by="bob")
    bobs_open = new_guided(4, user="bob", when=5)
    other_account = new_chat(5, account="globex", when=6)
    await insert(storage, mine_chat, mine_guided, bobs_escalated, bobs_open, other_account)

    async def ids(**filters: object) -> set[int]:
        async with storage.uow() as uow:
            page = await uow.sessions.list(SessionQuery(account_id="acme", **filters))  # type: ignore[arg-type]
        return {row.id.int for row in page.items}

    assert await ids() == {1, 2, 3, 4}
    assert await ids(session_types=frozenset({SessionType.CHAT})) == {1, 3}
    assert await ids(statuses=frozenset({SessionStatus.ESCALATED})) == {3}
    assert await ids(owner_id="bob") == {3, 4}
    assert await ids(visible_to_user="alice") == {1, 2, 3}
    assert await ids(created_from=at(2), created_to=at(3)) == {2, 3}
    async with storage.uow() as uow:
        page = await uow.sessions.list(SessionQuery(account_id="acme", owner_id="bob"))
    row = next(r for r in page.items if r.id.int == 3)
    assert (row.status, row.title, row.step_count, row.session_type) == (
        SessionStatus.ESCALATED,
        "Chat number 3: VPN drops",
        1,
        SessionType.CHAT,
    )


async def test_concurrent_chat_turns_all_land_in_order_none_twice(
    storage: StorageHarness,
) -> None:
    """Twenty writers append to one session at once; retries on a fresh copy resolve races."""
    session = await inserted_chat(storage)

    async def append(n: int) -> int:
        for attempt in range(1, 101):
            async with storage.uow() as uow:
                loaded = await uow.sessions.get(session.id, account_id="acme")
                loaded.add_message(MessageRole.USER, f"turn {n}", now=at(n), by="alice")
                await asyncio.sleep(0)  # let the other writers load the same version
                try:
                    await uow.commit()
                except StaleSession:
                    await asyncio.sleep(0.001 * (n % 5))
                    continue
                return attempt
        raise AssertionError(f"turn {n} never landed")

    attempts = await asyncio.gather(*(append(n) for n in range(20)))
    assert sum(attempts) > 20, "the writers never collided: the test proves nothing"
    stored = await load(storage, session.id)
    contents = [m.content for m in stored.conversation_messages[1:]]
    assert sorted(contents) == sorted(f"turn {n}" for n in range(20))
    assert stored.step_count == 21
    assert stored.version == session.version + 20


async def test_the_abandon_reason_is_kept_on_the_session(storage: StorageHarness) -> None:
    with_reason, without = new_chat(1), new_guided(2)
    with_reason.abandon(now=at(1), by="alice", reason="  User left the company  ")
    without.abandon(now=at(1), by="alice")
    await insert(storage, with_reason, without)

    loaded, loaded_without = await load(storage, with_reason.id), await load(storage, without.id)

    assert loaded.abandon_reason == "User left the company"
    assert loaded_without.abandon_reason is None
    assert comparable(loaded) == comparable(with_reason)


async def test_an_engineer_keeps_listing_a_session_they_escalated_after_a_claim(
    storage: StorageHarness,
) -> None:
    escalated = new_chat(1, user="alice", when=1)
    escalated.escalate("Needs a senior", now=at(2), by="alice")
    escalated.claim(now=at(3), by="bob")
    carols = new_chat(2, user="carol", when=4)
    await insert(storage, escalated, carols)

    async with storage.uow() as uow:
        alice = await uow.sessions.list(SessionQuery(account_id="acme", visible_to_user="alice"))
        dave = await uow.sessions.list(SessionQuery(account_id="acme", visible_to_user="dave"))

    assert [(row.id.int, row.user_id, row.escalated_by) for row in alice.items] == [
        (1, "bob", "alice")
    ]
    assert dave.items == []


async def test_a_former_owner_keeps_getting_and_listing_a_session_someone_else_escalated(
    storage: StorageHarness,
) -> None:
    # eve's session: the admin ada escalates it, ben claims it, escalates it, carl claims it.
    # Each step in its own unit of work, so the claims go through the update path.
    await insert(storage, new_chat(1, user="eve", when=1), new_chat(2, user="zoe", when=2))
    steps = [
        lambda s: s.escalate("Needs a specialist", now=at(3), by="ada"),
        lambda s: s.claim(now=at(4), by="ben"),
        lambda s: s.escalate("Needs the vendor", now=at(5), by="ben"),
        lambda s: s.claim(now=at(6), by="carl"),
    ]
    for step in steps:
        async with storage.uow() as uow:
            step(await uow.sessions.get(uuid.UUID(int=1), account_id="acme"))
            await uow.commit()

    loaded = await load(storage, uuid.UUID(int=1))
    assert (loaded.user_id, loaded.escalated_by, loaded.former_owner_ids) == (
        "carl",
        "ben",
        ["eve", "ben"],
    )
    service = SessionService(uow=storage.uow, llm=OfflineLLM())
    eve = Actor("acme", "eve", Role.ENGINEER)
    assert (await service.get(eve, uuid.UUID(int=1))).user_id == "carl"
    with pytest.raises(SessionNotFound):
        await service.get(Actor("acme", "dan", Role.ENGINEER), uuid.UUID(int=1))
    assert [row.id.int for row in (await service.list(eve)).items] == [1]

    listed: dict[str, list[tuple[int, str]]] = {}
    async with storage.uow() as uow:
        for user in ("eve", "ben", "carl", "dan", "zoe"):
            page = await uow.sessions.list(SessionQuery(account_id="acme", visible_to_user=user))
            listed[user] = [(row.id.int, row.user_id) for row in page.items]
    assert listed == {
        "eve": [(1, "carl")],
        "ben": [(1, "carl")],
        "carl": [(1, "carl")],
        "dan": [],
        "zoe": [(2, "zoe")],
    }
    async with storage.uow() as uow:
        other = await uow.sessions.list(SessionQuery(account_id="globex", visible_to_user="eve"))
    assert other.items == []


@pytest.mark.parametrize("intake_type", [IntakeType.FREE_TEXT, "free_text"])
async def test_the_service_takes_an_enum_or_its_value_on_every_adapter(
    storage: StorageHarness, intake_type: IntakeType | str
) -> None:
    service = SessionService(uow=storage.uow, llm=OfflineLLM())
    actor = Actor("acme", "alice", Role.ENGINEER)

    started = await service.start_guided(actor, intake_type, {"text": "Printer offline"})
    listed = await service.list(actor, session_types=["guided"], statuses={"active"})
    draft = await service.share_status_update(actor, started.id, "client", "quick")

    assert (await load(storage, started.id)).intake_type is IntakeType.FREE_TEXT
    assert [row.id for row in listed.items] == [started.id]
    assert (draft.audience, draft.length) == (Audience.CLIENT, UpdateLength.QUICK)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        ("start_guided", "intake_type"),
        ("list_types", "session_type"),
        ("list_statuses", "status"),
        ("share_audience", "audience"),
        ("share_length", "length"),
    ],
)
async def test_the_service_refuses_a_value_outside_the_enum_with_a_domain_error(
    storage: StorageHarness, call: str, field: str
) -> None:
    service = SessionService(uow=storage.uow, llm=OfflineLLM())
    actor = Actor("acme", "alice", Role.ENGINEER)
    session = await service.start_guided(actor, IntakeType.FREE_TEXT, {"text": "Printer"})
    calls = {
        "start_guided": lambda: service.start_guided(actor, "freetext", {"text": "x"}),
        "list_types": lambda: service.list(actor, session_types=["guided", "wizard"]),
        "list_statuses": lambda: service.list(actor, statuses=[3]),  # type: ignore[list-item]
        "share_audience": lambda: service.share_status_update(actor, session.id, "ceo", "quick"),
        "share_length": lambda: service.share_status_update(actor, session.id, "client", "long"),
    }

    with pytest.raises(InvalidInput) as refused:
        await calls[call]()

    assert refused.value.field == field
    assert "must be one of" in refused.value.reason
    async with storage.uow() as uow:
        page = await uow.sessions.list(SessionQuery(account_id="acme"))
    assert [row.id for row in page.items] == [session.id]  # nothing else stored
    assert (await load(storage, session.id)).version == session.version
