"""The marker convention every adapter shares: the note's last line carries its marker."""

from __future__ import annotations

import html
from uuid import UUID

import pytest

from resolutionflow_core.delivery import marker_for
from resolutionflow_core.errors import InvalidInput
from resolutionflow_psa import carries_marker, marker_token, with_marker


def test_the_marker_is_the_last_line_of_the_note() -> None:
    assert with_marker("Fixed it.\n", "rf:abc:3") == "Fixed it.\n\n[resolutionflow:rf:abc:3]"


def test_the_marker_line_is_added_once() -> None:
    once = with_marker("Fixed it.", "m1")
    assert with_marker(once, "m1") == once


def test_a_core_marker_is_a_valid_marker() -> None:
    marker = marker_for(UUID(int=7), 12)
    assert carries_marker(with_marker("text", marker), marker)


def test_a_marker_is_found_exactly_never_as_a_prefix() -> None:
    text = with_marker("Fixed it.", "rf:abc:31")
    assert carries_marker(text, "rf:abc:31")
    assert not carries_marker(text, "rf:abc:3")
    assert not carries_marker(None, "rf:abc:3")


def test_the_marker_survives_html_escaping_and_markup() -> None:
    text = with_marker("<b>Fixed</b> & done", "rf:abc:3")
    as_html = "<p>" + html.escape(text).replace("\n", "<br>") + "</p>"
    assert carries_marker(as_html, "rf:abc:3")


@pytest.mark.parametrize("marker", ["", " rf", "rf x", "rf]", "[rf", "-rf", "é", "x" * 201])
def test_a_marker_that_could_be_mangled_or_ambiguous_is_refused(marker: str) -> None:
    with pytest.raises(InvalidInput):
        marker_token(marker)
