"""The kinds of session, of intake and of problem. A leaf module, so that what reads a
session (`documentation`, the history's rows in `listing`, the SQL tables) compares against
or builds these enums without importing the aggregate that uses them."""

from __future__ import annotations

from enum import StrEnum


class SessionType(StrEnum):
    GUIDED = "guided"
    """FlowPilot: one question or action at a time, confidence rising."""
    CHAT = "chat"
    """The assistant: free chat."""


class IntakeType(StrEnum):
    FREE_TEXT = "free_text"
    PSA_TICKET = "psa_ticket"
    SCREENSHOT = "screenshot"
    LOG_PASTE = "log_paste"
    COMBINED = "combined"


class ProblemDomain(StrEnum):
    NETWORK = "network"
    EMAIL = "email"
    IDENTITY = "identity"
    ENDPOINT = "endpoint"
    PRINTING = "printing"
    SERVER = "server"
    SECURITY = "security"
    CLOUD = "cloud"
    OTHER = "other"
