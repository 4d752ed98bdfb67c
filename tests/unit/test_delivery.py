"""Notes due on PSA tickets are delivered by the relay exactly once, and never dropped."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from resolutionflow_core.access import Actor, Role
from resolutionflow_core.delivery import (
    DeliveryRelay,
    DeliveryState,
    TicketChange,
    marker_for,
)
from resolutionflow_core.errors import PSAError
from resolutionflow_core.services import SessionService
from resolutionflow_core.session import IntakeType
from resolutionflow_core.tickets import NoteKind, Ticket
from resolutionflow_core.updates import Audience, UpdateLength
from resolutionflow_memory import InMemoryPSA, InMemoryPSAConnections, InMemoryStorage, OfflineLLM
from resolutionflow_memory.psa import InjectedPSAFailure
from tests.conftest import SequentialIds

ALICE = Actor("acme", "alice", Role.ENGINEER)


class ManualClock:
    def __init__(self) -> None:
        self.current = datetime(2026, 11, 6, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


class World:
    def __init__(self) -> None:
        self.clock = ManualClock()
        self.storage = InMemoryStorage()
        self.psa = InMemoryPSA([Ticket("memory", "T-7", "Outlook prompts", status="New")])
        self.connections = InMemoryPSAConnections()
        self.connections.connect("acme", self.psa, statuses={TicketChange.RESOLVED: "Completed"})
        self.service = SessionService(
            uow=self.storage.unit_of_work,
            llm=OfflineLLM(),
            psa=self.connections,
            clock=self.clock,
            ids=SequentialIds(),
        )
        self.relay = DeliveryRelay(
            self.storage.deliveries, self.connections, self.clock, max_attempts=4
        )

    async def linked_session(self) -> uuid.UUID:
        session = await self.service.start_guided(
            ALICE, IntakeType.FREE_TEXT, {"text": "Outlook keeps asking for the password"}
        )
        await self.service.link_ticket(ALICE, session.id, "T-7")
        return session.id


@pytest.fixture
def world() -> World:
    return World()


async def test_resolving_a_linked_session_posts_the_resolution_note_once(world: World) -> None:
    session_id = await world.linked_session()
    resolved = await world.service.resolve(ALICE, session_id, "Rebuilt the Outlook profile")
    (delivery,) = world.storage.deliveries.all()
    assert delivery.state is DeliveryState.PENDING
    assert delivery.due.note.kind is NoteKind.RESOLUTION
    assert delivery.due.note.marker == marker_for(session_id, resolved.version)

    report = await world.relay.run_once()
    again = await world.relay.run_once()

    assert (report.delivered, again.delivered) == (1, 0)
    (posted,) = world.psa.notes_on("T-7")
    assert posted.note.kind is NoteKind.RESOLUTION
    assert "Rebuilt the Outlook profile" in posted.note.text
    (done,) = await world.storage.deliveries.for_session(session_id)
    assert (done.state, done.psa_note_id, done.delivered_at) == (
        DeliveryState.DELIVERED,
        posted.note_id,
        world.clock.now(),
    )
    assert [(c.ticket_id, c.status) for c in world.psa.status_changes] == [("T-7", "Completed")]


async def test_escalations_and_ticket_note_updates_are_due_but_client_updates_are_not(
    world: World,
) -> None:
    session_id = await world.linked_session()
    await world.service.share_status_update(ALICE, session_id, Audience.CLIENT, UpdateLength.QUICK)
    await world.service.share_status_update(
        ALICE, session_id, Audience.TICKET_NOTE, UpdateLength.DETAILED
    )
    await world.service.escalate(ALICE, session_id, "Needs the Exchange admin")
    await world.relay.run_once()
    assert [n.note.kind for n in world.psa.notes_on("T-7")] == [
        NoteKind.DETAIL,
        NoteKind.INTERNAL,
    ]
    assert world.psa.status_changes == ()  # no status configured for escalations


async def test_a_session_without_a_ticket_owes_no_note(world: World) -> None:
    session = await world.service.start_guided(
        ALICE, IntakeType.FREE_TEXT, {"text": "Printer prints blank pages"}
    )
    await world.service.resolve(ALICE, session.id, "New toner")
    assert world.storage.deliveries.all() == []


async def test_a_failing_psa_is_retried_with_backoff_until_the_note_lands(world: World) -> None:
    session_id = await world.linked_session()
    await world.service.resolve(ALICE, session_id, "Rebuilt the Outlook profile")
    world.psa.fail_next_calls(2, PSAError("ConnectWise answered 503"))

    first = await world.relay.run_once()
    assert first.retrying == 1
    (waiting,) = world.storage.deliveries.all()
    assert waiting.state is DeliveryState.PENDING
    assert waiting.last_error is not None
    assert "503" in waiting.last_error
    assert waiting.next_attempt_at is not None
    waited = waiting.next_attempt_at - world.clock.now()
    assert timedelta(seconds=4) <= waited <= timedelta(seconds=6)  # 5 s, give or take 20 %
    assert (await world.relay.run_once()).retrying == 0  # not due yet: nothing claimed

    world.clock.advance(3600)
    await world.relay.run_once()  # second failure: this one was the find_note look-up
    world.clock.advance(3600)
    assert (await world.relay.run_once()).delivered == 1
    assert len(world.psa.notes_on("T-7")) == 1


async def test_a_note_whose_answer_was_lost_is_found_not_posted_again(world: World) -> None:
    session_id = await world.linked_session()
    await world.service.resolve(ALICE, session_id, "Rebuilt the Outlook profile")
    world.psa.fail_next_calls(1, PSAError("connection reset"), after_write=True)

    await world.relay.run_once()
    world.clock.advance(3600)
    await world.relay.run_once()

    (posted,) = world.psa.notes_on("T-7")
    (done,) = world.storage.deliveries.all()
    assert (done.state, done.psa_note_id, done.attempts) == (
        DeliveryState.DELIVERED,
        posted.note_id,
        2,
    )


async def test_after_the_last_attempt_a_delivery_fails_visibly_with_its_error(
    world: World,
) -> None:
    session_id = await world.linked_session()
    await world.service.resolve(ALICE, session_id, "Rebuilt the Outlook profile")
    world.psa.fail_next_calls(100, PSAError("authentication failed"))
    for _ in range(4):
        await world.relay.run_once()
        world.clock.advance(7200)
    (failed,) = await world.storage.deliveries.for_session(session_id)
    assert failed.state is DeliveryState.FAILED
    assert failed.attempts == 4
    assert failed.last_error == "PSAError: authentication failed"
    assert world.psa.notes_on("T-7") == ()


async def test_a_retry_after_from_the_psa_is_honoured(world: World) -> None:
    session_id = await world.linked_session()
    await world.service.resolve(ALICE, session_id, "Rebuilt the Outlook profile")
    world.psa.fail_next_calls(1, InjectedPSAFailure("rate limited", retry_after=900))
    await world.relay.run_once()
    (waiting,) = world.storage.deliveries.all()
    assert waiting.next_attempt_at == world.clock.now() + timedelta(seconds=900)


async def test_an_account_without_a_connection_keeps_its_note_due(world: World) -> None:
    session_id = await world.linked_session()
    world.connections.disconnect("acme")
    await world.service.resolve(ALICE, session_id, "Rebuilt the Outlook profile")
    assert (await world.relay.run_once()).retrying == 1
    world.connections.connect("acme", world.psa)
    world.clock.advance(3600)
    assert (await world.relay.run_once()).delivered == 1


async def test_two_relays_at_once_deliver_each_note_once(world: World) -> None:
    for _ in range(5):
        session_id = await world.linked_session()
        await world.service.resolve(ALICE, session_id, "Rebuilt the Outlook profile")
    other = DeliveryRelay(world.storage.deliveries, world.connections, world.clock)
    reports = await asyncio.gather(world.relay.run_once(limit=3), other.run_once(limit=3))
    assert sum(r.delivered for r in reports) == 5
    assert len(world.psa.notes_on("T-7")) == 5
