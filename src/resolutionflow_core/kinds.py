"""The kinds of session. A leaf module, so that what reads a session (`documentation`)
compares against the enum without importing the aggregate that uses it."""

from __future__ import annotations

from enum import StrEnum


class SessionType(StrEnum):
    GUIDED = "guided"
    """FlowPilot: one question or action at a time, confidence rising."""
    CHAT = "chat"
    """The assistant: free chat."""
