"""What claiming a key already in use answers, in the order both stores rely on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from resolutionflow_core.idempotency import (
    DEFAULT_LEASE,
    Claim,
    ClaimOutcome,
    HeldClaim,
    StoredResponse,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DONE = StoredResponse(201, {"id": "s-1"})


def test_another_requests_key_is_a_mismatch_even_when_finished_or_expired() -> None:
    held = HeldClaim("f1", T0, T0 - timedelta(hours=1), DONE)

    answer = held.answer("f2", now=T0)

    assert answer == Claim(ClaimOutcome.MISMATCH)


def test_a_finished_request_is_replayed_even_after_its_lease() -> None:
    answer = HeldClaim("f1", T0, T0, DONE).answer("f1", now=T0 + timedelta(hours=1))

    assert answer == Claim(ClaimOutcome.REPLAY, DONE)


def test_a_holder_still_renewing_is_in_progress_until_its_lease_runs_out() -> None:
    held = HeldClaim("f1", T0, T0 + timedelta(seconds=30), saved_in=uuid4())

    answer = held.answer("f1", now=T0 + timedelta(seconds=30))

    assert answer == Claim(ClaimOutcome.IN_PROGRESS)
    assert held.answer("f1", now=T0 + timedelta(seconds=31)) is None


def test_a_claim_without_a_lease_counts_the_default_lease_from_its_creation() -> None:
    held = HeldClaim("f1", T0, None)

    assert held.answer("f1", now=T0 + DEFAULT_LEASE) == Claim(ClaimOutcome.IN_PROGRESS)
    assert held.answer("f1", now=T0 + DEFAULT_LEASE + timedelta(seconds=1)) is None
