"""Users and signed-in browsers in memory (the `UserStore` and `BrowserSessionStore` ports)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from resolutionflow_core.users import BrowserSession, User, UserExists


class InMemoryUserStore:
    def __init__(self) -> None:
        self._users: dict[tuple[str, str], User] = {}

    async def add(self, user: User) -> None:
        key = (user.account_id, user.email)
        if key in self._users:
            raise UserExists(user.account_id, user.email)
        self._users[key] = user

    async def find(self, account_id: str, email: str) -> User | None:
        return self._users.get((account_id, email))

    async def list(self, account_id: str) -> list[User]:
        users = [user for user in self._users.values() if user.account_id == account_id]
        return sorted(users, key=lambda user: (user.created_at, user.email))


class InMemoryBrowserSessionStore:
    def __init__(self) -> None:
        self._sessions: dict[str, BrowserSession] = {}

    async def add(self, session: BrowserSession) -> None:
        self._sessions[session.token_hash] = session

    async def get(self, token_hash: str) -> BrowserSession | None:
        return self._sessions.get(token_hash)

    async def touch(self, token_hash: str, now: datetime) -> None:
        found = self._sessions.get(token_hash)
        if found is not None:
            self._sessions[token_hash] = replace(found, last_seen_at=now)

    async def remove(self, token_hash: str) -> None:
        self._sessions.pop(token_hash, None)
