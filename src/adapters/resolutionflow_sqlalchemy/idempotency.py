"""Idempotency keys in the database: the `IdempotencyStore` port.

A claim is an INSERT of the key's row: the primary key lets exactly one of two racing
requests in, on SQLite and PostgreSQL alike; the loser reads the row to learn why. Taking
over a claim whose lease ran out is a compare-and-set on ``lease_until``: of two requests
taking it over at once, one wins.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from resolutionflow_core.idempotency import (
    DEFAULT_LEASE,
    Claim,
    ClaimOutcome,
    HeldClaim,
    StoredResponse,
)
from resolutionflow_sqlalchemy.engine import Database, with_next_write
from resolutionflow_sqlalchemy.rows import from_row
from resolutionflow_sqlalchemy.tables import idempotency_keys

KEEP_FOR = timedelta(hours=24)
"""How long a key's response is kept for replay."""

_I = idempotency_keys.c
_ROW = sa.select(idempotency_keys).where(
    _I.scope == sa.bindparam("scope"), _I.key == sa.bindparam("key")
)


class SqlIdempotencyStore:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def claim(
        self,
        scope: str,
        key: str,
        fingerprint: str,
        *,
        now: datetime,
        lease: timedelta = DEFAULT_LEASE,
    ) -> Claim:
        def claim(conn: sa.Connection) -> Claim:
            conn.execute(sa.delete(idempotency_keys).where(_I.created_at < now - KEEP_FOR))
            try:
                with conn.begin_nested():
                    conn.execute(
                        sa.insert(idempotency_keys),
                        {
                            "scope": scope,
                            "key": key,
                            "fingerprint": fingerprint,
                            "created_at": now,
                            "lease_until": now + lease,
                        },
                    )
            except IntegrityError:
                row = conn.execute(_ROW, {"scope": scope, "key": key}).one()
                return _existing(conn, row, fingerprint, now=now, lease=lease)
            return Claim(ClaimOutcome.NEW)

        return await self._database.write(claim)

    async def renew(self, scope: str, key: str, *, until: datetime) -> None:
        statement = (
            sa.update(idempotency_keys)
            .where(_I.scope == scope, _I.key == key, _I.status_code.is_(None))
            .values(lease_until=until)
        )
        await self._database.write(lambda conn: conn.execute(statement))

    async def mark_saved(self, scope: str, key: str, session_id: UUID) -> None:
        statement = (
            sa.update(idempotency_keys)
            .where(_I.scope == scope, _I.key == key)
            .values(saved_in=str(session_id))
        )
        # In the transaction that stores the input: a crash can never leave the input
        # stored without the mark (a retry would store it again), nor the reverse.
        with_next_write(lambda conn: conn.execute(statement))

    async def saved_in(self, scope: str, key: str) -> UUID | None:
        found = await self._database.read(
            lambda conn: conn.execute(
                sa.select(_I.saved_in).where(_I.scope == scope, _I.key == key)
            ).scalar()
        )
        return UUID(found) if found else None

    async def complete(self, scope: str, key: str, response: StoredResponse) -> None:
        statement = (
            sa.update(idempotency_keys)
            .where(_I.scope == scope, _I.key == key)
            .values(status_code=response.status_code, response_body=response.body)
        )
        await self._database.write(lambda conn: conn.execute(statement))

    async def release(self, scope: str, key: str) -> None:
        statement = sa.delete(idempotency_keys).where(_I.scope == scope, _I.key == key)
        await self._database.write(lambda conn: conn.execute(statement))


def _existing(
    conn: sa.Connection, row: Any, fingerprint: str, *, now: datetime, lease: timedelta
) -> Claim:
    finished = row.status_code is not None
    held = from_row(
        HeldClaim,
        row,
        response=StoredResponse(row.status_code, row.response_body) if finished else None,
        saved_in=UUID(row.saved_in) if row.saved_in else None,
    )
    answer = held.answer(fingerprint, now=now)
    if answer is not None:
        return answer
    # The holder died: take the claim over, unless another request just did.
    unchanged = (
        _I.lease_until.is_(None) if row.lease_until is None else _I.lease_until == row.lease_until
    )
    taken = conn.execute(
        sa.update(idempotency_keys)
        .where(_I.scope == row.scope, _I.key == row.key, _I.status_code.is_(None), unchanged)
        .values(lease_until=now + lease)
    )
    if taken.rowcount != 1:
        return Claim(ClaimOutcome.IN_PROGRESS)
    return Claim(ClaimOutcome.TAKEN_OVER, saved_in=held.saved_in)
