"""Users and signed-in browsers: what every store promises (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from resolutionflow_core.access import Actor, Role
from resolutionflow_core.users import (
    BrowserSessionStore,
    User,
    UserExists,
    UserStore,
    new_browser_session,
)
from resolutionflow_memory.users import InMemoryBrowserSessionStore, InMemoryUserStore
from resolutionflow_sqlalchemy.users import SqlBrowserSessionStore, SqlUserStore
from tests.databases import EVERY_STORE, empty_storage, url_for

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@dataclass
class Stores:
    users: UserStore
    browsers: BrowserSessionStore


@pytest.fixture(params=EVERY_STORE)
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    if request.param == "memory":
        yield Stores(InMemoryUserStore(), InMemoryBrowserSessionStore())
        return
    storage = await empty_storage(url_for(request, tmp_path / "users.db"))
    try:
        yield Stores(SqlUserStore(storage.database), SqlBrowserSessionStore(storage.database))
    finally:
        await storage.dispose()


def user(account: str, email: str, role: Role = Role.ENGINEER, minutes: int = 0) -> User:
    return User(
        uuid.uuid4(), account, email, role, "$argon2id$hash", NOW + timedelta(minutes=minutes)
    )


async def test_a_user_is_found_in_its_account_only(stores: Stores) -> None:
    alice = user("acme", "alice@acme.example", Role.OWNER)
    await stores.users.add(alice)

    assert await stores.users.find("acme", "alice@acme.example") == alice
    assert await stores.users.find("globex", "alice@acme.example") is None
    assert await stores.users.find("acme", "bob@acme.example") is None


async def test_an_email_is_unique_per_account_not_across_accounts(stores: Stores) -> None:
    await stores.users.add(user("acme", "alice@acme.example"))
    with pytest.raises(UserExists):
        await stores.users.add(user("acme", "alice@acme.example", Role.ADMIN))
    await stores.users.add(user("globex", "alice@acme.example"))

    found = await stores.users.find("acme", "alice@acme.example")
    assert found is not None
    assert found.role is Role.ENGINEER


async def test_users_are_listed_per_account_oldest_first(stores: Stores) -> None:
    await stores.users.add(user("acme", "zed@acme.example", minutes=1))
    await stores.users.add(user("acme", "amy@acme.example", minutes=2))
    await stores.users.add(user("globex", "gina@globex.example"))

    listed = await stores.users.list("acme")

    assert [u.email for u in listed] == ["zed@acme.example", "amy@acme.example"]


async def test_a_browser_session_is_found_by_its_token_hash_touched_and_removed(
    stores: Stores,
) -> None:
    actor = Actor("acme", "alice@acme.example", Role.ADMIN)
    token, session = new_browser_session(actor, NOW)
    await stores.browsers.add(session)

    found = await stores.browsers.get(session.token_hash)
    assert found == session
    assert token not in (session.token_hash, session.csrf_token)

    later = NOW + timedelta(minutes=30)
    await stores.browsers.touch(session.token_hash, later)
    touched = await stores.browsers.get(session.token_hash)
    assert touched is not None
    assert touched.last_seen_at == later
    assert touched.actor == actor

    await stores.browsers.remove(session.token_hash)
    assert await stores.browsers.get(session.token_hash) is None
