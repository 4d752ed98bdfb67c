"""Rotating the key that seals PSA credentials: what every connection store promises for
``reseal`` (memory, SQLite, PostgreSQL), driven by `reseal_credentials` and a `Sealer`
holding several keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from resolutionflow_app.psa import CredentialsLocked, Sealer, reseal_credentials
from resolutionflow_core.connections import PSAConnectionRecord, PSAConnectionStore
from resolutionflow_memory.keys import InMemoryPSAConnectionStore
from resolutionflow_sqlalchemy import SqlStorage
from resolutionflow_sqlalchemy.connections import SqlPSAConnectionStore
from resolutionflow_sqlalchemy.tables import metadata
from tests.databases import PostgresServer

CREATED = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
UPDATED = datetime(2026, 11, 6, 9, 30, tzinfo=UTC)
OLD, NEW, STRANGER = Sealer.new_key(), Sealer.new_key(), Sealer.new_key()


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[PSAConnectionStore]:
    if request.param == "memory":
        yield InMemoryPSAConnectionStore()
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'connections.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.database_url
    storage = SqlStorage.from_url(url)

    def reset(conn: sa.Connection) -> None:
        metadata.drop_all(conn)
        metadata.create_all(conn)

    await storage.database.write(reset)
    try:
        yield SqlPSAConnectionStore(storage.database)
    finally:
        await storage.dispose()


def _record(account_id: str, sealed: str) -> PSAConnectionRecord:
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
async def connected(store: PSAConnectionStore) -> PSAConnectionStore:
    """Two accounts sealed with the old key, one with a key the operator no longer has."""
    old = Sealer(OLD)
    await store.save(_record("globex", old.seal({"private_key": "globex-secret"})))
    await store.save(_record("acme", old.seal({"private_key": "acme-secret"})))
    await store.save(_record("initech", Sealer(STRANGER).seal({"private_key": "lost"})))
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
