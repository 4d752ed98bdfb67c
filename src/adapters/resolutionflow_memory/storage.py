"""In-memory repository and unit of work, with the SQL adapter's concurrency behaviour.

Real shipped code, not a test double: every unit of work works on its own copies, and a
commit whose sessions were changed by someone else since they were loaded raises
`StaleSession` and writes nothing, exactly as the SQLAlchemy adapter does.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Self, TypeVar
from uuid import UUID

from resolutionflow_core.delivery import Delivery, DeliveryState, note_due
from resolutionflow_core.errors import InvalidInput, SessionNotFound, StaleSession
from resolutionflow_core.events import DomainEvent
from resolutionflow_core.listing import SessionPage, SessionQuery, SessionSummary, page_of
from resolutionflow_core.session import Session

T = TypeVar("T")


def _copy(session: Session) -> Session:
    """An independent copy (messages and steps are immutable, so lists are copied shallowly)."""
    return dataclasses.replace(
        session,
        intake_content=copy.deepcopy(session.intake_content),
        conversation_messages=session.conversation_messages.copy(),
        steps=list(session.steps),
        former_owner_ids=list(session.former_owner_ids),
        events=[],
    )


class InMemoryStorage:
    """The "database": committed sessions and the outbox of their events."""

    def __init__(self) -> None:
        self._sessions: dict[UUID, Session] = {}
        self.outbox: list[DomainEvent] = []
        self.deliveries = InMemoryDeliveryQueue()
        self.commits = 0

    def unit_of_work(self) -> InMemoryUnitOfWork:
        """A fresh unit of work (pass this method as the services' ``uow`` factory)."""
        return InMemoryUnitOfWork(self)

    def __len__(self) -> int:
        return len(self._sessions)

    def committed(self, session_id: UUID) -> Session:
        """A copy of the committed state of a session (for tests and tools)."""
        try:
            return _copy(self._sessions[session_id])
        except KeyError:
            raise SessionNotFound(session_id) from None

    def _write(self, tracked: dict[UUID, tuple[Session, int | None]]) -> None:
        """Check every tracked session's version, then write all of them, or nothing."""
        changed: list[tuple[Session, int | None]] = []
        for session, loaded_version in tracked.values():
            current = self._sessions.get(session.id)
            if loaded_version is None:
                if current is not None:
                    raise InvalidInput("id", f"a session {session.id} exists already")
            elif current is None or current.version != loaded_version:
                raise StaleSession(session.id, loaded_version)
            if loaded_version is None or session.version != loaded_version:
                changed.append((session, loaded_version))
        for session, _ in changed:
            events = session.pull_events()
            self.outbox.extend(events)
            self.deliveries.add_due(events)
            self._sessions[session.id] = _copy(session)
        self.commits += 1


class InMemoryDeliveryQueue:
    """Due notes in memory: the `DeliveryQueue` port, filled by `InMemoryStorage` commits."""

    def __init__(self) -> None:
        self._deliveries: dict[int, Delivery] = {}
        self._leases: dict[int, datetime] = {}

    def add_due(self, events: list[DomainEvent]) -> None:
        for event in events:
            due = note_due(event)
            if due is not None:
                number = len(self._deliveries) + 1
                self._deliveries[number] = Delivery(
                    number, due, DeliveryState.PENDING, 0, next_attempt_at=event.occurred_at
                )

    def all(self) -> list[Delivery]:
        return list(self._deliveries.values())

    async def claim(self, *, now: datetime, limit: int, lease: timedelta) -> list[Delivery]:
        claimed: list[Delivery] = []
        for number, delivery in self._deliveries.items():
            if len(claimed) == limit:
                break
            leased_until = self._leases.get(number)
            if (
                delivery.state is DeliveryState.PENDING
                and (delivery.next_attempt_at is None or delivery.next_attempt_at <= now)
                and (leased_until is None or leased_until <= now)
            ):
                delivery = replace(delivery, attempts=delivery.attempts + 1)
                self._deliveries[number] = delivery
                self._leases[number] = now + lease
                claimed.append(delivery)
        return claimed

    async def delivered(self, delivery_id: int, *, psa_note_id: str, now: datetime) -> None:
        self._settle(
            delivery_id, state=DeliveryState.DELIVERED, psa_note_id=psa_note_id, delivered_at=now
        )

    async def retry_later(self, delivery_id: int, *, error: str, at: datetime) -> None:
        self._settle(delivery_id, last_error=error, next_attempt_at=at)

    async def failed(self, delivery_id: int, *, error: str) -> None:
        self._settle(delivery_id, state=DeliveryState.FAILED, last_error=error)

    async def for_session(self, session_id: UUID) -> list[Delivery]:
        return [d for d in self._deliveries.values() if d.due.session_id == session_id]

    def _settle(self, delivery_id: int, **changes: Any) -> None:
        self._leases.pop(delivery_id, None)
        self._deliveries[delivery_id] = replace(self._deliveries[delivery_id], **changes)


class InMemorySessionRepository:
    def __init__(self, storage: InMemoryStorage) -> None:
        self._storage = storage
        self.tracked: dict[UUID, tuple[Session, int | None]] = {}

    async def add(self, session: Session) -> None:
        self.tracked[session.id] = (session, None)

    async def get(self, session_id: UUID, *, account_id: str) -> Session:
        if session_id not in self.tracked:
            stored = self._storage._sessions.get(session_id)
            if stored is None:
                raise SessionNotFound(session_id)
            await self.attach(_copy(stored))
        session = self.tracked[session_id][0]
        if session.account_id != account_id:
            raise SessionNotFound(session_id)
        return session

    async def attach(self, session: Session) -> None:
        self.tracked[session.id] = (session, session.version)

    async def list(self, query: SessionQuery) -> SessionPage:
        rows = [
            SessionSummary.of(s)
            for s in self._storage._sessions.values()
            if query.matches(SessionSummary.of(s), former_owners=s.former_owner_ids)
        ]
        rows.sort(key=lambda row: (row.last_activity_at, row.id), reverse=True)
        return page_of(rows[: query.limit + 1], query.limit)


class InMemoryUnitOfWork:
    """One transaction over `InMemoryStorage`; leaving it without `commit` discards changes."""

    sessions: InMemorySessionRepository

    def __init__(self, storage: InMemoryStorage) -> None:
        self._storage = storage
        self.sessions = InMemorySessionRepository(storage)
        self.committed = False

    async def __aenter__(self) -> Self:
        self.sessions = InMemorySessionRepository(self._storage)
        self.committed = False
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.rollback()

    async def commit(self) -> None:
        self._storage._write(self.sessions.tracked)
        self.sessions.tracked = {
            session.id: (session, session.version) for session, _ in self.sessions.tracked.values()
        }
        self.committed = True

    async def rollback(self) -> None:
        self.sessions.tracked.clear()

    async def change(
        self, session_id: UUID, *, account_id: str, apply: Callable[[Session], T]
    ) -> tuple[Session, T]:
        session = await self.sessions.get(session_id, account_id=account_id)
        result = apply(session)
        await self.commit()
        return session, result
