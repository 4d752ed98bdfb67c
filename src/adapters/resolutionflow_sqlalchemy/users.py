"""Users and signed-in browsers in the database (`UserStore`, `BrowserSessionStore`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from resolutionflow_core.access import Role
from resolutionflow_core.users import BrowserSession, User, UserExists
from resolutionflow_sqlalchemy.engine import Database
from resolutionflow_sqlalchemy.rows import actor_columns, actor_of, from_row, to_row
from resolutionflow_sqlalchemy.tables import browser_sessions, users

_U = users.c
_B = browser_sessions.c


def _user(row: Any) -> User:
    return from_row(User, row, role=Role(row.role))


class SqlUserStore:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def add(self, user: User) -> None:
        values = to_row(user, role=user.role.value)
        try:
            await self._database.write(lambda conn: conn.execute(sa.insert(users), values))
        except sa.exc.IntegrityError:
            raise UserExists(user.account_id, user.email) from None

    async def find(self, account_id: str, email: str) -> User | None:
        query = sa.select(users).where(_U.account_id == account_id, _U.email == email)
        row = await self._database.read(lambda conn: conn.execute(query).first())
        return None if row is None else _user(row)

    async def list(self, account_id: str) -> list[User]:
        query = sa.select(users).where(_U.account_id == account_id)
        rows = await self._database.read(
            lambda conn: conn.execute(query.order_by(_U.created_at, _U.email)).all()
        )
        return [_user(row) for row in rows]


class SqlBrowserSessionStore:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def add(self, session: BrowserSession) -> None:
        values = to_row(session, without=("actor",), **actor_columns(session.actor))
        await self._database.write(lambda conn: conn.execute(sa.insert(browser_sessions), values))

    async def get(self, token_hash: str) -> BrowserSession | None:
        query = sa.select(browser_sessions).where(_B.token_hash == token_hash)
        row = await self._database.read(lambda conn: conn.execute(query).first())
        return None if row is None else from_row(BrowserSession, row, actor=actor_of(row))

    async def touch(self, token_hash: str, now: datetime) -> None:
        update = sa.update(browser_sessions).where(_B.token_hash == token_hash)
        await self._database.write(lambda conn: conn.execute(update.values(last_seen_at=now)))

    async def remove(self, token_hash: str) -> None:
        delete = sa.delete(browser_sessions).where(_B.token_hash == token_hash)
        await self._database.write(lambda conn: conn.execute(delete))
