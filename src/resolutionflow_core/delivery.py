"""Documentation due on PSA tickets, and the relay that delivers each note exactly once.

When a session linked to a ticket is resolved or escalated, or shares a ``ticket_note``
update, a note is due on that ticket from the moment the change commits: storage writes
the `DueNote` in the same transaction, as a delivery. The `DeliveryRelay` then posts it,
retrying with backoff until it lands. Exactly-once *effect*: a claim counts the attempt
before posting, so an attempt whose answer was lost is followed by one that first looks
for the note's marker on the ticket instead of posting it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol
from uuid import UUID

from resolutionflow_core import access
from resolutionflow_core.access import Actor
from resolutionflow_core.errors import PSAError, TicketOnOtherProvider, Unavailable
from resolutionflow_core.events import (
    DomainEvent,
    SessionEscalated,
    SessionResolved,
    StatusUpdateShared,
)
from resolutionflow_core.ports import Clock, PSAConnections
from resolutionflow_core.tickets import NoteKind, PSANote
from resolutionflow_core.updates import Audience


class TicketChange(StrEnum):
    """What happened to the session, for the connection's optional ticket status change."""

    RESOLVED = "resolved"
    ESCALATED = "escalated"


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class DueNote:
    """A note due on a ticket because of one event of one session."""

    session_id: UUID
    account_id: str
    version: int
    ticket_provider: str
    ticket_id: str
    note: PSANote
    change: TicketChange | None = None


def marker_for(session_id: UUID, version: int) -> str:
    """The note's unique marker: the session and the version of the change that made it."""
    return f"rf:{session_id}:{version}"


def note_due(event: DomainEvent) -> DueNote | None:
    """The note an event makes due, if its session was linked to a ticket."""
    kind: NoteKind
    text: str
    change: TicketChange | None = None
    if isinstance(event, SessionResolved):
        kind, text, change = NoteKind.RESOLUTION, event.resolution_note, TicketChange.RESOLVED
        provider, ticket = event.ticket_provider, event.ticket_id
    elif isinstance(event, SessionEscalated):
        kind, text, change = NoteKind.INTERNAL, event.escalation_package, TicketChange.ESCALATED
        provider, ticket = event.ticket_provider, event.ticket_id
    elif isinstance(event, StatusUpdateShared) and event.audience == Audience.TICKET_NOTE:
        kind, text = NoteKind.DETAIL, event.body
        provider, ticket = event.ticket_provider, event.ticket_id
    else:
        return None
    if provider is None or ticket is None:
        return None
    note = PSANote(kind, text, marker_for(event.session_id, event.version))
    session, account, version = event.session_id, event.account_id, event.version
    return DueNote(session, account, version, provider, ticket, note, change)


@dataclass(frozen=True, slots=True)
class Delivery:
    """A due note and how its delivery stands."""

    id: int
    due: DueNote
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    psa_note_id: str | None = None
    delivered_at: datetime | None = None


class DeliveryQueue(Protocol):
    """Where deliveries wait. `claim` must never hand one delivery to two relays at once."""

    async def claim(self, *, now: datetime, limit: int, lease: timedelta) -> list[Delivery]:
        """Pending deliveries that are due, each with its attempt counted and leased to the
        caller until ``now + lease`` (after which another relay may take it over)."""
        ...

    async def delivered(self, delivery_id: int, *, psa_note_id: str, now: datetime) -> None: ...

    async def retry_later(self, delivery_id: int, *, error: str, at: datetime) -> None: ...

    async def failed(self, delivery_id: int, *, error: str) -> None: ...

    async def for_session(self, session_id: UUID) -> list[Delivery]: ...


class FailedDeliveries(Protocol):
    """A session's deliveries, and putting its failed ones back in the queue."""

    async def for_session(self, session_id: UUID) -> list[Delivery]: ...

    async def retry_failed(self, *, now: datetime, session_id: UUID | None = None) -> int:
        """Put failed deliveries (of one session, or all) back in the queue; how many."""
        ...


@dataclass(frozen=True)
class SessionDeliveries:
    """A session's note deliveries as the API, the CLI and the web app show and retry them.

    The caller has loaded the session for the actor first (`SessionService.get`), so a
    session outside the actor's sight is not found before anything here runs."""

    queue: FailedDeliveries
    clock: Clock

    async def of(self, session_id: UUID) -> list[Delivery]:
        return await self.queue.for_session(session_id)

    async def retry_failed(self, actor: Actor, session_id: UUID) -> int:
        """Put the session's failed deliveries back in the queue (owners and admins, e.g.
        after fixing the connection); how many."""
        access.ensure_can_manage(actor, "retry PSA deliveries", "PSA deliveries")
        return await self.queue.retry_failed(now=self.clock.now(), session_id=session_id)


@dataclass(frozen=True, slots=True)
class RelayReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0


class DeliveryRelay:
    """Posts due notes: one `run_once` pass, or `run` until stopped."""

    def __init__(
        self,
        queue: DeliveryQueue,
        connections: PSAConnections,
        clock: Clock,
        *,
        max_attempts: int = 12,
        base_delay: timedelta = timedelta(seconds=5),
        max_delay: timedelta = timedelta(hours=1),
        lease: timedelta = timedelta(minutes=2),
    ) -> None:
        self._queue = queue
        self._connections = connections
        self._clock = clock
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._lease = lease

    async def run_once(self, *, limit: int = 20) -> RelayReport:
        deliveries = await self._queue.claim(now=self._clock.now(), limit=limit, lease=self._lease)
        outcomes = [await self._deliver(delivery) for delivery in deliveries]
        return RelayReport(
            delivered=outcomes.count(DeliveryState.DELIVERED),
            retrying=outcomes.count(DeliveryState.PENDING),
            failed=outcomes.count(DeliveryState.FAILED),
        )

    async def run(self, stop: asyncio.Event, *, interval: float = 2.0) -> None:
        """Deliver until ``stop`` is set, pausing ``interval`` seconds when nothing is due."""
        while not stop.is_set():
            report = await self.run_once()
            if report.delivered or report.retrying or report.failed:
                continue
            with contextlib.suppress(TimeoutError):  # the interval passed: look again
                await asyncio.wait_for(stop.wait(), timeout=interval)

    async def _deliver(self, delivery: Delivery) -> DeliveryState:
        due = delivery.due
        try:
            client = await self._connections.client_for(due.account_id)
            if client.provider != due.ticket_provider:
                raise TicketOnOtherProvider(due.ticket_provider, client.provider)
            note_id = None
            # An earlier attempt may have posted it (also one before a failed delivery was
            # put back, which starts its count again but keeps its last error): look first.
            if delivery.attempts > 1 or delivery.last_error is not None:
                note_id = await client.find_note(due.ticket_id, due.note.marker)
            if note_id is None:
                note_id = await client.post_note(due.ticket_id, due.note)
            if due.change is not None:
                status = await self._connections.status_after(due.account_id, due.change)
                if status is not None:
                    await client.change_status(due.ticket_id, status)
        except PSAError as error:
            return await self._after_failure(delivery, error)
        await self._queue.delivered(delivery.id, psa_note_id=note_id, now=self._clock.now())
        return DeliveryState.DELIVERED

    async def _after_failure(self, delivery: Delivery, error: PSAError) -> DeliveryState:
        message = f"{type(error).__name__}: {error}"
        # A request the PSA refused as such (``retryable`` False) gets the same answer again.
        if delivery.attempts >= self._max_attempts or getattr(error, "retryable", True) is False:
            await self._queue.failed(delivery.id, error=message)
            return DeliveryState.FAILED
        delay = min(self._base_delay * 2 ** (delivery.attempts - 1), self._max_delay)
        delay = delay * random.uniform(0.8, 1.2)
        retry_after = error.retry_after if isinstance(error, Unavailable) else None
        if retry_after is not None and retry_after > delay.total_seconds():
            delay = timedelta(seconds=retry_after)
        await self._queue.retry_later(delivery.id, error=message, at=self._clock.now() + delay)
        return DeliveryState.PENDING
