"""Showing a reply while it streams, without showing the JSON of its marker blocks.

The assistant writes its questions, actions and forks as ``[QUESTIONS]…[/QUESTIONS]``
blocks of JSON at the end of a line. `MarkerGate` lets the text through as the deltas
arrive and stops at the first opening tag at the start of a line (holding back a few
characters while they could still become one); once the reply is complete and parsed,
`rest` gives whatever shown text came after, and the caller renders the structure.
"""

from __future__ import annotations

from resolutionflow_core.markers import ParsedReply

OPENING_TAGS = ("[QUESTIONS]", "[ACTIONS]", "[FORK]")


class MarkerGate:
    """Feeds a streamed reply through, up to its first marker block."""

    def __init__(self) -> None:
        self._raw = ""
        self._shown = 0
        self._stopped = False

    @property
    def shown(self) -> str:
        """What was let through so far."""
        return self._raw[: self._shown]

    def feed(self, delta: str) -> str:
        """Add a delta; return the text that can be shown now."""
        self._raw += delta
        if self._stopped:
            return ""
        end = self._showable_end()
        text = self._raw[self._shown : end]
        self._shown = end
        return text

    def rest(self, parsed: ParsedReply) -> str:
        """The shown text of the complete reply that was not let through while streaming."""
        printed = self.shown.strip()
        if parsed.text.startswith(printed):
            return parsed.text[len(printed) :]
        return "\n" + parsed.text  # never expected: show the whole text again rather than lose it

    def _showable_end(self) -> int:
        """Where the text stops being certainly plain: at a (possible) opening tag."""
        raw = self._raw
        start = self._shown
        while (bracket := raw.find("[", start)) >= 0:
            line_start = raw.rfind("\n", 0, bracket) + 1
            if not raw[line_start:bracket].strip():
                candidate = raw[bracket : bracket + max(map(len, OPENING_TAGS))]
                if any(candidate.startswith(tag) for tag in OPENING_TAGS):
                    self._stopped = True
                    return bracket
                if any(tag.startswith(candidate) for tag in OPENING_TAGS):
                    return bracket  # it may still become a tag: wait for more
            start = bracket + 1
        return len(raw)
