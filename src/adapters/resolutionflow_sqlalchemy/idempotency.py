"""Idempotency keys in the database: the `IdempotencyStore` port.

A claim is an INSERT of the key's row: the primary key lets exactly one of two racing
requests in, on SQLite and PostgreSQL alike; the loser reads the row to learn why.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from resolutionflow_core.idempotency import Claim, ClaimOutcome, StoredResponse
from resolutionflow_sqlalchemy.engine import Database
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

    async def claim(self, scope: str, key: str, fingerprint: str, *, now: datetime) -> Claim:
        def claim(conn: sa.Connection) -> Claim:
            conn.execute(sa.delete(idempotency_keys).where(_I.created_at < now - KEEP_FOR))
            try:
                with conn.begin_nested():
                    conn.execute(
                        sa.insert(idempotency_keys),
                        {"scope": scope, "key": key, "fingerprint": fingerprint, "created_at": now},
                    )
            except IntegrityError:
                return _existing(
                    conn.execute(_ROW, {"scope": scope, "key": key}).one(), fingerprint
                )
            return Claim(ClaimOutcome.NEW)

        return await self._database.write(claim)

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


def _existing(row: Any, fingerprint: str) -> Claim:
    if row.fingerprint != fingerprint:
        return Claim(ClaimOutcome.MISMATCH)
    if row.status_code is None:
        return Claim(ClaimOutcome.IN_PROGRESS)
    return Claim(ClaimOutcome.REPLAY, StoredResponse(row.status_code, row.response_body))
