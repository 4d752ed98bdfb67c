"""Who may do what: actors and the rules that bind them to sessions.

- Nobody sees another account's sessions: to them those do not exist.
- Owners, admins and viewers see every session of their account; engineers see their own,
  the ones they escalated or owned before a claim (also after a colleague claimed them, to
  follow up, whoever escalated) and the account's escalated ones (so somebody can claim them).
- Viewers read only. Working a session (chat, answer, pause, resume, resolve, escalate,
  abandon, link, share) is for its owning engineer, or an owner or admin of the account.
- Claiming an escalated session is for any non-viewer other than who escalated it.
- `allowed_actions_for` lists the lifecycle actions an actor may take on a session now, from
  its status *and* who the actor is: each one listed succeeds, every other one is refused.
- API keys: owners and admins manage their account's keys, but an admin never acts over an
  owner: an owner creates keys for any user and role of the account; an admin creates keys
  only for themself (user id = their own) with a role of admin, engineer or viewer, and never
  revokes an owner key. The last active owner key of an account is never revoked through
  the API (somebody must be able to manage the account).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from resolutionflow_core.errors import InvalidInput, PermissionDenied, SessionNotFound
from resolutionflow_core.lifecycle import LifecycleAction, SessionStatus, allowed_actions

if TYPE_CHECKING:  # the aggregate is only read here: who acts needs not load it
    from resolutionflow_core.session import Session


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    ENGINEER = "engineer"
    VIEWER = "viewer"


MANAGING_ROLES = frozenset({Role.OWNER, Role.ADMIN})
SEES_WHOLE_ACCOUNT = frozenset({Role.OWNER, Role.ADMIN, Role.VIEWER})


@dataclass(frozen=True, slots=True)
class Actor:
    """The account, user and role an operation runs as."""

    account_id: str
    user_id: str
    role: Role

    def __post_init__(self) -> None:
        if not self.account_id.strip():
            raise InvalidInput("account_id", "must not be empty")
        if not self.user_id.strip():
            raise InvalidInput("user_id", "must not be empty")

    @property
    def sees_whole_account(self) -> bool:
        return self.role in SEES_WHOLE_ACCOUNT


def can_view(actor: Actor, session: Session) -> bool:
    if session.account_id != actor.account_id:
        return False
    return (
        actor.sees_whole_account
        or session.user_id == actor.user_id
        or session.escalated_by == actor.user_id
        or actor.user_id in session.former_owner_ids
        or session.status is SessionStatus.ESCALATED
    )


def ensure_visible(actor: Actor, session: Session) -> None:
    """`SessionNotFound` unless the actor may see the session (never say it exists)."""
    if not can_view(actor, session):
        raise SessionNotFound(session.id)


def ensure_can_create(actor: Actor) -> None:
    if actor.role is Role.VIEWER:
        raise PermissionDenied("start a session", "viewers can only read")


def ensure_can_work(actor: Actor, session: Session, operation: str) -> None:
    """The actor may change the session: its owner, or an owner/admin of the account."""
    ensure_visible(actor, session)
    if actor.role is Role.VIEWER:
        raise PermissionDenied(operation, "viewers can only read")
    if session.user_id != actor.user_id and actor.role not in MANAGING_ROLES:
        raise PermissionDenied(operation, f"session {session.id} belongs to another engineer")


def ensure_can_claim(actor: Actor, session: Session) -> None:
    ensure_visible(actor, session)
    if actor.role is Role.VIEWER:
        raise PermissionDenied("claim", "viewers can only read")


def may_work(actor: Actor, session: Session) -> bool:
    """`ensure_can_work` as a question."""
    return (
        can_view(actor, session)
        and actor.role is not Role.VIEWER
        and (session.user_id == actor.user_id or actor.role in MANAGING_ROLES)
    )


def may_claim(actor: Actor, session: Session) -> bool:
    """Whether a claim by ``actor`` passes both access and the aggregate's rule."""
    return (
        can_view(actor, session)
        and actor.role is not Role.VIEWER
        and session.escalated_by != actor.user_id
    )


def allowed_actions_for(actor: Actor, session: Session) -> tuple[LifecycleAction, ...]:
    """The lifecycle actions ``actor`` may perform on ``session`` now (status and who).

    Every action listed succeeds for this actor; every other lifecycle action is refused.
    `lifecycle.allowed_actions` is the status-only table this narrows.
    """
    if not can_view(actor, session):
        return ()
    return tuple(
        action
        for action in allowed_actions(session.status)
        if (
            may_claim(actor, session)
            if action is LifecycleAction.CLAIM
            else may_work(actor, session)
        )
    )


# -- managing the account -------------------------------------------------------------------


def ensure_can_manage(actor: Actor, operation: str, what: str) -> None:
    """Owners and admins manage their account (its users, API keys, PSA connection and note
    deliveries); engineers and viewers do not. ``what`` names what is managed, for the
    refusal: "only owners and admins manage the PSA connection"."""
    if actor.role not in MANAGING_ROLES:
        raise PermissionDenied(operation, f"only owners and admins manage {what}")


def grantable_roles(actor: Actor) -> list[Role]:
    """The roles ``actor`` may give a user or a key: every role for an owner, all but owner
    for anyone else (only owners make owners)."""
    return [role for role in Role if role is not Role.OWNER or actor.role is Role.OWNER]


# -- API keys ---------------------------------------------------------------------------------

API_KEYS = "API keys"


def ensure_can_create_key(actor: Actor, holder: Actor) -> None:
    """``actor`` may mint a key acting as ``holder`` (an admin never over an owner)."""
    ensure_can_manage(actor, "create API keys", API_KEYS)
    if holder.account_id != actor.account_id:
        raise PermissionDenied("create an API key", "keys are created in your own account only")
    if actor.role is Role.OWNER:
        return
    if holder.role is Role.OWNER:
        raise PermissionDenied("create an owner key", "only owners create owner keys")
    if holder.user_id != actor.user_id:
        raise PermissionDenied(
            "create a key for another user",
            f"an admin creates keys only for themself ({actor.user_id}), never to act as "
            "another user; ask an owner",
        )


def ensure_can_revoke_key(actor: Actor, holder: Actor, *, other_active_owner_keys: int) -> None:
    """``actor`` may revoke a key of ``holder``.

    ``other_active_owner_keys``: active owner keys of the account besides this one.
    """
    ensure_can_manage(actor, "revoke API keys", API_KEYS)
    if holder.role is not Role.OWNER:
        return
    if actor.role is not Role.OWNER:
        raise PermissionDenied("revoke an owner key", "only owners revoke owner keys")
    if other_active_owner_keys < 1:
        raise PermissionDenied(
            "revoke this key",
            "it is the account's last active owner key; create another owner key first",
        )
