"""API keys in the database: the `KeyStore` port."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from resolutionflow_core.access import Actor
from resolutionflow_core.keys import (
    ApiKey,
    NewKey,
    issue_key,
    prefix_of,
    secret_matches,
)
from resolutionflow_sqlalchemy.engine import Database
from resolutionflow_sqlalchemy.rows import actor_columns, actor_of, from_row, to_row
from resolutionflow_sqlalchemy.tables import api_keys

_K = api_keys.c
_BY_PREFIX = sa.select(api_keys).where(_K.prefix == sa.bindparam("prefix"))


def _key(row: Any) -> ApiKey:
    return from_row(ApiKey, row, actor=actor_of(row))


class SqlKeyStore:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def create(self, actor: Actor, label: str, *, now: datetime) -> NewKey:
        new, hashed = issue_key(actor, label, now=now)
        key = new.key
        values = to_row(key, without=("actor",), secret_hash=hashed, **actor_columns(key.actor))
        await self._database.write(lambda conn: conn.execute(sa.insert(api_keys), values))
        return new

    async def authenticate(self, secret: str) -> Actor | None:
        prefix = prefix_of(secret)
        if prefix is None:
            return None
        row = await self._database.read(
            lambda conn: conn.execute(_BY_PREFIX, {"prefix": prefix}).first()
        )
        if row is None or row.revoked_at is not None or not secret_matches(secret, row.secret_hash):
            return None
        return actor_of(row)

    async def list(self, account_id: str | None = None) -> list[ApiKey]:
        query = sa.select(api_keys).order_by(_K.created_at, _K.id)
        if account_id is not None:
            query = query.where(_K.account_id == account_id)
        rows = await self._database.read(lambda conn: conn.execute(query).all())
        return [_key(row) for row in rows]

    async def revoke(
        self, key_id: UUID, *, now: datetime, account_id: str | None = None
    ) -> ApiKey | None:
        def revoke(conn: sa.Connection) -> Any:
            where = [_K.id == key_id]
            if account_id is not None:
                where.append(_K.account_id == account_id)
            conn.execute(
                sa.update(api_keys).where(*where, _K.revoked_at.is_(None)).values(revoked_at=now)
            )
            return conn.execute(sa.select(api_keys).where(*where)).first()

        row = await self._database.write(revoke)
        return None if row is None else _key(row)

    async def count_active(self) -> int:
        query = sa.select(sa.func.count()).select_from(api_keys).where(_K.revoked_at.is_(None))
        return int(await self._database.read(lambda conn: conn.execute(query).scalar_one()))
