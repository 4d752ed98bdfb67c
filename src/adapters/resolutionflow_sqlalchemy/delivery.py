"""The delivery queue in the database: the `DeliveryQueue` port.

Rows are written by the unit of work, in the transaction of the change that made the note
due (`due_values`). Relays claim them: on PostgreSQL with ``FOR UPDATE SKIP LOCKED``, so
several relays never take the same row; on SQLite the claim's write transaction is
serialised by the database lock. A claim leases the row and counts the attempt before
anything is posted.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from resolutionflow_core.delivery import Delivery, DeliveryState, DueNote, TicketChange
from resolutionflow_core.tickets import NoteKind, PSANote
from resolutionflow_sqlalchemy.engine import Database
from resolutionflow_sqlalchemy.rows import from_row
from resolutionflow_sqlalchemy.tables import psa_deliveries

_D = psa_deliveries.c


def due_values(due: DueNote, now: datetime) -> dict[str, Any]:
    """The ``psa_deliveries`` row of a note that just became due."""
    return {
        "session_id": due.session_id,
        "account_id": due.account_id,
        "version": due.version,
        "ticket_provider": due.ticket_provider,
        "ticket_id": due.ticket_id,
        "note_kind": due.note.kind.value,
        "note_text": due.note.text,
        "marker": due.note.marker,
        "ticket_change": due.change.value if due.change else None,
        "state": DeliveryState.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def _delivery(row: Any) -> Delivery:
    due = from_row(
        DueNote,
        row,
        note=PSANote(NoteKind(row.note_kind), row.note_text, row.marker),
        change=TicketChange(row.ticket_change) if row.ticket_change else None,
    )
    return from_row(Delivery, row, due=due, state=DeliveryState(row.state))


class SqlDeliveryQueue:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def claim(self, *, now: datetime, limit: int, lease: timedelta) -> list[Delivery]:
        def claim(conn: sa.Connection) -> list[Delivery]:
            due = (
                sa.select(_D.id)
                .where(
                    _D.state == DeliveryState.PENDING.value,
                    _D.next_attempt_at <= now,
                    sa.or_(_D.leased_until.is_(None), _D.leased_until <= now),
                )
                .order_by(_D.next_attempt_at, _D.id)
                .limit(limit)
            )
            if conn.dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            ids = list(conn.execute(due).scalars())
            if not ids:
                return []
            conn.execute(
                sa.update(psa_deliveries)
                .where(_D.id.in_(ids))
                .values(attempts=_D.attempts + 1, leased_until=now + lease)
            )
            rows = conn.execute(sa.select(psa_deliveries).where(_D.id.in_(ids)).order_by(_D.id))
            return [_delivery(row) for row in rows]

        return await self._database.write(claim)

    async def delivered(self, delivery_id: int, *, psa_note_id: str, now: datetime) -> None:
        await self._settle(
            delivery_id,
            state=DeliveryState.DELIVERED.value,
            psa_note_id=psa_note_id,
            delivered_at=now,
            last_error=None,
        )

    async def retry_later(self, delivery_id: int, *, error: str, at: datetime) -> None:
        await self._settle(delivery_id, last_error=error, next_attempt_at=at)

    async def failed(self, delivery_id: int, *, error: str) -> None:
        await self._settle(delivery_id, state=DeliveryState.FAILED.value, last_error=error)

    async def for_session(self, session_id: UUID) -> list[Delivery]:
        query = sa.select(psa_deliveries).where(_D.session_id == session_id).order_by(_D.id)
        rows = await self._database.read(lambda conn: conn.execute(query).all(), one_statement=True)
        return [_delivery(row) for row in rows]

    async def retry_failed(self, *, now: datetime, session_id: UUID | None = None) -> int:
        """Put failed deliveries back in the queue (e.g. after fixing the connection)."""
        where = [_D.state == DeliveryState.FAILED.value]
        if session_id is not None:
            where.append(_D.session_id == session_id)
        statement = (
            sa.update(psa_deliveries)
            .where(*where)
            .values(state=DeliveryState.PENDING.value, next_attempt_at=now, attempts=0)
        )
        return await self._database.write(lambda conn: conn.execute(statement).rowcount)

    async def _settle(self, delivery_id: int, **values: Any) -> None:
        statement = (
            sa.update(psa_deliveries)
            .where(_D.id == delivery_id)
            .values(leased_until=None, **values)
        )
        await self._database.write(lambda conn: conn.execute(statement))
