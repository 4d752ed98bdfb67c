"""The session lifecycle: a table from (status, action) to the next status, and one function.

```
            pause                    resolve (summary)
  active ─────────▶ paused    active|paused ───────────▶ resolved   (terminal)
  active ◀───────── paused    active|paused ───────────▶ abandoned  (terminal)
            resume (owner)    active|paused ───────────▶ escalated
                                 escalated ─── claim (another engineer) ──▶ active
```
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from resolutionflow_core.errors import InvalidTransition


class SessionStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    RESOLVED = "resolved"
    ESCALATED = "escalated"
    ABANDONED = "abandoned"


class LifecycleAction(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    RESOLVE = "resolve"
    ESCALATE = "escalate"
    CLAIM = "claim"
    ABANDON = "abandon"


_S = SessionStatus
_A = LifecycleAction

TRANSITIONS: Mapping[tuple[SessionStatus, LifecycleAction], SessionStatus] = MappingProxyType(
    {
        (_S.ACTIVE, _A.PAUSE): _S.PAUSED,
        (_S.PAUSED, _A.RESUME): _S.ACTIVE,
        (_S.ACTIVE, _A.RESOLVE): _S.RESOLVED,
        (_S.PAUSED, _A.RESOLVE): _S.RESOLVED,
        (_S.ACTIVE, _A.ABANDON): _S.ABANDONED,
        (_S.PAUSED, _A.ABANDON): _S.ABANDONED,
        (_S.ACTIVE, _A.ESCALATE): _S.ESCALATED,
        (_S.PAUSED, _A.ESCALATE): _S.ESCALATED,
        (_S.ESCALATED, _A.CLAIM): _S.ACTIVE,
    }
)

TERMINAL_STATUSES: frozenset[SessionStatus] = frozenset(_S) - {source for source, _ in TRANSITIONS}
"""Statuses a session never leaves (resolved, abandoned): those the table has no way out of,
so a new action out of one (say, reopening) is one line of the table and nothing else here."""

OPEN_STATUSES: frozenset[SessionStatus] = frozenset({_S.ACTIVE, _S.PAUSED})
"""Statuses in which the owning engineer is still working the problem."""


def next_status(status: SessionStatus, action: LifecycleAction) -> SessionStatus:
    """The status ``action`` leads to from ``status``; `InvalidTransition` if none."""
    try:
        return TRANSITIONS[(status, action)]
    except KeyError:
        if status in TERMINAL_STATUSES:
            reason = f"a {status} session is closed and never changes again"
            raise InvalidTransition(status, action, reason) from None
        raise InvalidTransition(status, action) from None


def allowed_actions(status: SessionStatus) -> tuple[LifecycleAction, ...]:
    """The lifecycle actions the table allows from ``status``, in declaration order."""
    return tuple(action for (source, action) in TRANSITIONS if source == status)
