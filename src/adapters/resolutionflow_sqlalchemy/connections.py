"""PSA connections in the database: the `PSAConnectionStore` port."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from resolutionflow_core.connections import PSAConnectionRecord
from resolutionflow_sqlalchemy.engine import Database
from resolutionflow_sqlalchemy.rows import from_row
from resolutionflow_sqlalchemy.tables import psa_connections

_P = psa_connections.c


def _record(row: Any) -> PSAConnectionRecord:
    return from_row(PSAConnectionRecord, row)


class SqlPSAConnectionStore:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def save(self, record: PSAConnectionRecord) -> None:
        def save(conn: sa.Connection) -> None:
            existing = conn.execute(
                sa.select(_P.created_at).where(_P.account_id == record.account_id)
            ).first()
            values = {
                "provider": record.provider,
                "settings": record.settings,
                "sealed_credentials": record.sealed_credentials,
                "updated_at": record.updated_at,
            }
            if existing is None:
                values |= {"account_id": record.account_id, "created_at": record.created_at}
                conn.execute(sa.insert(psa_connections), values)
            else:
                conn.execute(
                    sa.update(psa_connections)
                    .where(_P.account_id == record.account_id)
                    .values(values)
                )

        await self._database.write(save)

    async def get(self, account_id: str) -> PSAConnectionRecord | None:
        query = sa.select(psa_connections).where(_P.account_id == account_id)
        row = await self._database.read(lambda conn: conn.execute(query).first())
        return None if row is None else _record(row)

    async def delete(self, account_id: str) -> bool:
        statement = sa.delete(psa_connections).where(_P.account_id == account_id)
        deleted = await self._database.write(lambda conn: conn.execute(statement).rowcount)
        return bool(deleted)

    async def reseal(self, reseal: Callable[[PSAConnectionRecord], str | None]) -> list[str]:
        def work(conn: sa.Connection) -> list[str]:
            rows = conn.execute(sa.select(psa_connections).order_by(_P.account_id)).all()
            resealed: list[str] = []
            for row in rows:
                sealed = reseal(_record(row))
                if sealed is None:
                    continue
                # Only the credentials just read: a connection saved meanwhile keeps its own.
                changed = conn.execute(
                    sa.update(psa_connections)
                    .where(_P.account_id == row.account_id)
                    .where(_P.sealed_credentials == row.sealed_credentials)
                    .values(sealed_credentials=sealed)
                ).rowcount
                if changed:
                    resealed.append(row.account_id)
            return resealed

        return await self._database.write(work)
