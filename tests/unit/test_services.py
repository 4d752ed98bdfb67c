"""The use cases, run as actors over the in-memory adapters."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import pytest

from resolutionflow_core.access import Actor, Role
from resolutionflow_core.chat import MessageRole
from resolutionflow_core.errors import (
    InvalidTransition,
    LLMResponseInvalid,
    LLMUnavailable,
    NoPendingStep,
    NothingToAnswer,
    PermissionDenied,
    PSANotConfigured,
    SessionNotFound,
    StepAlreadyPending,
    TicketNotFound,
    WrongSessionType,
)
from resolutionflow_core.guided import ConfidenceTier
from resolutionflow_core.lifecycle import SessionStatus
from resolutionflow_core.ports import TextDelta
from resolutionflow_core.services import ChatTurn, SessionService
from resolutionflow_core.session import IntakeType, ProblemDomain, SessionType
from resolutionflow_core.tickets import Ticket
from resolutionflow_core.updates import Audience, UpdateLength
from resolutionflow_memory import InMemoryStorage
from resolutionflow_memory.llm import OfflineLLM
from resolutionflow_memory.psa import InMemoryPSA, InMemoryPSAConnections
from tests.conftest import SequentialIds, StepClock
from tests.llm_faults import FaultyLLM

ALICE = Actor("acme", "alice", Role.ENGINEER)
BOB = Actor("acme", "bob", Role.ENGINEER)
ADMIN = Actor("acme", "carol", Role.ADMIN)
VIEWER = Actor("acme", "victor", Role.VIEWER)
OUTSIDER = Actor("globex", "mallory", Role.OWNER)

VPN = "The VPN drops every ten minutes for remote staff"


@dataclass
class World:
    storage: InMemoryStorage
    llm: FaultyLLM
    psa: InMemoryPSA
    service: SessionService

    def stored(self, session_id: uuid.UUID):  # type: ignore[no-untyped-def]
        return self.storage.committed(session_id)

    def event_names(self, session_id: uuid.UUID) -> list[str]:
        return [e.name for e in self.storage.outbox if e.session_id == session_id]


@pytest.fixture
def world(clock: StepClock, ids: SequentialIds) -> World:
    storage = InMemoryStorage()
    llm = FaultyLLM(OfflineLLM())
    psa = InMemoryPSA([Ticket("memory", "T-100", "VPN drops", company="Contoso")])
    connections = InMemoryPSAConnections({"acme": psa})
    service = SessionService(
        uow=storage.unit_of_work, llm=llm, psa=connections, clock=clock, ids=ids
    )
    return World(storage, llm, psa, service)


async def guided_session(world: World, actor: Actor = ALICE) -> uuid.UUID:
    session = await world.service.start_guided(
        actor, IntakeType.FREE_TEXT, {"text": "Outlook keeps asking for the password"}
    )
    return session.id


# -- chat -------------------------------------------------------------------------------------


async def test_starting_a_chat_stores_the_message_the_reply_a_title_and_a_summary(
    world: World,
) -> None:
    turn = await world.service.start_chat(ALICE, VPN)
    stored = world.stored(turn.session.id)
    assert [m.role for m in stored.conversation_messages] == ["user", "assistant"]
    assert stored.conversation_messages[0].content == VPN
    assert turn.reply.content.startswith("[offline assistant]")
    assert turn.reply.model == "offline"
    assert stored.title == VPN
    assert stored.problem_domain is ProblemDomain.NETWORK
    assert stored.problem_summary == VPN  # the offline LLM's summary of a short first message
    assert stored.system_prompt_snapshot == world.llm.system_prompt(SessionType.CHAT)
    assert stored.step_count == 2
    assert world.event_names(stored.id) == [
        "session.started",
        "session.message_added",
        "session.message_added",
        "session.described",
    ]


async def test_a_reply_is_parsed_into_structured_items_without_markers_in_the_text(
    world: World,
) -> None:
    turn = await world.service.start_chat(ALICE, VPN)
    parsed = turn.parsed
    assert parsed.has_structure is True
    assert "[ACTIONS]" not in parsed.text
    assert "[QUESTIONS]" not in parsed.text


async def test_a_failed_llm_call_keeps_the_engineers_message_and_says_where(
    world: World,
) -> None:
    turn = await world.service.start_chat(ALICE, VPN)
    world.llm.fail_next_calls(1, LLMUnavailable("overloaded", retry_after=3))
    with pytest.raises(LLMUnavailable) as failed:
        await world.service.send_message(ALICE, turn.session.id, "It also drops on Wi-Fi")
    assert failed.value.session_id == turn.session.id
    assert failed.value.retry_after == 3
    assert "saved" in str(failed.value)
    stored = world.stored(turn.session.id)
    assert stored.conversation_messages[-1].role is MessageRole.USER
    assert stored.conversation_messages[-1].content == "It also drops on Wi-Fi"
    assert stored.step_count == 3

    again = await world.service.answer_again(ALICE, turn.session.id)
    assert again.message.content == "It also drops on Wi-Fi"
    assert world.stored(turn.session.id).step_count == 4
    with pytest.raises(NothingToAnswer):
        await world.service.answer_again(ALICE, turn.session.id)


async def test_a_failed_first_reply_still_leaves_the_new_session_with_its_message(
    world: World,
) -> None:
    world.llm.fail_next_calls(1)
    with pytest.raises(LLMUnavailable) as failed:
        await world.service.start_chat(ALICE, VPN)
    assert failed.value.session_id == uuid.UUID(int=1)  # the first id: the session was made
    stored = world.stored(failed.value.session_id)
    assert [m.content for m in stored.conversation_messages] == [VPN]


async def test_a_chat_message_on_a_guided_session_is_refused_and_stores_nothing(
    world: World,
) -> None:
    session_id = await guided_session(world)
    version = world.stored(session_id).version
    with pytest.raises(WrongSessionType):
        await world.service.send_message(ALICE, session_id, "hello?")
    assert world.stored(session_id).version == version


async def test_a_streamed_reply_arrives_in_pieces_and_is_stored_whole(world: World) -> None:
    turn = await world.service.start_chat(ALICE, VPN)
    pieces: list[str] = []
    last: ChatTurn | None = None
    async for event in world.service.stream_message(ALICE, turn.session.id, "Still dropping"):
        if isinstance(event, TextDelta):
            pieces.append(event.text)
        else:
            last = event
    assert last is not None
    assert len(pieces) > 1
    assert "".join(pieces) == last.reply.content
    assert world.stored(turn.session.id).conversation_messages[-1] == last.reply


async def test_a_stream_that_fails_midway_stores_no_half_reply(world: World) -> None:
    turn = await world.service.start_chat(ALICE, VPN)
    world.llm.fail_next_calls(1, after_deltas=2)
    received: list[object] = []

    async def consume() -> None:
        async for event in world.service.stream_message(ALICE, turn.session.id, "Again"):
            received.append(event)

    with pytest.raises(LLMUnavailable):
        await consume()
    assert len(received) == 2
    assert all(isinstance(event, TextDelta) for event in received)
    stored = world.stored(turn.session.id)
    assert stored.conversation_messages[-1].content == "Again"
    assert stored.conversation_messages[-1].role is MessageRole.USER


async def test_a_reply_is_stored_even_when_the_stream_consumer_goes_away(world: World) -> None:
    turn = await world.service.start_chat(ALICE, VPN)
    stream = world.service.stream_message(ALICE, turn.session.id, "Hello?")
    first = await anext(stream)
    assert isinstance(first, TextDelta)
    await stream.aclose()
    stored = world.stored(turn.session.id)
    assert [m.role for m in stored.conversation_messages][-2:] == ["user", "assistant"]
    assert stored.conversation_messages[-1].content.startswith(first.text)


async def test_concurrent_chat_turns_on_one_session_all_land_once(world: World) -> None:
    turn = await world.service.start_chat(ALICE, VPN)
    texts = [f"observation {n}" for n in range(20)]
    turns = await asyncio.gather(
        *(world.service.send_message(ALICE, turn.session.id, text) for text in texts)
    )
    stored = world.stored(turn.session.id)
    users = [m.content for m in stored.conversation_messages if m.role is MessageRole.USER]
    assert sorted(users[1:]) == sorted(texts)
    assert stored.step_count == 2 + 2 * len(texts) == len(stored.conversation_messages)
    assert {t.message.content for t in turns} == set(texts)


# -- guided -----------------------------------------------------------------------------------


async def test_a_guided_session_asks_one_step_at_a_time_with_rising_confidence(
    world: World,
) -> None:
    session = await world.service.start_guided(
        ALICE, IntakeType.FREE_TEXT, {"text": "Outlook keeps asking for the password"}
    )
    assert session.step_count == 1
    assert session.pending_step is not None
    assert session.problem_domain is ProblemDomain.EMAIL
    scores = [session.steps[-1].confidence]
    for answer in ["One mailbox", "OWA works", "Done", "OWA works, Outlook does not"]:
        session = await world.service.answer_step(ALICE, session.id, answer)
        scores.append(session.steps[-1].confidence)
    assert session.confidence_score == scores[-1]
    assert scores == sorted(scores)
    assert len(set(scores)) == len(scores)
    assert session.step_count == 5
    assert all(step.response for step in session.steps[:-1])
    assert world.stored(session.id).confidence_tier is not ConfidenceTier.DISCOVERY


async def test_a_failed_next_step_keeps_the_answer_and_can_be_asked_for_again(
    world: World,
) -> None:
    session_id = await guided_session(world)
    world.llm.fail_next_calls(1)
    with pytest.raises(LLMUnavailable) as failed:
        await world.service.answer_step(ALICE, session_id, "Yes, since Monday")
    assert failed.value.session_id == session_id
    stored = world.stored(session_id)
    assert stored.steps[-1].response == "Yes, since Monday"
    assert stored.pending_step is None
    session = await world.service.request_next_step(ALICE, session_id)
    assert session.step_count == 2
    assert session.pending_step is not None
    with pytest.raises(StepAlreadyPending):  # step 2 waits for its answer: nothing to ask
        await world.service.request_next_step(ALICE, session_id)
    assert world.stored(session_id).version == session.version


async def test_an_invalid_step_from_the_llm_is_a_typed_error_and_changes_nothing(
    world: World,
) -> None:
    session_id = await guided_session(world)
    world.llm.fail_next_calls(1, LLMResponseInvalid("malformed step"))
    with pytest.raises(LLMResponseInvalid):
        await world.service.answer_step(ALICE, session_id, "No")
    assert world.stored(session_id).step_count == 1


async def test_answers_are_refused_on_chats_and_without_a_pending_step(world: World) -> None:
    turn = await world.service.start_chat(ALICE, VPN)
    with pytest.raises(WrongSessionType):
        await world.service.answer_step(ALICE, turn.session.id, "yes")
    session_id = await guided_session(world)
    world.llm.fail_next_calls(1)
    with pytest.raises(LLMUnavailable):
        await world.service.answer_step(ALICE, session_id, "yes")
    with pytest.raises(NoPendingStep):
        await world.service.answer_step(ALICE, session_id, "yes again")


# -- lifecycle and who may do what ------------------------------------------------------------


async def test_the_owner_works_the_whole_lifecycle(world: World) -> None:
    session_id = await guided_session(world)
    assert (await world.service.pause(ALICE, session_id)).status is SessionStatus.PAUSED
    assert (await world.service.resume(ALICE, session_id)).status is SessionStatus.ACTIVE
    resolved = await world.service.resolve(ALICE, session_id, "Reset the mailbox profile")
    assert resolved.status is SessionStatus.RESOLVED
    assert resolved.resolution_summary == "Reset the mailbox profile"
    with pytest.raises(InvalidTransition):
        await world.service.resume(ALICE, session_id)
    assert world.event_names(session_id)[-3:] == [
        "session.paused",
        "session.resumed",
        "session.resolved",
    ]


async def test_another_engineers_open_session_is_invisible_and_an_admin_may_close_it(
    world: World,
) -> None:
    session_id = await guided_session(world)
    with pytest.raises(SessionNotFound):
        await world.service.get(BOB, session_id)
    with pytest.raises(SessionNotFound):
        await world.service.pause(BOB, session_id)
    abandoned = await world.service.abandon(ADMIN, session_id, "Duplicate of another ticket")
    assert abandoned.status is SessionStatus.ABANDONED


async def test_viewers_read_everything_and_change_nothing(world: World) -> None:
    session_id = await guided_session(world)
    assert (await world.service.get(VIEWER, session_id)).id == session_id
    for refused in (
        world.service.pause(VIEWER, session_id),
        world.service.resolve(VIEWER, session_id, "done"),
        world.service.answer_step(VIEWER, session_id, "yes"),
        world.service.start_chat(VIEWER, "hello"),
    ):
        with pytest.raises(PermissionDenied, match="viewers can only read"):
            await refused
    assert world.stored(session_id).status is SessionStatus.ACTIVE


async def test_another_account_never_sees_a_session_on_any_operation(world: World) -> None:
    session_id = await guided_session(world)
    calls = [
        world.service.get(OUTSIDER, session_id),
        world.service.pause(OUTSIDER, session_id),
        world.service.resolve(OUTSIDER, session_id, "x"),
        world.service.escalate(OUTSIDER, session_id, "x"),
        world.service.claim(OUTSIDER, session_id),
        world.service.abandon(OUTSIDER, session_id),
        world.service.answer_step(OUTSIDER, session_id, "x"),
        world.service.link_ticket(OUTSIDER, session_id, "T-100"),
        world.service.share_status_update(
            OUTSIDER, session_id, Audience.CLIENT, UpdateLength.QUICK
        ),
    ]
    for call in calls:
        with pytest.raises(SessionNotFound):
            await call
    page = await world.service.list(OUTSIDER)
    assert page.items == []


async def test_an_escalation_is_visible_to_the_account_and_claimed_by_someone_else(
    world: World,
) -> None:
    session_id = await guided_session(world)
    await world.service.escalate(ALICE, session_id, "Needs Exchange admin rights")
    assert (await world.service.get(BOB, session_id)).status is SessionStatus.ESCALATED
    with pytest.raises(InvalidTransition, match="other than the one who escalated"):
        await world.service.claim(ALICE, session_id)
    with pytest.raises(PermissionDenied):
        await world.service.claim(VIEWER, session_id)
    claimed = await world.service.claim(BOB, session_id)
    assert (claimed.status, claimed.user_id) == (SessionStatus.ACTIVE, "bob")
    # Alice escalated it: she keeps reading it to follow up, but it is Bob's to work now.
    assert (await world.service.get(ALICE, session_id)).user_id == "bob"
    with pytest.raises(PermissionDenied):
        await world.service.pause(ALICE, session_id)


# -- PSA and updates ------------------------------------------------------------------------


async def test_linking_a_ticket_snapshots_it_on_the_session(world: World) -> None:
    session_id = await guided_session(world)
    session = await world.service.link_ticket(ALICE, session_id, " T-100 ")
    assert session.psa_link is not None
    assert (session.psa_link.provider, session.psa_link.ticket_id) == ("memory", "T-100")
    assert session.psa_link.snapshot["company"] == "Contoso"
    with pytest.raises(TicketNotFound):
        await world.service.link_ticket(ALICE, session_id, "T-404")


async def test_linking_without_a_psa_connection_says_so(world: World) -> None:
    session = await world.service.start_chat(Actor("initech", "peter", Role.OWNER), VPN)
    with pytest.raises(PSANotConfigured):
        await world.service.link_ticket(
            Actor("initech", "peter", Role.OWNER), session.session.id, "T-1"
        )


async def test_a_status_update_is_drafted_recorded_and_allowed_after_resolving(
    world: World,
) -> None:
    turn = await world.service.start_chat(ALICE, VPN)
    await world.service.resolve(ALICE, turn.session.id, "Replaced the VPN profile")
    draft = await world.service.share_status_update(
        ALICE, turn.session.id, Audience.EMAIL, UpdateLength.DETAILED
    )
    assert draft.audience is Audience.EMAIL
    assert draft.subject == f"Resolved: {VPN}"
    last = world.storage.outbox[-1]
    assert last.name == "session.status_update_shared"
    assert last.payload()["body"] == draft.body
    assert world.stored(turn.session.id).status is SessionStatus.RESOLVED


# -- reading --------------------------------------------------------------------------------


async def test_the_history_shows_each_role_what_it_may_see_page_by_page(world: World) -> None:
    alice_ids = {
        (await world.service.start_chat(ALICE, f"{VPN} #{n}")).session.id for n in range(3)
    }
    bob_open = await guided_session(world, BOB)
    bob_escalated = await guided_session(world, BOB)
    await world.service.escalate(BOB, bob_escalated, "Over my head")

    async def everything(actor: Actor, **filters: object) -> list[uuid.UUID]:
        seen: list[uuid.UUID] = []
        cursor = None
        while True:
            page = await world.service.list(actor, limit=2, cursor=cursor, **filters)  # type: ignore[arg-type]
            seen += [row.id for row in page.items]
            if page.next_cursor is None:
                return seen
            cursor = page.next_cursor.encode()

    assert set(await everything(ALICE)) == alice_ids | {bob_escalated}
    assert set(await everything(ADMIN)) == alice_ids | {bob_open, bob_escalated}
    chats = await everything(VIEWER, session_types=frozenset({SessionType.CHAT}))
    assert set(chats) == alice_ids
    assert len(chats) == len(set(chats))


async def test_the_dashboard_shows_open_escalated_and_recent_sessions(world: World) -> None:
    open_chat = (await world.service.start_chat(ALICE, VPN)).session.id
    resolved = await guided_session(world)
    await world.service.resolve(ALICE, resolved, "Cleared cached credentials")
    escalated = await guided_session(world, BOB)
    await world.service.escalate(BOB, escalated, "Needs a tenant admin")
    board = await world.service.dashboard(ALICE)
    assert [row.id for row in board.active] == [open_chat]
    assert [row.id for row in board.escalated] == [escalated]
    assert [row.id for row in board.recent] == [resolved]


async def test_requests_the_session_refuses_never_reach_the_llm(world: World) -> None:
    turn = await world.service.start_chat(ALICE, VPN)
    session_id = await guided_session(world)
    calls = len(world.llm.calls)
    with pytest.raises(WrongSessionType):
        await world.service.request_next_step(ALICE, turn.session.id)
    with pytest.raises(WrongSessionType):
        await world.service.answer_again(ALICE, session_id)
    await world.service.pause(ALICE, turn.session.id)
    with pytest.raises(InvalidTransition):
        await world.service.answer_again(ALICE, turn.session.id)
    assert len(world.llm.calls) == calls


async def test_an_unknown_filter_is_refused_as_a_misspelt_keyword_would_be(world: World) -> None:
    with pytest.raises(TypeError, match="unexpected filters: statis"):
        await world.service.list(ALICE, statis=["active"])  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected filters: owner"):
        await world.service.search(ALICE, "vpn", owner="bob")  # type: ignore[call-arg]
