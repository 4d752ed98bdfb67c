"""The tags of the assistant's marker blocks, as the tests write them into replies."""

from __future__ import annotations

TAGS = ("[QUESTIONS]", "[/QUESTIONS]", "[ACTIONS]", "[/ACTIONS]", "[FORK]", "[/FORK]")
"""Each kind's opening and closing tag."""
