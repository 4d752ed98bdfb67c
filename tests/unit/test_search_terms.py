"""The search query language: parsed once in the core, rendered safely for each engine."""

from __future__ import annotations

import uuid

import pytest

from resolutionflow_core.access import Actor, Role
from resolutionflow_core.errors import InvalidCursor, InvalidInput
from resolutionflow_core.lifecycle import SessionStatus
from resolutionflow_core.search import (
    MAX_QUERY_CHARS,
    SearchCursor,
    SearchTerms,
    recall_query,
    search_query,
)
from resolutionflow_core.session import SessionType

OWNER = Actor("acme", "alice", Role.OWNER)


def test_words_phrases_exclusions_and_alternatives_are_read_like_a_web_search() -> None:
    terms = SearchTerms.parse('VPN "tunnel drops" -firewall or the DNS')

    first, second = terms.alternatives
    assert [p.words for p in first.include] == [("vpn",), ("tunnel", "drops")]
    assert [p.words for p in first.exclude] == [("firewall",)]
    assert [p.words for p in second.include] == [("dns",)]  # "the" is a stop word
    assert terms.to_fts5() == '(("vpn" AND "tunnel drops") NOT "firewall") OR (("dns"))'
    assert terms.to_websearch() == 'VPN "tunnel drops" -firewall or DNS'


def test_engine_syntax_in_the_query_is_only_words() -> None:
    terms = SearchTerms.parse('NEAR(a b) title:x AND "unclosed * ^start')

    assert terms.to_fts5() == ('(("near a" AND "b" AND "title x" AND "unclosed start"))')


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("the of", "has no word to look for"),
        ("-vpn", "needs a word to look for"),
        ("vpn or -dns", "needs a word to look for"),
        ("x" * (MAX_QUERY_CHARS + 1), "characters long"),
        (" ".join(f"w{i}" for i in range(33)), "has 33 words"),
        ("vpn\x00", "NUL"),
    ],
)
def test_a_query_that_cannot_be_used_says_why_on_the_field_q(text: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as error:
        SearchTerms.parse(text)
    assert error.value.field == "q"
    assert reason in error.value.reason


def test_a_cursor_belongs_to_its_query_and_filters() -> None:
    query = search_query(OWNER, "vpn", limit=5)
    token = SearchCursor(1.5, uuid.UUID(int=3), query.fingerprint).encode()

    assert search_query(OWNER, "vpn", limit=10, cursor=token).cursor == SearchCursor(
        1.5, uuid.UUID(int=3), query.fingerprint
    )
    for other in (
        lambda: search_query(OWNER, "dns", cursor=token),
        lambda: search_query(OWNER, "vpn", owner_id="bob", cursor=token),
        lambda: search_query(Actor("globex", "alice", Role.OWNER), "vpn", cursor=token),
        lambda: search_query(OWNER, "vpn", cursor="not-a-cursor"),
    ):
        with pytest.raises(InvalidCursor):
            other()


def test_engineers_search_and_recall_only_what_they_may_open() -> None:
    engineer = Actor("acme", "bob", Role.ENGINEER)

    assert search_query(engineer, "vpn").filters.visible_to_user == "bob"
    assert search_query(OWNER, "vpn").filters.visible_to_user is None
    recall = recall_query(engineer, "The VPN on pc-12 drops at 10:15 every day")
    assert recall is not None
    assert recall.filters.visible_to_user == "bob"
    assert recall.terms.positive_words == ("vpn", "drops", "every", "day")
    assert recall_query(engineer, "the 10 of 12") is None


def test_a_search_takes_its_filters_like_the_list_enums_or_their_values() -> None:
    query = search_query(OWNER, "vpn", session_types=["chat"], statuses="resolved")

    assert query.filters.session_types == frozenset({SessionType.CHAT})
    assert query.filters.statuses == frozenset({SessionStatus.RESOLVED})
    with pytest.raises(InvalidInput, match="status"):
        search_query(OWNER, "vpn", statuses=["sleeping"])
