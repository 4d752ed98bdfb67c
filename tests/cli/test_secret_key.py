"""``resolutionflow secret-key`` and ``secret-key rotate``: several keys in
RESOLUTIONFLOW_SECRET_KEY (the first seals, any opens), and every stored credential sealed
again with the newest one."""

from __future__ import annotations

import asyncio

import pytest

from resolutionflow_app.psa import CredentialsLocked, Sealer
from resolutionflow_sqlalchemy import SqlStorage
from resolutionflow_sqlalchemy.connections import SqlPSAConnectionStore
from tests.cli.conftest import Cli
from tests.cli.test_psa import CONNECTWISE, SECRET


def _sealed(database_url: str, account_id: str = "default") -> str:
    async def read() -> str:
        storage = SqlStorage.from_url(database_url)
        try:
            record = await SqlPSAConnectionStore(storage.database).get(account_id)
        finally:
            await storage.dispose()
        assert record is not None
        return record.sealed_credentials

    return asyncio.run(read())


@pytest.fixture
def old_key(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> str:
    """A connection saved under one key (the one to rotate away from)."""
    key = cli.ok("secret-key").stdout.strip()
    monkeypatch.setenv("RESOLUTIONFLOW_SECRET_KEY", key)
    cli.ok(*CONNECTWISE, "--credential", f"private_key={SECRET}")
    return key


def test_rotate_seals_every_credential_with_the_newest_key_and_the_old_one_can_go(
    cli: Cli, old_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_key = cli.ok("secret-key").stdout.strip()
    before = _sealed(cli.database_url)
    assert Sealer(f"{new_key},{old_key}").open(before) == {"private_key": SECRET}

    monkeypatch.setenv("RESOLUTIONFLOW_SECRET_KEY", f"{new_key}, {old_key}")
    rotated = cli.json("secret-key", "rotate")
    assert rotated == {"resealed": ["default"], "locked": [], "keys": 2}

    after = _sealed(cli.database_url)
    assert after != before
    assert Sealer(new_key).open(after) == {"private_key": SECRET}
    with pytest.raises(CredentialsLocked, match="another key"):
        Sealer(old_key).open(after)
    # With the old key dropped, the connection still works: it is opened on use.
    monkeypatch.setenv("RESOLUTIONFLOW_SECRET_KEY", new_key)
    assert cli.json("psa", "show")["credentials_set"] == ["private_key"]


def test_rotate_says_how_many_and_warns_when_there_is_no_new_key(cli: Cli, old_key: str) -> None:
    shown = cli.ok("secret-key", "rotate").stdout
    assert "Re-sealed the PSA credentials of 1 account(s) with the newest key." in shown
    assert "Only one key is configured" in shown
    assert Sealer(old_key).open(_sealed(cli.database_url)) == {"private_key": SECRET}


def test_credentials_no_key_opens_are_named_and_left_as_they_are(
    cli: Cli, old_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _sealed(cli.database_url)
    monkeypatch.setenv("RESOLUTIONFLOW_SECRET_KEY", Sealer.new_key())
    line = cli.refused(1, "secret-key", "rotate")
    assert "the credentials of default open with none of the keys" in line
    assert "add the key they were sealed with" in line
    assert _sealed(cli.database_url) == before


def test_rotate_without_a_key_says_how_to_make_one(cli: Cli) -> None:
    line = cli.refused(2, "secret-key", "rotate")
    assert "RESOLUTIONFLOW_SECRET_KEY" in line
    assert "resolutionflow secret-key" in line


def test_a_malformed_second_key_is_named_by_its_place(
    cli: Cli, old_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESOLUTIONFLOW_SECRET_KEY", f"{old_key},not-a-key")
    line = cli.refused(2, "secret-key", "rotate")
    assert "RESOLUTIONFLOW_SECRET_KEY is not a valid key (key 2 of 2)" in line
