"""How a note carries its marker on the ticket: the one place that decides it.

The text posted is the note's text, a blank line, and a last line ``[resolutionflow:<marker>]``,
for example ``[resolutionflow:rf:5f0c2d1e-...:7]``. Finding a note means finding that exact
token in a note's text. Markers are restricted to letters, digits and ``. _ : -`` so the token
survives the PSAs' text handling unchanged (HTML escaping, rich text converted to plain text)
and one marker can never be a prefix match of another (the ``]`` closes it).
"""

from __future__ import annotations

import re
from typing import Final

from resolutionflow_core.errors import InvalidInput

_MARKER: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,199}")
_PREFIX: Final = "[resolutionflow:"


def marker_token(marker: str) -> str:
    """The token that identifies the note on the ticket; `InvalidInput` for a bad marker."""
    if not isinstance(marker, str) or not _MARKER.fullmatch(marker):
        raise InvalidInput(
            "marker", "must be 1-200 letters, digits or . _ : - (starting with a letter or digit)"
        )
    return f"{_PREFIX}{marker}]"


def with_marker(text: str, marker: str) -> str:
    """``text`` with the marker's line at the end (once, even if it is already there)."""
    token = marker_token(marker)
    body = text.rstrip()
    if body.endswith(token):
        return body
    return f"{body}\n\n{token}" if body else token


def carries_marker(text: str | None, marker: str) -> bool:
    """Whether a note's ``text`` (plain or HTML) carries ``marker``."""
    return bool(text) and marker_token(marker) in str(text)
