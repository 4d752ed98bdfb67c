"""Who may create and revoke API keys, and act as whom: an admin never over an owner."""

from __future__ import annotations

import pytest

from resolutionflow_core.access import (
    Actor,
    Role,
    ensure_can_create_key,
    ensure_can_revoke_key,
)
from resolutionflow_core.errors import PermissionDenied

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
