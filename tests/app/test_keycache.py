"""A busy API remembers a good key for a few seconds, and forgets it when it is revoked."""

from __future__ import annotations

from datetime import UTC, datetime

from resolutionflow_app.keycache import CachedKeyStore
from resolutionflow_core.access import Actor, Role
from resolutionflow_memory.keys import InMemoryKeyStore

NOW = datetime(2026, 11, 9, tzinfo=UTC)
ALICE = Actor("acme", "alice", Role.ENGINEER)


class CountingStore(InMemoryKeyStore):
    def __init__(self) -> None:
        super().__init__()
        self.lookups = 0

    async def authenticate(self, secret: str) -> Actor | None:
        self.lookups += 1
        return await super().authenticate(secret)


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_good_key_is_looked_up_once_per_ttl() -> None:
    store, ticks = CountingStore(), Ticks()
    keys = CachedKeyStore(store, ttl=5, clock=ticks)
    secret = (await keys.create(ALICE, "laptop", now=NOW)).secret
    assert [await keys.authenticate(secret) for _ in range(3)] == [ALICE] * 3
    assert store.lookups == 1
    ticks.now += 5.1
    assert await keys.authenticate(secret) == ALICE
    assert store.lookups == 2


async def test_bad_keys_are_never_cached_and_revoking_forgets_at_once() -> None:
    store, ticks = CountingStore(), Ticks()
    keys = CachedKeyStore(store, ttl=60, clock=ticks)
    created = await keys.create(ALICE, "laptop", now=NOW)
    assert await keys.authenticate("rf_000000000000_" + "x" * 43) is None
    assert await keys.authenticate("rf_000000000000_" + "x" * 43) is None
    assert store.lookups == 2
    assert await keys.authenticate(created.secret) == ALICE
    await keys.revoke(created.key.id, now=NOW)
    assert await keys.authenticate(created.secret) is None


async def test_a_ttl_of_zero_checks_every_request() -> None:
    store = CountingStore()
    keys = CachedKeyStore(store, ttl=0)
    secret = (await keys.create(ALICE, "laptop", now=NOW)).secret
    await keys.authenticate(secret)
    await keys.authenticate(secret)
    assert store.lookups == 2
