"""Who may do what: actors and the rules that bind them to sessions.

- Nobody sees another account's sessions: to them those do not exist.
- Owners, admins and viewers see every session of their account; engineers see their own
  and the account's escalated ones (so somebody can claim them).
- Viewers read only. Working a session (chat, answer, pause, resume, resolve, escalate,
  abandon, link, share) is for its owning engineer, or an owner or admin of the account.
- Claiming an escalated session is for any non-viewer other than who escalated it (the
  aggregate enforces that part).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from resolutionflow_core.errors import InvalidInput, PermissionDenied, SessionNotFound
from resolutionflow_core.lifecycle import LifecycleAction, SessionStatus, allowed_actions
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


def allowed_actions_for(actor: Actor, session: Session) -> tuple[LifecycleAction, ...]:
    """The lifecycle actions ``actor`` may perform on ``session`` now: what the status
    allows (the lifecycle table), narrowed by who the actor is (`ensure_can_work` for all
    but claim; claim for any non-viewer other than who escalated it)."""
    if not can_view(actor, session) or actor.role is Role.VIEWER:
        return ()
    may_work = session.user_id == actor.user_id or actor.role in MANAGING_ROLES
    actions: list[LifecycleAction] = []
    for action in allowed_actions(session.status):
        if action is LifecycleAction.CLAIM:
            if session.escalated_by != actor.user_id:
                actions.append(action)
        elif may_work:
            actions.append(action)
    return tuple(actions)
