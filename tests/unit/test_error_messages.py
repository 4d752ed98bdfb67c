"""Every refusal of the core reads as a sentence: what was tried, on what, and why not."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from resolutionflow_core import errors
from resolutionflow_core.chat import MessageRole
from resolutionflow_core.connections import ConnectionNotFound
from resolutionflow_core.errors import DomainError, InvalidTransition
from resolutionflow_core.guided import ProposedStep, StepKind
from resolutionflow_core.keys import KeyNotFound
from resolutionflow_core.lifecycle import TRANSITIONS, LifecycleAction, SessionStatus, next_status
from resolutionflow_core.search import SearchNotConfigured
from resolutionflow_core.session import ProblemDomain, Session
from resolutionflow_core.users import UserExists
from tests.sessions import chat_session, guided_session

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
SID = uuid.UUID(int=7)

GARBLED = [
    re.compile(r"\b(?:a|an|the) \w+ (?:a|an|the) session\b"),  # "answer a step a session"
    re.compile(r"\b(?:a|an|the) (?:a|an|the)\b"),
    re.compile(r"\s{2,}"),
    re.compile(r"\bNone\b"),
    re.compile(r"[:;,]\s*$"),
]


def assert_reads_as_a_sentence(message: str) -> None:
    assert message, "an empty message"
    assert message == message.strip(), repr(message)
    for pattern in GARBLED:
        assert not pattern.search(message), f"garbled ({pattern.pattern}): {message!r}"


def closed(status: SessionStatus, kind: str) -> Session:
    now = T0
    if kind == "chat":
        session = chat_session("VPN drops", n=SID.int, account="a", user="u", now=now)
    else:
        session = guided_session("Printer offline", n=SID.int, account="a", user="u", now=now)
        session.add_step(
            ProposedStep(kind=StepKind.QUESTION, content="Is it on?", confidence=0.3), now=now
        )
    later = now + timedelta(minutes=1)
    if status is SessionStatus.PAUSED:
        session.pause(now=later, by="u")
    elif status is SessionStatus.RESOLVED:
        session.resolve("Fixed", now=later, by="u")
    elif status is SessionStatus.ESCALATED:
        session.escalate("Needs a senior", now=later, by="u")
    elif status is SessionStatus.ABANDONED:
        session.abandon(now=later, by="u")
    return session


OPERATIONS: dict[str, tuple[str, Callable[[Session], object]]] = {
    "add a message": ("chat", lambda s: s.add_message(MessageRole.USER, "hi", now=T0, by="u")),
    "get a reply": ("chat", lambda s: s.check_awaits_reply()),
    "answer a step": ("guided", lambda s: s.answer_step("yes", now=T0, by="u")),
    "add a step": ("guided", lambda s: s.check_can_add_step()),
    "describe": ("chat", lambda s: s.describe("x", ProblemDomain.OTHER, now=T0)),
}


@pytest.mark.parametrize(
    ("operation", "status"),
    [
        (operation, status)
        for operation in sorted(OPERATIONS)
        for status in (SessionStatus.PAUSED, SessionStatus.RESOLVED, SessionStatus.ABANDONED)
        if (operation, status) != ("describe", SessionStatus.PAUSED)  # a paused one may be
    ],
)
def test_every_operation_refused_by_status_reads_as_a_sentence(
    operation: str, status: SessionStatus
) -> None:
    kind, call = OPERATIONS[operation]
    with pytest.raises(InvalidTransition) as refused:
        call(closed(status, kind))
    message = refused.value.message
    assert_reads_as_a_sentence(message)
    assert message.startswith(f"cannot {operation} ")
    assert f"a session that is {status}: " in message


def test_the_garbled_messages_of_the_report_are_gone() -> None:
    with pytest.raises(InvalidTransition) as refused:
        OPERATIONS["answer a step"][1](closed(SessionStatus.RESOLVED, "guided"))
    assert refused.value.message == (
        "cannot answer a step in a session that is resolved: only an active session allows that"
    )
    with pytest.raises(InvalidTransition) as refused:
        OPERATIONS["add a message"][1](closed(SessionStatus.PAUSED, "chat"))
    assert refused.value.message.startswith("cannot add a message in a session that is paused")


@pytest.mark.parametrize("status", list(SessionStatus))
@pytest.mark.parametrize("action", list(LifecycleAction))
def test_every_lifecycle_refusal_reads_as_a_sentence(
    status: SessionStatus, action: LifecycleAction
) -> None:
    if (status, action) in TRANSITIONS:
        return
    with pytest.raises(InvalidTransition) as refused:
        next_status(status, action)
    assert_reads_as_a_sentence(refused.value.message)
    assert refused.value.message.startswith(f"cannot {action} a session that is {status}: ")


SAMPLES: dict[type[DomainError], tuple[object, ...]] = {
    errors.DomainError: ("something went wrong",),
    errors.InvalidInput: ("summary", "must not be empty"),
    errors.ContentTooLarge: ("content", 40_000, 32_000),
    errors.InvalidTransition: ("resolved", "pause"),
    errors.WrongSessionType: ("answer a step", "chat", "guided"),
    errors.NoPendingStep: (SID,),
    errors.StepAlreadyPending: (SID, 3),
    errors.SessionNotFound: (SID,),
    errors.StaleSession: (SID, 4),
    errors.PermissionDenied: ("pause", "viewers can only read"),
    errors.InvalidCursor: (),
    errors.CursorMismatch: (),
    errors.LLMError: ("the LLM failed",),
    errors.LLMUnavailable: ("the LLM is overloaded",),
    errors.LLMRejected: ("the API key is not valid",),
    errors.LLMResponseInvalid: ("the step has no content",),
    errors.PSAError: ("the PSA failed",),
    errors.NothingToAnswer: (SID,),
    errors.PSANotConfigured: ("acme",),
    errors.TicketNotFound: ("connectwise", "T-1"),
    errors.StorageUnavailable: ("the database did not answer within 5 s",),
    KeyNotFound: (SID,),
    UserExists: ("acme", "alice@example.com"),
    SearchNotConfigured: (),
    errors.TicketOnOtherProvider: ("connectwise", "halopsa"),
    ConnectionNotFound: ("acme",),
    errors.NotFound: ("the ticket does not exist",),
    errors.NotAllowed: ("viewers cannot change anything",),
    errors.Conflict: ("the session changed meanwhile",),
    errors.Misconfigured: ("the PSA host is refused",),
    errors.NotSetUp: ("the PSA connection is not set up",),
    errors.ProviderRejected: ("the PSA refused the note",),
    errors.Unavailable: ("the PSA did not answer",),
    errors.UnusableAnswer: ("the PSA answered with an unreadable body",),
}


def _subclasses(cls: type[DomainError]) -> set[type[DomainError]]:
    found = {cls}
    for sub in cls.__subclasses__():
        if sub.__module__.startswith("resolutionflow_core"):
            found |= _subclasses(sub)
    return found


def test_every_error_of_the_core_has_a_sample() -> None:
    assert _subclasses(DomainError) <= set(SAMPLES), "add the new error to SAMPLES"


@pytest.mark.parametrize("error_type", list(SAMPLES), ids=lambda t: t.__name__)
def test_every_message_template_reads_as_a_sentence(error_type: type[DomainError]) -> None:
    error = error_type(*SAMPLES[error_type])  # type: ignore[arg-type]
    assert_reads_as_a_sentence(error.message)
    assert str(error) == error.message
