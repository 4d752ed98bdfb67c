"""The delivery queue: the same tests on memory, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from resolutionflow_core.delivery import DeliveryQueue, DeliveryRelay, DeliveryState
from resolutionflow_core.ports import UnitOfWork
from resolutionflow_core.session import Session
from resolutionflow_core.tickets import NoteKind, PSALink, Ticket
from resolutionflow_memory import InMemoryPSA, InMemoryPSAConnections, InMemoryStorage
from resolutionflow_sqlalchemy import SqlStorage
from resolutionflow_sqlalchemy.delivery import SqlDeliveryQueue
from tests.databases import EVERY_STORE, empty_storage, url_for

T0 = datetime(2026, 11, 7, 10, 0, tzinfo=UTC)


@dataclass
class Queue:
    uow: Callable[[], UnitOfWork]
    queue: DeliveryQueue
    new_queue: Callable[[], DeliveryQueue]
    """Another queue on the same store, as a second relay process would have."""


@pytest.fixture(params=EVERY_STORE)
async def queue(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Queue]:
    if request.param == "memory":
        storage = InMemoryStorage()
        yield Queue(storage.unit_of_work, storage.deliveries, lambda: storage.deliveries)
        return
    url = url_for(request, tmp_path / "queue.db")
    sql = await empty_storage(url)
    others: list[SqlStorage] = []

    def new_queue() -> DeliveryQueue:
        other = SqlStorage.from_url(url)
        others.append(other)
        return SqlDeliveryQueue(other.database)

    try:
        yield Queue(sql.unit_of_work, SqlDeliveryQueue(sql.database), new_queue)
    finally:
        for storage in [sql, *others]:
            await storage.dispose()


async def resolved_linked_session(queue: Queue, n: int = 1) -> Session:
    session = Session.start_chat(
        session_id=uuid.UUID(int=n),
        account_id="acme",
        user_id="alice",
        first_message=f"Mailbox {n} is full",
        now=T0,
    )
    session.link_ticket(PSALink("memory", "T-1", {"summary": "Mailbox"}, T0), by="alice")
    session.resolve("Archived old mail", now=T0, by="alice")
    async with queue.uow() as uow:
        await uow.sessions.add(session)
        await uow.commit()
    return session


async def test_a_note_due_is_queued_with_the_change_and_claimed_once(queue: Queue) -> None:
    session = await resolved_linked_session(queue)
    (pending,) = await queue.queue.for_session(session.id)
    assert (pending.state, pending.attempts, pending.due.note.kind) == (
        DeliveryState.PENDING,
        0,
        NoteKind.RESOLUTION,
    )
    assert pending.due.ticket_id == "T-1"
    assert "Archived old mail" in pending.due.note.text

    claimed = await queue.queue.claim(now=T0, limit=10, lease=timedelta(minutes=2))
    assert [d.attempts for d in claimed] == [1]
    assert await queue.queue.claim(now=T0, limit=10, lease=timedelta(minutes=2)) == []
    retaken = await queue.queue.claim(
        now=T0 + timedelta(minutes=3), limit=10, lease=timedelta(minutes=2)
    )
    assert [d.attempts for d in retaken] == [2], "an expired lease frees the delivery"


async def test_outcomes_are_recorded_on_the_delivery(queue: Queue) -> None:
    first = await resolved_linked_session(queue, 1)
    second = await resolved_linked_session(queue, 2)
    claimed = await queue.queue.claim(now=T0, limit=10, lease=timedelta(minutes=2))
    by_session = {d.due.session_id: d for d in claimed}
    await queue.queue.delivered(by_session[first.id].id, psa_note_id="note-9", now=T0)
    await queue.queue.retry_later(
        by_session[second.id].id, error="503", at=T0 + timedelta(minutes=5)
    )
    (done,) = await queue.queue.for_session(first.id)
    (waiting,) = await queue.queue.for_session(second.id)
    assert (done.state, done.psa_note_id, done.delivered_at) == (
        DeliveryState.DELIVERED,
        "note-9",
        T0,
    )
    assert (waiting.state, waiting.last_error, waiting.next_attempt_at) == (
        DeliveryState.PENDING,
        "503",
        T0 + timedelta(minutes=5),
    )
    assert (
        await queue.queue.claim(now=T0 + timedelta(minutes=1), limit=10, lease=timedelta(1)) == []
    )
    await queue.queue.failed(by_session[second.id].id, error="401")
    (failed,) = await queue.queue.for_session(second.id)
    assert (failed.state, failed.last_error) == (DeliveryState.FAILED, "401")


async def test_relays_racing_on_separate_connections_post_each_note_once(queue: Queue) -> None:
    sessions = [await resolved_linked_session(queue, n) for n in range(1, 13)]
    psa = InMemoryPSA([Ticket("memory", "T-1", "Mailbox")])
    connections = InMemoryPSAConnections({"acme": psa})

    class Clock:
        def now(self) -> datetime:
            return T0

    relays = [DeliveryRelay(queue.new_queue(), connections, Clock()) for _ in range(4)]
    reports = await asyncio.gather(*(relay.run_once(limit=5) for relay in relays))
    reports += await asyncio.gather(*(relay.run_once(limit=5) for relay in relays))
    assert sum(report.delivered for report in reports) == len(sessions)
    markers = [posted.note.marker for posted in psa.notes_on("T-1")]
    assert sorted(markers) == sorted(set(markers))
    assert len(markers) == len(sessions)
