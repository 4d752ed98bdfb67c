"""resolutionflow_core: the pure domain of ResolutionFlow sessions.

The Session aggregate (guided or chat) and its lifecycle, the ports it needs (storage,
LLM, PSA, clock), and the services that run every operation as an actor. No I/O here:
plug in adapters (``resolutionflow_memory``, ``resolutionflow_sqlalchemy``, ...).
"""

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
from resolutionflow_core.listing import Cursor, Dashboard, SessionPage, SessionQuery, SessionSummary
from resolutionflow_core.services import ChatTurn, SessionService
from resolutionflow_core.session import IntakeType, ProblemDomain, Session, SessionType
from resolutionflow_core.tickets import NoteKind, PSALink, PSANote, Ticket
from resolutionflow_core.updates import Audience, StatusUpdateDraft, UpdateLength
from resolutionflow_core.usage import TokenUsage

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
