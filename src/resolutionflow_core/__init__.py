"""resolutionflow_core: the pure domain of ResolutionFlow sessions.

The Session aggregate (guided or chat) and its lifecycle, the ports it needs (storage,
LLM, PSA, clock), and the services that run every operation as an actor. No I/O here:
plug in adapters (``resolutionflow_memory``, ``resolutionflow_sqlalchemy``, ...).
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from resolutionflow_core.access import Actor, Role, allowed_actions_for
    from resolutionflow_core.chat import ConversationMessage, MessageHistory, MessageRole
    from resolutionflow_core.errors import (
        ContentTooLarge,
        DomainError,
        InvalidCursor,
        InvalidInput,
        InvalidTransition,
        LLMError,
        LLMRejected,
        LLMResponseInvalid,
        LLMUnavailable,
        NoPendingStep,
        NothingToAnswer,
        PermissionDenied,
        PSAError,
        PSANotConfigured,
        SessionNotFound,
        StaleSession,
        StepAlreadyPending,
        TicketNotFound,
        WrongSessionType,
    )
    from resolutionflow_core.guided import (
        ConfidenceTier,
        GuidedStep,
        ProposedStep,
        StepKind,
        StepOption,
        tier_for,
    )
    from resolutionflow_core.lifecycle import (
        TRANSITIONS,
        LifecycleAction,
        SessionStatus,
        next_status,
    )
    from resolutionflow_core.listing import (
        Cursor,
        Dashboard,
        SessionPage,
        SessionQuery,
        SessionSummary,
    )
    from resolutionflow_core.services import ChatTurn, SessionService
    from resolutionflow_core.session import IntakeType, ProblemDomain, Session, SessionType
    from resolutionflow_core.tickets import NoteKind, PSALink, PSANote, Ticket
    from resolutionflow_core.updates import Audience, StatusUpdateDraft, UpdateLength
    from resolutionflow_core.usage import TokenUsage

# The names are imported on first use (PEP 562): `import resolutionflow_core.errors` or
# `from resolutionflow_core import InvalidInput` loads what it names, not every module of
# the core (the services, the aggregate and its events), which a command that only lists
# sessions does not wait for.
_HOMES = {
    "Actor": "access",
    "Role": "access",
    "allowed_actions_for": "access",
    "ConversationMessage": "chat",
    "MessageHistory": "chat",
    "MessageRole": "chat",
    "ContentTooLarge": "errors",
    "DomainError": "errors",
    "InvalidCursor": "errors",
    "InvalidInput": "errors",
    "InvalidTransition": "errors",
    "LLMError": "errors",
    "LLMRejected": "errors",
    "LLMResponseInvalid": "errors",
    "LLMUnavailable": "errors",
    "NoPendingStep": "errors",
    "NothingToAnswer": "errors",
    "PermissionDenied": "errors",
    "PSAError": "errors",
    "PSANotConfigured": "errors",
    "SessionNotFound": "errors",
    "StaleSession": "errors",
    "StepAlreadyPending": "errors",
    "TicketNotFound": "errors",
    "WrongSessionType": "errors",
    "ConfidenceTier": "guided",
    "GuidedStep": "guided",
    "ProposedStep": "guided",
    "StepKind": "guided",
    "StepOption": "guided",
    "tier_for": "guided",
    "TRANSITIONS": "lifecycle",
    "LifecycleAction": "lifecycle",
    "SessionStatus": "lifecycle",
    "next_status": "lifecycle",
    "Cursor": "listing",
    "Dashboard": "listing",
    "SessionPage": "listing",
    "SessionQuery": "listing",
    "SessionSummary": "listing",
    "ChatTurn": "services",
    "SessionService": "services",
    "IntakeType": "session",
    "ProblemDomain": "session",
    "Session": "session",
    "SessionType": "session",
    "NoteKind": "tickets",
    "PSALink": "tickets",
    "PSANote": "tickets",
    "Ticket": "tickets",
    "Audience": "updates",
    "StatusUpdateDraft": "updates",
    "UpdateLength": "updates",
    "TokenUsage": "usage",
}
"""Where each name of `__all__` lives: ``resolutionflow_core.MODULE``."""


if not TYPE_CHECKING:  # for mypy the imports above are the names, and no other exists

    def __getattr__(name: str) -> Any:
        home = _HOMES.get(name)
        if home is not None:
            value = getattr(import_module(f"resolutionflow_core.{home}"), name)
        else:
            value = _module(name)
        globals()[name] = value  # found directly from now on
        return value

    def _module(name: str) -> Any:
        """A module of the core as an attribute (``resolutionflow_core.errors.InvalidInput``
        after ``import resolutionflow_core``), as when the package imported them all."""
        missing = AttributeError(f"module {__name__!r} has no attribute {name!r}")
        if name.startswith("_"):
            raise missing
        try:
            return import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{name}":
                raise  # the module exists and lacks one of its own imports
            raise missing from None


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__version__ = "0.1.0"

__all__ = [
    "TRANSITIONS",
    "Actor",
    "Audience",
    "ChatTurn",
    "ConfidenceTier",
    "ContentTooLarge",
    "ConversationMessage",
    "Cursor",
    "Dashboard",
    "DomainError",
    "GuidedStep",
    "IntakeType",
    "InvalidCursor",
    "InvalidInput",
    "InvalidTransition",
    "LLMError",
    "LLMRejected",
    "LLMResponseInvalid",
    "LLMUnavailable",
    "LifecycleAction",
    "MessageHistory",
    "MessageRole",
    "NoPendingStep",
    "NoteKind",
    "NothingToAnswer",
    "PSAError",
    "PSALink",
    "PSANotConfigured",
    "PSANote",
    "PermissionDenied",
    "ProblemDomain",
    "ProposedStep",
    "Role",
    "Session",
    "SessionNotFound",
    "SessionPage",
    "SessionQuery",
    "SessionService",
    "SessionStatus",
    "SessionSummary",
    "SessionType",
    "StaleSession",
    "StatusUpdateDraft",
    "StepAlreadyPending",
    "StepKind",
    "StepOption",
    "Ticket",
    "TicketNotFound",
    "TokenUsage",
    "UpdateLength",
    "WrongSessionType",
    "allowed_actions_for",
    "next_status",
    "tier_for",
]
