"""The lifecycle table and the function that applies it."""

from __future__ import annotations

import itertools

import pytest

from resolutionflow_core.errors import InvalidTransition
from resolutionflow_core.lifecycle import (
    TERMINAL_STATUSES,
    TRANSITIONS,
    LifecycleAction,
    SessionStatus,
    allowed_actions,
    next_status,
)

S = SessionStatus
A = LifecycleAction

EXPECTED = {
    (S.ACTIVE, A.PAUSE): S.PAUSED,
    (S.PAUSED, A.RESUME): S.ACTIVE,
    (S.ACTIVE, A.RESOLVE): S.RESOLVED,
    (S.PAUSED, A.RESOLVE): S.RESOLVED,
    (S.ACTIVE, A.ABANDON): S.ABANDONED,
    (S.PAUSED, A.ABANDON): S.ABANDONED,
    (S.ACTIVE, A.ESCALATE): S.ESCALATED,
    (S.PAUSED, A.ESCALATE): S.ESCALATED,
    (S.ESCALATED, A.CLAIM): S.ACTIVE,
}


def test_the_table_is_exactly_the_product_diagram() -> None:
    assert dict(TRANSITIONS) == EXPECTED


@pytest.mark.parametrize(("status", "action"), list(itertools.product(S, A)))
def test_every_status_action_pair_either_moves_as_the_table_says_or_is_refused(
    status: SessionStatus, action: LifecycleAction
) -> None:
    if (status, action) in EXPECTED:
        assert next_status(status, action) is EXPECTED[(status, action)]
    else:
        with pytest.raises(InvalidTransition) as refused:
            next_status(status, action)
        assert refused.value.status == status
        assert refused.value.action == action
        assert str(status) in str(refused.value)
        assert str(action) in str(refused.value)


@pytest.mark.parametrize("status", sorted(TERMINAL_STATUSES))
def test_terminal_statuses_allow_nothing_and_say_they_are_closed(status: SessionStatus) -> None:
    assert allowed_actions(status) == ()
    with pytest.raises(InvalidTransition, match="never changes again"):
        next_status(status, A.RESUME)


def test_the_terminal_statuses_are_resolved_and_abandoned() -> None:
    # Derived from the table (no way out), so it must still say exactly these two.
    assert sorted(TERMINAL_STATUSES) == [S.ABANDONED, S.RESOLVED]


def test_escalated_sessions_only_leave_by_a_claim() -> None:
    assert allowed_actions(S.ESCALATED) == (A.CLAIM,)


def test_the_table_cannot_be_changed_at_run_time() -> None:
    with pytest.raises(TypeError):
        TRANSITIONS[(S.RESOLVED, A.RESUME)] = S.ACTIVE  # type: ignore[index]
