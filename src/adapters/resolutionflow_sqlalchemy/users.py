"""Users and signed-in browsers in the database (`UserStore`, `BrowserSessionStore`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from resolutionflow_core.access import Actor, Role
from resolutionflow_core.users import BrowserSession, User, UserExists
from resolutionflow_sqlalchemy.engine import Database
from resolutionflow_sqlalchemy.rows import from_row
from resolutionflow_sqlalchemy.tables import browser_sessions, users

_U = users.c
_B = browser_sessions.c


def _user(row: Any) -> User:
    return from_row(User, row, role=Role(row.role))


class SqlUserStore:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def add(self, user: User) -> None:
        values = {
            "id": user.id,
            "account_id": user.account_id,
            "email": user.email,
            "role": user.role.value,
            "password_hash": user.password_hash,
            "created_at": user.created_at,
        }
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
        values = {
            "token_hash": session.token_hash,
            "account_id": session.actor.account_id,
            "user_id": session.actor.user_id,
            "role": session.actor.role.value,
            "csrf_token": session.csrf_token,
            "created_at": session.created_at,
            "last_seen_at": session.last_seen_at,
        }
        await self._database.write(lambda conn: conn.execute(sa.insert(browser_sessions), values))

    async def get(self, token_hash: str) -> BrowserSession | None:
        query = sa.select(browser_sessions).where(_B.token_hash == token_hash)
        row = await self._database.read(lambda conn: conn.execute(query).first())
        if row is None:
            return None
        return BrowserSession(
            token_hash=row.token_hash,
            actor=Actor(row.account_id, row.user_id, Role(row.role)),
            csrf_token=row.csrf_token,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
        )

    async def touch(self, token_hash: str, now: datetime) -> None:
        update = sa.update(browser_sessions).where(_B.token_hash == token_hash)
        await self._database.write(lambda conn: conn.execute(update.values(last_seen_at=now)))

    async def remove(self, token_hash: str) -> None:
        delete = sa.delete(browser_sessions).where(_B.token_hash == token_hash)
        await self._database.write(lambda conn: conn.execute(delete))
