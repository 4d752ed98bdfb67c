"""``resolutionflow keys``: the secret is shown once, at creation, and never again."""

from __future__ import annotations

import asyncio
import uuid

from resolutionflow_core.access import Actor, Role
from resolutionflow_sqlalchemy import SqlStorage
from resolutionflow_sqlalchemy.keys import SqlKeyStore
from tests.cli.conftest import Cli

CREATE = ("keys", "create", "--account", "acme", "--user", "alice", "--role", "engineer")


def _authenticates(database_url: str, secret: str) -> Actor | None:
    async def check() -> Actor | None:
        storage = SqlStorage.from_url(database_url)
        try:
            return await SqlKeyStore(storage.database).authenticate(secret)
        finally:
            await storage.dispose()

    return asyncio.run(check())


def test_create_shows_the_secret_once_with_how_to_use_it(cli: Cli) -> None:
    shown = cli.ok(*CREATE, "--label", "laptop").stdout
    (secret,) = [word.strip('"') for word in shown.split() if word.startswith("rf_")][:1]
    assert shown.count(secret) == 2  # the key itself, and the curl example using it
    assert "only time the key is shown" in shown
    assert f'curl -H "Authorization: Bearer {secret}" http://127.0.0.1:8000/api/v1/ai-sessions' in (
        shown
    )
    assert "resolutionflow keys revoke" in shown
    assert _authenticates(cli.database_url, secret) == Actor("acme", "alice", Role.ENGINEER)


def test_create_json_carries_the_secret_and_the_actor(cli: Cli) -> None:
    created = cli.json(*CREATE, "--label", "PSA webhook")
    key = created["key"]  # the API's shape: {"key": {...}, "secret": "..."}
    assert set(created) == {"key", "secret"}
    assert created["secret"].startswith(f"rf_{key['prefix']}_")
    assert key["account_id"] == "acme"
    assert key["user_id"] == "alice"
    assert key["role"] == "engineer"
    assert key["label"] == "PSA webhook"
    assert key["active"] is True


def test_no_other_command_ever_prints_a_secret(cli: Cli) -> None:
    created = cli.json(*CREATE)
    secret, key_id = created["secret"], created["key"]["id"]
    token = secret.rsplit("_", 1)[1]
    outputs = [
        cli.ok("keys", "list"),
        cli.ok("keys", "list", "--json"),
        cli.ok("keys", "list", "--account", "acme"),
        cli.ok("keys", "revoke", key_id),
        cli.ok("keys", "revoke", key_id, "--json"),
        cli.ok("keys", "list"),
        cli.ok("sessions", "list"),
        cli.ok("db", "current", "--json"),
    ]
    for result in outputs:
        assert token not in result.output
        assert secret not in result.output


def test_list_shows_every_key_by_prefix_with_its_state(cli: Cli) -> None:
    first = cli.json(*CREATE, "--label", "laptop")["key"]
    second = cli.json("keys", "create", "--account", "globex", "--user", "bob", "--role", "admin")[
        "key"
    ]
    cli.ok("keys", "revoke", second["id"])
    shown = cli.ok("keys", "list").stdout
    assert f"rf_{first['prefix']}_…" in shown
    assert "laptop" in shown
    assert "active" in shown
    assert "revoked" in shown
    listed = cli.json("keys", "list")["items"]
    assert [key["id"] for key in listed] == [first["id"], second["id"]]
    assert all("secret" not in key for key in listed)
    assert [key["id"] for key in cli.json("keys", "list", "--account", "acme")["items"]] == [
        first["id"]
    ]
    assert "No API keys in 'nobody'." in cli.ok("keys", "list", "--account", "nobody").stdout


def test_revoke_refuses_the_key_from_then_on_and_is_safe_to_repeat(cli: Cli) -> None:
    created = cli.json(*CREATE)
    shown = cli.ok("keys", "revoke", created["key"]["id"]).stdout
    assert f"Revoked API key {created['key']['id']}" in shown
    assert _authenticates(cli.database_url, created["secret"]) is None
    again = cli.ok("keys", "revoke", created["key"]["id"]).stdout
    assert "was already revoked" in again
    assert cli.json("keys", "revoke", created["key"]["id"])["active"] is False


def test_revoke_within_another_account_or_of_an_unknown_key_is_not_found(cli: Cli) -> None:
    created = cli.json(*CREATE)
    line = cli.refused(3, "keys", "revoke", created["key"]["id"], "--account", "globex")
    assert line == f"resolutionflow: not found: API key {created['key']['id']} not found"
    cli.refused(3, "keys", "revoke", str(uuid.uuid4()))
    assert _authenticates(cli.database_url, created["secret"]) == Actor(
        "acme", "alice", Role.ENGINEER
    )  # still active


def test_create_refuses_a_role_that_does_not_exist_or_a_blank_user(cli: Cli) -> None:
    line = cli.refused(2, "keys", "create", "--account", "a", "--user", "u", "--role", "god")
    assert "--role" in line
    line = cli.refused(2, "keys", "create", "--account", "a", "--user", " ", "--role", "admin")
    assert "user_id: must not be empty" in line
