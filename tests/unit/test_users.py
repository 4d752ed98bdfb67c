"""Users: registration checks, password verification that says nothing about which part was
wrong, and which lifecycle actions a user is offered (`allowed_actions_for`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from resolutionflow_app.passwords import Argon2Passwords
from resolutionflow_core.access import Actor, Role, allowed_actions_for
from resolutionflow_core.errors import InvalidInput
from resolutionflow_core.lifecycle import LifecycleAction as A
from resolutionflow_core.session import Session
from resolutionflow_core.users import (
    User,
    UserExists,
    authenticate_user,
    new_browser_session,
    register_user,
)
from resolutionflow_memory.users import InMemoryUserStore

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def passwords() -> Argon2Passwords:
    return Argon2Passwords()


async def register(
    users: InMemoryUserStore,
    passwords: Argon2Passwords,
    email: str,
    role: Role,
    *,
    account: str = "acme",
    password: str = PASSWORD,
) -> User:
    return await register_user(
        users, passwords, account_id=account, email=email, role=role, password=password, now=NOW
    )


async def test_a_registered_user_signs_in_with_the_password_and_email_in_any_case(
    passwords: Argon2Passwords,
) -> None:
    users = InMemoryUserStore()
    created = await register(users, passwords, " Alice@Acme.Example ", Role.ADMIN, account=" acme ")

    assert created.email == "alice@acme.example"
    assert created.account_id == "acme"
    assert created.password_hash.startswith("$argon2id$")
    assert PASSWORD not in created.password_hash
    found = await authenticate_user(users, passwords, "acme", "ALICE@acme.example", PASSWORD)
    assert found == created
    assert found.actor == Actor("acme", "alice@acme.example", Role.ADMIN)


@pytest.mark.parametrize(
    ("account", "email", "password"),
    [
        ("acme", "alice@acme.example", PASSWORD + "x"),
        ("acme", "bob@acme.example", PASSWORD),
        ("globex", "alice@acme.example", PASSWORD),
        ("acme", "not an email", PASSWORD),
    ],
)
async def test_any_wrong_part_is_the_same_refusal(
    passwords: Argon2Passwords, account: str, email: str, password: str
) -> None:
    users = InMemoryUserStore()
    await register(users, passwords, "alice@acme.example", Role.ENGINEER)

    assert await authenticate_user(users, passwords, account, email, password) is None


@pytest.mark.parametrize(
    ("email", "password", "field"),
    [("nobody", PASSWORD, "email"), ("a@b.example", "short", "password"), ("", PASSWORD, "email")],
)
async def test_registration_refuses_a_bad_email_or_a_short_password(
    passwords: Argon2Passwords, email: str, password: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await register(InMemoryUserStore(), passwords, email, Role.VIEWER, password=password)
    assert refused.value.field == field


async def test_an_email_cannot_be_registered_twice_in_an_account(
    passwords: Argon2Passwords,
) -> None:
    users = InMemoryUserStore()
    await register(users, passwords, "a@acme.example", Role.VIEWER)
    with pytest.raises(UserExists):
        await register(users, passwords, "A@acme.example", Role.OWNER)


def test_a_browser_session_expires_after_the_idle_time_only() -> None:
    token, session = new_browser_session(Actor("acme", "a@acme.example", Role.ENGINEER), NOW)
    idle = timedelta(hours=8)

    assert len(token) >= 43
    assert not session.expired(NOW + idle, idle)
    assert session.expired(NOW + idle + timedelta(seconds=1), idle)


def _chat(owner: str) -> Session:
    return Session.start_chat(
        session_id=__import__("uuid").uuid4(), account_id="acme", user_id=owner,
        first_message="Outlook keeps asking for the password", now=NOW,
    )  # fmt: skip


ALICE = Actor("acme", "alice", Role.ENGINEER)
BOB = Actor("acme", "bob", Role.ENGINEER)
ADMIN = Actor("acme", "ada", Role.ADMIN)
VIEWER = Actor("acme", "vic", Role.VIEWER)
OUTSIDER = Actor("globex", "alice", Role.OWNER)


def test_the_owner_is_offered_what_the_status_allows_and_others_nothing() -> None:
    session = _chat("alice")

    assert allowed_actions_for(ALICE, session) == (A.PAUSE, A.RESOLVE, A.ABANDON, A.ESCALATE)
    assert allowed_actions_for(ADMIN, session) == (A.PAUSE, A.RESOLVE, A.ABANDON, A.ESCALATE)
    assert allowed_actions_for(BOB, session) == ()
    assert allowed_actions_for(VIEWER, session) == ()
    assert allowed_actions_for(OUTSIDER, session) == ()

    session.pause(now=NOW, by="alice")
    assert allowed_actions_for(ALICE, session) == (A.RESUME, A.RESOLVE, A.ABANDON, A.ESCALATE)


def test_an_escalation_is_claimable_by_anyone_but_who_escalated_it_and_viewers() -> None:
    session = _chat("alice")
    session.escalate("needs a domain admin", now=NOW, by="alice")

    assert allowed_actions_for(ALICE, session) == ()
    assert allowed_actions_for(BOB, session) == (A.CLAIM,)
    assert allowed_actions_for(ADMIN, session) == (A.CLAIM,)
    assert allowed_actions_for(VIEWER, session) == ()
