"""Who may see which session, and who may create and revoke API keys, acting as whom."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from resolutionflow_core.access import (
    Actor,
    Role,
    can_view,
    ensure_can_create_key,
    ensure_can_revoke_key,
    ensure_visible,
    grantable_roles,
)
from resolutionflow_core.errors import PermissionDenied, SessionNotFound
from resolutionflow_core.session import Session
from resolutionflow_core.users import ensure_can_manage_users
from tests.sessions import chat_session

OLGA = Actor("acme", "olga", Role.OWNER)
ADA = Actor("acme", "ada", Role.ADMIN)
EVE = Actor("acme", "eve", Role.ENGINEER)
VERA = Actor("acme", "vera", Role.VIEWER)


@pytest.mark.parametrize(
    ("actor", "holder", "allowed"),
    [
        (OLGA, Actor("acme", "oscar", Role.OWNER), True),
        (OLGA, Actor("acme", "eve", Role.ENGINEER), True),
        (OLGA, Actor("globex", "eve", Role.ENGINEER), False),
        (ADA, Actor("acme", "ada", Role.ADMIN), True),
        (ADA, Actor("acme", "ada", Role.VIEWER), True),
        (ADA, Actor("acme", "ada", Role.OWNER), False),
        (ADA, Actor("acme", "eve", Role.ENGINEER), False),
        (ADA, Actor("acme", "ben", Role.ADMIN), False),
        (EVE, Actor("acme", "eve", Role.ENGINEER), False),
        (VERA, Actor("acme", "vera", Role.VIEWER), False),
    ],
)
def test_who_may_mint_a_key_acting_as_whom(actor: Actor, holder: Actor, allowed: bool) -> None:
    if allowed:
        ensure_can_create_key(actor, holder)
    else:
        with pytest.raises(PermissionDenied):
            ensure_can_create_key(actor, holder)


@pytest.mark.parametrize(
    ("actor", "holder", "others", "allowed"),
    [
        (OLGA, EVE, 0, True),
        (OLGA, Actor("acme", "oscar", Role.OWNER), 1, True),
        (OLGA, OLGA, 1, True),
        (OLGA, OLGA, 0, False),  # the last active owner key
        (ADA, EVE, 1, True),
        (ADA, Actor("acme", "ben", Role.ADMIN), 1, True),
        (ADA, OLGA, 2, False),  # never an owner key
        (EVE, EVE, 1, False),
        (VERA, EVE, 1, False),
    ],
)
def test_who_may_revoke_which_key(actor: Actor, holder: Actor, others: int, allowed: bool) -> None:
    if allowed:
        ensure_can_revoke_key(actor, holder, other_active_owner_keys=others)
    else:
        with pytest.raises(PermissionDenied):
            ensure_can_revoke_key(actor, holder, other_active_owner_keys=others)


T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def claimed_after_an_admin_escalated() -> Session:
    """eve's session, escalated by the admin ada, then claimed by ben (then by carl)."""
    session = chat_session("VPN drops every hour", user="eve", now=T0)
    session.escalate("Needs a network specialist", now=T0 + timedelta(minutes=1), by="ada")
    session.claim(now=T0 + timedelta(minutes=2), by="ben")
    session.escalate("Needs the vendor", now=T0 + timedelta(minutes=3), by="ben")
    session.claim(now=T0 + timedelta(minutes=4), by="carl")
    return session


@pytest.mark.parametrize(
    ("actor", "visible"),
    [
        (Actor("acme", "eve", Role.ENGINEER), True),  # owned it before ben's claim
        (Actor("acme", "ben", Role.ENGINEER), True),  # owned and escalated it
        (Actor("acme", "carl", Role.ENGINEER), True),  # owns it
        (Actor("acme", "dan", Role.ENGINEER), False),  # never touched it
        (Actor("globex", "eve", Role.ENGINEER), False),  # same name, other account
        (VERA, True),
    ],
)
def test_former_owners_keep_read_access_after_a_claim(actor: Actor, visible: bool) -> None:
    session = claimed_after_an_admin_escalated()

    assert (session.user_id, session.escalated_by, session.former_owner_ids) == (
        "carl",
        "ben",
        ["eve", "ben"],
    )
    assert can_view(actor, session) is visible
    if not visible:
        with pytest.raises(SessionNotFound):
            ensure_visible(actor, session)


@pytest.mark.parametrize("actor", [OLGA, ADA])
def test_the_roles_offered_are_those_the_rule_lets_the_actor_give(actor: Actor) -> None:
    def may_give(role: Role) -> bool:
        try:
            ensure_can_manage_users(actor, role)
        except PermissionDenied:
            return False
        return True

    assert grantable_roles(actor) == [role for role in Role if may_give(role)]
    assert (Role.OWNER in grantable_roles(actor)) is (actor.role is Role.OWNER)
