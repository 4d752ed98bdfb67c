"""``resolutionflow users``: a web user with a one-time password, or one read from stdin."""

from __future__ import annotations

import asyncio

from resolutionflow_app.passwords import Argon2Passwords
from resolutionflow_core.access import Role
from resolutionflow_core.users import User, authenticate_user
from resolutionflow_sqlalchemy import SqlStorage
from resolutionflow_sqlalchemy.users import SqlUserStore
from tests.cli.conftest import Cli

CREATE = ("users", "create", "--account", "acme", "--email", "Alice@Acme.example")


def _signs_in(database_url: str, email: str, password: str) -> User | None:
    async def check() -> User | None:
        storage = SqlStorage.from_url(database_url)
        try:
            users = SqlUserStore(storage.database)
            return await authenticate_user(users, Argon2Passwords(), "acme", email, password)
        finally:
            await storage.dispose()

    return asyncio.run(check())


def test_create_prints_a_one_time_password_the_user_signs_in_with(cli: Cli) -> None:
    shown = cli.ok(*CREATE, "--role", "engineer").stdout
    assert "Created user alice@acme.example (engineer) in account acme." in shown
    password = shown.strip().splitlines()[-1].strip()
    assert len(password) >= 20

    user = _signs_in(cli.database_url, "alice@acme.example", password)
    assert user is not None
    assert user.role is Role.ENGINEER
    assert _signs_in(cli.database_url, "alice@acme.example", password + "x") is None


def test_create_reads_the_password_from_stdin_and_never_prints_it(cli: Cli) -> None:
    chosen = "a long passphrase from a vault"
    result = cli.ok(*CREATE, "--role", "admin", "--password-stdin", input=chosen + "\n")
    assert chosen not in result.output
    user = _signs_in(cli.database_url, "alice@acme.example", chosen)
    assert user is not None
    assert (user.account_id, user.email, user.role) == ("acme", "alice@acme.example", Role.ADMIN)


def test_a_short_password_or_a_second_user_with_the_email_is_refused(cli: Cli) -> None:
    short = cli.refused(2, *CREATE, "--role", "viewer", "--password-stdin", input="short\n")
    assert "password: must have at least 12 characters" in short

    cli.ok(*CREATE, "--role", "viewer")
    again = cli.refused(2, *CREATE, "--role", "owner")
    assert "already has a user 'alice@acme.example'" in again


def test_list_shows_the_accounts_users_without_hashes(cli: Cli) -> None:
    cli.ok(*CREATE, "--role", "owner")
    cli.ok(
        "users", "create", "--account", "globex", "--email", "g@globex.example", "--role", "viewer"
    )

    listed = cli.json("users", "list", "--account", "acme")

    assert [(u["email"], u["role"]) for u in listed] == [("alice@acme.example", "owner")]
    assert "argon2" not in cli.ok("users", "list", "--account", "acme").stdout
