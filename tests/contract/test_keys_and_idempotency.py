"""API keys, idempotency keys and PSA connection records: what every store promises
(memory, SQLite, PostgreSQL), down to re-sealing every connection's credentials with the
newest key (`reseal_credentials` with a `Sealer` holding several keys)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from resolutionflow_app.psa import CredentialsLocked, Sealer, reseal_credentials
from resolutionflow_core.access import Actor, Role
from resolutionflow_core.connections import PSAConnectionRecord, PSAConnectionStore
from resolutionflow_core.idempotency import ClaimOutcome, IdempotencyStore, StoredResponse
from resolutionflow_core.keys import KeyStore
from resolutionflow_memory.keys import (
    InMemoryIdempotencyStore,
    InMemoryKeyStore,
    InMemoryPSAConnectionStore,
)
from resolutionflow_sqlalchemy.connections import SqlPSAConnectionStore
from resolutionflow_sqlalchemy.idempotency import SqlIdempotencyStore
from resolutionflow_sqlalchemy.keys import SqlKeyStore
from tests.databases import EVERY_STORE, empty_storage, url_for

NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
ALICE = Actor("acme", "alice", Role.ENGINEER)
GLOBEX_ADMIN = Actor("globex", "gina", Role.ADMIN)


@dataclass
class Stores:
    keys: KeyStore
    idempotency: IdempotencyStore
    connections: PSAConnectionStore


@pytest.fixture(params=EVERY_STORE)
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    if request.param == "memory":
        yield Stores(InMemoryKeyStore(), InMemoryIdempotencyStore(), InMemoryPSAConnectionStore())
        return
    storage = await empty_storage(url_for(request, tmp_path / "keys.db"))
    try:
        yield Stores(
            SqlKeyStore(storage.database),
            SqlIdempotencyStore(storage.database),
            SqlPSAConnectionStore(storage.database),
        )
    finally:
        await storage.dispose()


async def test_a_created_key_authenticates_as_its_actor_and_nothing_else_does(
    stores: Stores,
) -> None:
    created = await stores.keys.create(ALICE, "laptop", now=NOW)
    assert created.secret.startswith(f"rf_{created.key.prefix}_")
    assert await stores.keys.authenticate(created.secret) == ALICE
    tampered = created.secret[:-1] + ("A" if created.secret[-1] != "A" else "B")
    for wrong in (tampered, "", "rf_x", "Bearer " + created.secret, created.secret + "x"):
        assert await stores.keys.authenticate(wrong) is None


async def test_a_revoked_key_stops_working_and_stays_listed(stores: Stores) -> None:
    first = await stores.keys.create(ALICE, "old", now=NOW)
    second = await stores.keys.create(ALICE, "new", now=NOW + timedelta(seconds=1))
    revoked = await stores.keys.revoke(first.key.id, now=NOW + timedelta(minutes=1))
    assert revoked is not None
    assert revoked.revoked_at == NOW + timedelta(minutes=1)
    assert await stores.keys.authenticate(first.secret) is None
    assert await stores.keys.authenticate(second.secret) == ALICE
    assert [k.label for k in await stores.keys.list()] == ["old", "new"]
    assert await stores.keys.count_active() == 1


async def test_keys_are_listed_and_revoked_only_within_their_account(stores: Stores) -> None:
    mine = await stores.keys.create(ALICE, "mine", now=NOW)
    theirs = await stores.keys.create(GLOBEX_ADMIN, "theirs", now=NOW)
    assert [k.id for k in await stores.keys.list("acme")] == [mine.key.id]
    assert await stores.keys.revoke(theirs.key.id, now=NOW, account_id="acme") is None
    assert await stores.keys.authenticate(theirs.secret) == GLOBEX_ADMIN


async def test_the_first_claim_runs_and_a_retry_replays_its_response(stores: Stores) -> None:
    store = stores.idempotency
    first = await store.claim("acme:alice:create", "key-1", "f1", now=NOW)
    assert first.outcome is ClaimOutcome.NEW
    assert (await store.claim("acme:alice:create", "key-1", "f1", now=NOW)).outcome is (
        ClaimOutcome.IN_PROGRESS
    )
    await store.complete("acme:alice:create", "key-1", StoredResponse(201, {"id": "s-1"}))
    replay = await store.claim("acme:alice:create", "key-1", "f1", now=NOW)
    assert replay.outcome is ClaimOutcome.REPLAY
    assert replay.response == StoredResponse(201, {"id": "s-1"})
    other = await store.claim("acme:alice:create", "key-1", "f2", now=NOW)
    assert other.outcome is ClaimOutcome.MISMATCH
    elsewhere = await store.claim("acme:bob:create", "key-1", "f2", now=NOW)
    assert elsewhere.outcome is ClaimOutcome.NEW


async def test_a_released_claim_can_be_claimed_again(stores: Stores) -> None:
    store = stores.idempotency
    await store.claim("s", "k", "f", now=NOW)
    await store.release("s", "k")
    assert (await store.claim("s", "k", "f", now=NOW)).outcome is ClaimOutcome.NEW


async def test_of_racing_claims_exactly_one_is_new(stores: Stores) -> None:
    outcomes = await asyncio.gather(
        *(stores.idempotency.claim("s", "race", "f", now=NOW) for _ in range(10))
    )
    assert sorted(o.outcome for o in outcomes) == sorted(
        [ClaimOutcome.NEW] + [ClaimOutcome.IN_PROGRESS] * 9
    )


async def test_a_claim_not_renewed_past_its_lease_is_taken_over_once(stores: Stores) -> None:
    store = stores.idempotency
    lease = timedelta(seconds=10)
    await store.claim("s", "k", "f", now=NOW, lease=lease)
    await store.renew("s", "k", until=NOW + timedelta(seconds=30))

    alive = await store.claim("s", "k", "f", now=NOW + timedelta(seconds=25), lease=lease)
    racing = await asyncio.gather(
        *(
            store.claim("s", "k", "f", now=NOW + timedelta(seconds=31), lease=lease)
            for _ in range(5)
        )
    )
    mismatch = await store.claim("s", "k", "other", now=NOW + timedelta(seconds=31), lease=lease)

    assert alive.outcome is ClaimOutcome.IN_PROGRESS  # renewed: its holder lives
    assert sorted(c.outcome for c in racing) == sorted(
        [ClaimOutcome.TAKEN_OVER] + [ClaimOutcome.IN_PROGRESS] * 4
    )
    assert [c.saved_in for c in racing if c.outcome is ClaimOutcome.TAKEN_OVER] == [None]
    assert mismatch.outcome is ClaimOutcome.MISMATCH


async def test_a_taken_over_claim_says_where_the_dead_requests_input_was_saved(
    stores: Stores,
) -> None:
    store = stores.idempotency
    session_id = uuid.UUID(int=42)
    await store.claim("s", "k", "f", now=NOW, lease=timedelta(seconds=5))
    await store.mark_saved("s", "k", session_id)  # lands with the request's next write:
    await store.renew("s", "k", until=NOW + timedelta(seconds=5))  # this one, here
    assert await store.saved_in("s", "k") == session_id

    taken = await store.claim("s", "k", "f", now=NOW + timedelta(seconds=6))
    await store.complete("s", "k", StoredResponse(200, {"ok": True}))
    later = await store.claim("s", "k", "f", now=NOW + timedelta(hours=1))

    assert (taken.outcome, taken.saved_in) == (ClaimOutcome.TAKEN_OVER, session_id)
    assert (later.outcome, later.response) == (
        ClaimOutcome.REPLAY,
        StoredResponse(200, {"ok": True}),
    )


async def test_a_connection_is_saved_replaced_read_back_and_deleted(stores: Stores) -> None:
    store = stores.connections
    first = PSAConnectionRecord(
        account_id="acme",
        provider="connectwise",
        settings={"site": "na.myconnectwise.net", "statuses": {"resolved": "Completed"}},
        sealed_credentials="sealed-1",
        created_at=NOW,
        updated_at=NOW,
    )
    await store.save(first)
    assert await store.get("acme") == first
    later = NOW + timedelta(days=1)
    await store.save(
        PSAConnectionRecord("acme", "halopsa", {"base_url": "x"}, "sealed-2", later, later)
    )
    replaced = await store.get("acme")
    assert replaced is not None
    assert (replaced.provider, replaced.sealed_credentials) == ("halopsa", "sealed-2")
    assert (replaced.created_at, replaced.updated_at) == (NOW, later)
    assert await store.get("globex") is None
    assert await store.delete("acme") is True
    assert await store.delete("acme") is False
    assert await store.get("acme") is None


# -- rotating the key that seals PSA credentials: `reseal` --------------------------------

CREATED = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
UPDATED = datetime(2026, 11, 6, 9, 30, tzinfo=UTC)
OLD, NEW, STRANGER = Sealer.new_key(), Sealer.new_key(), Sealer.new_key()


def _connection(account_id: str, sealed: str) -> PSAConnectionRecord:
    settings = {"site": f"{account_id}.example.com", "statuses": {"resolved": "Closed"}}
    return PSAConnectionRecord(account_id, "connectwise", settings, sealed, CREATED, UPDATED)


async def _accounts(store: PSAConnectionStore) -> dict[str, dict[str, str]]:
    """Each account's credentials, opened with the old and new keys (stranger's left out)."""
    both = Sealer(f"{NEW},{OLD}")
    opened = {}
    for account_id in ("acme", "globex"):
        record = await store.get(account_id)
        assert record is not None
        opened[account_id] = both.open(record.sealed_credentials)
    return opened


@pytest.fixture
async def connected(stores: Stores) -> PSAConnectionStore:
    """Two accounts sealed with the old key, one with a key the operator no longer has."""
    store = stores.connections
    old = Sealer(OLD)
    await store.save(_connection("globex", old.seal({"private_key": "globex-secret"})))
    await store.save(_connection("acme", old.seal({"private_key": "acme-secret"})))
    await store.save(_connection("initech", Sealer(STRANGER).seal({"private_key": "lost"})))
    return store


async def test_resealing_moves_every_credential_it_can_open_to_the_newest_key(
    connected: PSAConnectionStore,
) -> None:
    initech_before = await connected.get("initech")
    done = await reseal_credentials(connected, Sealer(f"{NEW},{OLD}"))

    assert done.resealed == ["acme", "globex"]
    assert done.locked == ["initech"]
    for account_id, secret in (("acme", "acme-secret"), ("globex", "globex-secret")):
        record = await connected.get(account_id)
        assert record is not None
        assert Sealer(NEW).open(record.sealed_credentials) == {"private_key": secret}
        with pytest.raises(CredentialsLocked):
            Sealer(OLD).open(record.sealed_credentials)
        # Only the sealing changed: not the settings, not when it was connected or updated.
        assert record.settings == {
            "site": f"{account_id}.example.com",
            "statuses": {"resolved": "Closed"},
        }
        assert (record.created_at, record.updated_at) == (CREATED, UPDATED)
    assert await connected.get("initech") == initech_before


async def test_resealing_is_all_or_nothing(connected: PSAConnectionStore) -> None:
    before = {
        account_id: await connected.get(account_id) for account_id in ("acme", "globex", "initech")
    }
    sealer = Sealer(f"{NEW},{OLD}")
    seen: list[str] = []

    def fails_on_the_second(record: PSAConnectionRecord) -> str | None:
        seen.append(record.account_id)
        if len(seen) == 2:
            raise RuntimeError("the disk is full")
        return sealer.reseal(record.sealed_credentials)

    with pytest.raises(RuntimeError, match="the disk is full"):
        await connected.reseal(fails_on_the_second)
    assert seen == ["acme", "globex"]
    for account_id, record in before.items():
        assert await connected.get(account_id) == record


async def test_resealing_twice_keeps_the_credentials_and_without_a_key_refuses(
    connected: PSAConnectionStore,
) -> None:
    sealer = Sealer(f"{NEW},{OLD}")
    await reseal_credentials(connected, sealer)
    again = await reseal_credentials(connected, Sealer(NEW))
    assert again.resealed == ["acme", "globex"]
    assert await _accounts(connected) == {
        "acme": {"private_key": "acme-secret"},
        "globex": {"private_key": "globex-secret"},
    }
    with pytest.raises(CredentialsLocked, match="need a secret key"):
        await reseal_credentials(connected, Sealer(None))
    with pytest.raises(CredentialsLocked, match=r"not a valid key \(key 2 of 2\)"):
        await reseal_credentials(connected, Sealer(f"{NEW},garbage"))
