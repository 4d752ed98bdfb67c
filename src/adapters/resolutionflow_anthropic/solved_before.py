"""The account's memory in the prompt: a marked section with how similar problems were solved.

Only the resolution summaries and root causes of `Session.similar_sessions` (found when the
session started), each cut to `resolutionflow_core.similar.CONTEXT_CHARS`: no transcript of
another session reaches the model.
"""

from __future__ import annotations

from typing import Final

from resolutionflow_core.session import Session
from resolutionflow_core.similar import context_lines

OPEN_TAG: Final = "<solved_before>"
CLOSE_TAG: Final = "</solved_before>"
PREAMBLE: Final = (
    "Context from this MSP's resolved sessions that look similar (not from the engineer). "
    "Use one only if it fits the facts here, and say so when you rely on it:"
)


def solved_before_context(session: Session) -> str | None:
    """The marked section, or ``None`` when the session has no similar resolved session."""
    if not session.similar_sessions:
        return None
    lines = context_lines(session.similar_sessions)
    return "\n".join([OPEN_TAG, PREAMBLE, *lines, CLOSE_TAG])
