"""Titles, confidence tiers, cursors and the other small values of the domain."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resolutionflow_core.chat import TITLE_MAX_CHARS, clean_message, make_title
from resolutionflow_core.errors import ContentTooLarge, CursorMismatch, InvalidCursor, InvalidInput
from resolutionflow_core.guided import ConfidenceTier, ProposedStep, StepKind, tier_for
from resolutionflow_core.listing import Cursor, SessionQuery, parse_moment
from resolutionflow_core.session import SessionType


def test_a_short_first_message_is_the_title_on_one_line() -> None:
    assert make_title("  Outlook keeps\nasking for   the password ") == (
        "Outlook keeps asking for the password"
    )


def test_a_long_first_message_is_cut_at_a_word_boundary_with_an_ellipsis() -> None:
    text = "The VPN client disconnects every ten minutes for all remote users of the finance team"
    title = make_title(text)
    assert title == "The VPN client disconnects every ten minutes for all remote users of the…"
    assert len(title) <= TITLE_MAX_CHARS


def test_a_single_huge_word_is_cut_hard() -> None:
    title = make_title("x" * 500)
    assert title == "x" * (TITLE_MAX_CHARS - 1) + "…"


@given(st.text(min_size=1, max_size=600).filter(lambda t: t.strip()))
def test_titles_are_one_line_within_the_limit_and_start_like_the_message(text: str) -> None:
    title = make_title(text)
    assert len(title) <= TITLE_MAX_CHARS
    assert "\n" not in title
    words = " ".join(text.split())
    assert words.startswith(title.removesuffix("…").rstrip(" .,;:-"))


@pytest.mark.parametrize(
    ("score", "tier"),
    [
        (0.0, ConfidenceTier.DISCOVERY),
        (0.399, ConfidenceTier.DISCOVERY),
        (0.4, ConfidenceTier.EXPLORING),
        (0.799, ConfidenceTier.EXPLORING),
        (0.8, ConfidenceTier.GUIDED),
        (1.0, ConfidenceTier.GUIDED),
    ],
)
def test_confidence_tiers_follow_the_product_thresholds(score: float, tier: ConfidenceTier) -> None:
    assert tier_for(score) is tier


def test_empty_and_oversized_messages_are_refused_with_the_field_named() -> None:
    with pytest.raises(InvalidInput, match="content: must not be empty"):
        clean_message("   \n ")
    with pytest.raises(ContentTooLarge) as too_large:
        clean_message("a" * 40_000)
    assert too_large.value.length == 40_000
    assert too_large.value.field == "content"


def test_a_proposed_step_outside_the_confidence_range_is_refused() -> None:
    with pytest.raises(ValueError, match="confidence"):
        ProposedStep(kind=StepKind.QUESTION, content="Which VPN client?", confidence=1.5)
    with pytest.raises(ValueError, match="content"):
        ProposedStep(kind=StepKind.QUESTION, content="   ", confidence=0.5)


@given(
    st.datetimes(timezones=st.just(UTC), min_value=datetime(2000, 1, 1)),
    st.uuids(),
)
def test_a_cursor_survives_its_encoding(when: datetime, session_id: uuid.UUID) -> None:
    cursor = Cursor(when, session_id)
    assert Cursor.decode(cursor.encode()) == cursor


def test_a_cursor_remembers_the_filters_of_its_query() -> None:
    guided = SessionQuery(account_id="a", session_types=frozenset({SessionType.GUIDED}))
    cursor = Cursor(datetime(2026, 12, 1, tzinfo=UTC), uuid.UUID(int=3), guided.fingerprint)
    decoded = Cursor.decode(cursor.encode())

    again = SessionQuery(
        account_id="a", session_types=frozenset({SessionType.GUIDED}), limit=7, cursor=decoded
    )
    with pytest.raises(CursorMismatch):
        SessionQuery(account_id="a", cursor=decoded)
    with pytest.raises(CursorMismatch):
        SessionQuery(
            account_id="a", session_types=guided.session_types, owner_id="bob", cursor=decoded
        )

    assert again.cursor == cursor  # the page size may change between pages
    legacy = Cursor(datetime(2026, 12, 1, tzinfo=UTC), uuid.UUID(int=3))
    assert SessionQuery(account_id="a", cursor=Cursor.decode(legacy.encode())).cursor == legacy


@pytest.mark.parametrize(
    ("value", "end_of_day", "expected"),
    [
        ("2026-12-01", False, datetime(2026, 12, 1, tzinfo=UTC)),
        ("2026-12-01", True, datetime(2026, 12, 1, 23, 59, 59, 999999, tzinfo=UTC)),
        ("2026-12-01T09:30", False, datetime(2026, 12, 1, 9, 30, tzinfo=UTC)),
        ("2026-12-01T09:30+02:00", False, datetime(2026, 12, 1, 7, 30, tzinfo=UTC)),
    ],
)
def test_a_moment_is_a_date_or_a_date_time_in_utc_unless_given(
    value: str, end_of_day: bool, expected: datetime
) -> None:
    assert parse_moment(value, "created_from", end_of_day=end_of_day) == expected
    with pytest.raises(InvalidInput, match="created_from: expected a date"):
        parse_moment("yesterday", "created_from")


@pytest.mark.parametrize("token", ["", "nonsense", "W10", "WyJ4IiwgInkiXQ", "!!!!"])
def test_a_cursor_the_library_did_not_issue_is_refused(token: str) -> None:
    with pytest.raises(InvalidCursor):
        Cursor.decode(token)


def test_a_query_refuses_an_impossible_page_size() -> None:
    with pytest.raises(InvalidInput, match="limit"):
        SessionQuery(account_id="a", limit=0)


def test_a_reversed_date_range_is_a_query_that_matches_nothing() -> None:
    """Not an error (a schema cannot state a rule between two fields): an empty page."""
    reversed_range = SessionQuery(
        account_id="a",
        created_from=datetime(2026, 2, 1, tzinfo=UTC),
        created_to=datetime(2026, 1, 1, tzinfo=UTC),
    )

    assert (reversed_range.created_from, reversed_range.created_to) == (
        datetime(2026, 2, 1, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0001-01-01T00:00:00+01:00", datetime.min.replace(tzinfo=UTC)),
        ("9999-12-31T23:59:59-23:59", datetime.max.replace(tzinfo=UTC)),
        ("2026-01-01T02:00:00+02:00", datetime(2026, 1, 1, tzinfo=UTC)),
    ],
)
def test_a_moment_an_offset_takes_off_the_calendar_is_its_end(
    value: str, expected: datetime
) -> None:
    moment = parse_moment(value, "created_from")

    assert moment == expected
    assert moment.tzinfo is UTC
