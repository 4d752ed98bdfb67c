"""The Session aggregate enforces every rule of the lifecycle and of both strategies."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from resolutionflow_core.chat import MessageRole
from resolutionflow_core.errors import (
    ContentTooLarge,
    InvalidInput,
    InvalidTransition,
    NoPendingStep,
    StepAlreadyPending,
    WrongSessionType,
)
from resolutionflow_core.events import (
    MessageAdded,
    SessionClaimed,
    SessionEscalated,
    SessionResolved,
    SessionStarted,
    StepAdded,
    StepAnswered,
)
from resolutionflow_core.guided import ConfidenceTier, ProposedStep, StepKind, StepOption
from resolutionflow_core.lifecycle import SessionStatus
from resolutionflow_core.session import IntakeType, ProblemDomain, Session, SessionType
from resolutionflow_core.tickets import PSALink
from resolutionflow_core.updates import Audience, StatusUpdateDraft, UpdateLength
from tests.sessions import chat_session, guided_session

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def chat(text: str = "Outlook asks for the password every few minutes") -> Session:
    return chat_session(text, now=T0)


def guided() -> Session:
    return guided_session("Printer on floor 2 prints blank pages", now=T0)


def step(confidence: float, kind: StepKind = StepKind.QUESTION) -> ProposedStep:
    return ProposedStep(
        kind=kind,
        content=f"Step at {confidence}",
        options=(StepOption(label="Yes"), StepOption(label="No")),
        reasoning="Narrowing down",
        confidence=confidence,
    )


def snapshot(session: Session) -> dict[str, object]:
    """Every field but the event list, for "unchanged" assertions."""
    fields = dataclasses.asdict(session)
    fields.pop("events")
    return fields


# -- starting ---------------------------------------------------------------------------------


def test_a_chat_starts_active_with_the_first_message_its_intake_and_its_title() -> None:
    session = chat("  Outlook asks for the password every few minutes  ")
    assert session.status is SessionStatus.ACTIVE
    assert session.session_type is SessionType.CHAT
    assert session.intake_type is IntakeType.FREE_TEXT
    assert session.intake_content == {"text": "Outlook asks for the password every few minutes"}
    assert [(m.role, m.content) for m in session.conversation_messages] == [
        (MessageRole.USER, "Outlook asks for the password every few minutes")
    ]
    assert session.title == "Outlook asks for the password every few minutes"
    assert session.step_count == 1
    assert session.version == 2
    assert [type(e) for e in session.events] == [SessionStarted, MessageAdded]


def test_a_guided_session_starts_without_steps_or_title() -> None:
    session = guided()
    assert session.session_type is SessionType.GUIDED
    assert session.steps == []
    assert session.title is None
    assert session.step_count == 0
    assert session.confidence_tier is None
    assert session.intake_text == "Printer on floor 2 prints blank pages"


@pytest.mark.parametrize(
    ("intake_type", "content", "field"),
    [
        (IntakeType.FREE_TEXT, {}, "intake_content"),
        (IntakeType.FREE_TEXT, {"text": "  "}, "intake_content.text"),
        (IntakeType.PSA_TICKET, {"text": "see ticket"}, "intake_content.ticket_id"),
        (IntakeType.SCREENSHOT, {"image": 3}, "intake_content"),
        (IntakeType.LOG_PASTE, {"text": "x" * 70_000}, "intake_content"),
    ],
)
def test_an_intake_with_nothing_to_work_on_is_refused(
    intake_type: IntakeType, content: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        Session.start_guided(
            session_id=uuid.uuid4(),
            account_id="acme",
            user_id="alice",
            intake_type=intake_type,
            intake_content=content,
            now=T0,
        )
    assert refused.value.field == field


def test_an_empty_first_message_is_refused() -> None:
    with pytest.raises(InvalidInput, match="must not be empty"):
        chat("   ")


# -- chat -------------------------------------------------------------------------------------


def test_messages_append_in_order_and_step_count_counts_them() -> None:
    session = chat()
    session.add_message(MessageRole.ASSISTANT, "Check the Credential Manager.", now=at(1), by=None)
    session.add_message(MessageRole.USER, "Cleared it, still asks.", now=at(2), by="alice")
    assert [m.role for m in session.conversation_messages] == ["user", "assistant", "user"]
    assert session.step_count == 3
    assert session.last_activity_at == at(2)
    assert session.version == 4


def test_a_message_is_refused_on_a_guided_session_and_changes_nothing() -> None:
    session = guided()
    before = snapshot(session)
    with pytest.raises(WrongSessionType, match="only chat sessions allow it"):
        session.add_message(MessageRole.USER, "hello", now=at(1), by="alice")
    assert snapshot(session) == before


@pytest.mark.parametrize("close", ["pause", "resolve", "escalate", "abandon"])
def test_a_message_is_refused_unless_the_chat_is_active(close: str) -> None:
    session = chat()
    if close == "pause":
        session.pause(now=at(1), by="alice")
    elif close == "resolve":
        session.resolve("Reset the profile", now=at(1), by="alice")
    elif close == "escalate":
        session.escalate("Needs Exchange admin", now=at(1), by="alice")
    else:
        session.abandon(now=at(1), by="alice")
    before = snapshot(session)
    with pytest.raises(
        InvalidTransition,
        match=r"cannot add a message in a session that is \w+: only an active session allows that",
    ):
        session.add_message(MessageRole.USER, "still there?", now=at(2), by="alice")
    assert snapshot(session) == before


def test_an_oversized_message_is_refused_with_its_length() -> None:
    session = chat()
    with pytest.raises(ContentTooLarge, match="40000 characters"):
        session.add_message(MessageRole.USER, "a" * 40_000, now=at(1), by="alice")
    assert session.step_count == 1


# -- guided -----------------------------------------------------------------------------------


def test_steps_are_numbered_answered_in_turn_and_raise_confidence() -> None:
    session = guided()
    session.add_step(step(0.3), now=at(1))
    assert session.pending_step is not None
    assert session.confidence_tier is ConfidenceTier.DISCOVERY
    session.answer_step("Yes, blank pages on every job", now=at(2), by="alice")
    assert session.pending_step is None
    session.add_step(step(0.85, StepKind.RESOLUTION_SUGGESTION), now=at(3))
    assert [s.number for s in session.steps] == [1, 2]
    assert session.steps[0].response == "Yes, blank pages on every job"
    assert session.steps[0].responded_at == at(2)
    assert session.confidence_score == 0.85
    assert session.confidence_tier is ConfidenceTier.GUIDED
    assert session.step_count == 2
    assert [type(e) for e in session.events][-3:] == [StepAdded, StepAnswered, StepAdded]


def test_answering_without_a_pending_step_is_refused() -> None:
    session = guided()
    with pytest.raises(NoPendingStep):
        session.answer_step("yes", now=at(1), by="alice")


def test_a_new_step_waits_for_the_answer_to_the_previous_one() -> None:
    session = guided()
    session.add_step(step(0.3), now=at(1))
    with pytest.raises(StepAlreadyPending):
        session.add_step(step(0.5), now=at(2))
    assert session.step_count == 1


def test_step_operations_are_refused_on_a_chat_session() -> None:
    session = chat()
    with pytest.raises(WrongSessionType):
        session.answer_step("yes", now=at(1), by="alice")
    with pytest.raises(WrongSessionType):
        session.add_step(step(0.5), now=at(1))


def test_a_paused_guided_session_takes_no_answer() -> None:
    session = guided()
    session.add_step(step(0.3), now=at(1))
    session.pause(now=at(2), by="alice")
    with pytest.raises(InvalidTransition):
        session.answer_step("yes", now=at(3), by="alice")
    assert session.pending_step is not None


# -- lifecycle --------------------------------------------------------------------------------


def test_pause_and_resume_set_and_clear_paused_at() -> None:
    session = chat()
    session.pause(now=at(1), by="alice")
    assert (session.status, session.paused_at) == (SessionStatus.PAUSED, at(1))
    session.resume(now=at(2), by="alice")
    assert (session.status, session.paused_at) == (SessionStatus.ACTIVE, None)


def test_resolving_needs_a_summary_and_records_the_resolution_note() -> None:
    session = guided()
    session.add_step(step(0.5), now=at(1))
    session.answer_step("Toner cartridge was empty", now=at(2), by="alice")
    with pytest.raises(InvalidInput, match="resolution_summary"):
        session.resolve("  ", now=at(3), by="alice")
    assert session.status is SessionStatus.ACTIVE
    session.pause(now=at(3), by="alice")
    session.resolve("Replaced the toner", now=at(4), by="alice", root_cause="Empty toner")
    assert session.status is SessionStatus.RESOLVED
    assert (session.resolved_at, session.paused_at) == (at(4), None)
    event = session.events[-1]
    assert isinstance(event, SessionResolved)
    assert "Resolution:\nReplaced the toner" in event.resolution_note
    assert "Root cause:\nEmpty toner" in event.resolution_note
    assert "Toner cartridge was empty" in event.resolution_note


@pytest.mark.parametrize("action", ["pause", "resume", "resolve", "escalate", "abandon", "claim"])
def test_a_resolved_session_never_changes_status_again(action: str) -> None:
    session = chat()
    session.resolve("Fixed", now=at(1), by="alice")
    before = snapshot(session)
    args = ("again",) if action in ("resolve", "escalate") else ()
    with pytest.raises(InvalidTransition, match="never changes again"):
        getattr(session, action)(*args, now=at(2), by="bob")
    assert snapshot(session) == before


def test_escalating_needs_a_reason_and_builds_the_package_for_the_next_engineer() -> None:
    session = chat()
    with pytest.raises(InvalidInput, match="escalation_reason"):
        session.escalate("", now=at(1), by="alice")
    session.escalate("Needs tenant admin rights", now=at(1), by="alice")
    assert (session.status, session.escalated_at, session.escalated_by) == (
        SessionStatus.ESCALATED,
        at(1),
        "alice",
    )
    event = session.events[-1]
    assert isinstance(event, SessionEscalated)
    assert "Why it is escalated:\nNeeds tenant admin rights" in event.escalation_package
    assert "Outlook asks for the password" in event.escalation_package


def test_an_escalated_session_cannot_be_claimed_by_whoever_escalated_it() -> None:
    session = chat()
    session.escalate("Needs tenant admin rights", now=at(1), by="alice")
    with pytest.raises(InvalidTransition, match="other than the one who escalated"):
        session.claim(now=at(2), by="alice")
    assert session.status is SessionStatus.ESCALATED


def test_the_claimer_becomes_the_owner_of_an_active_session() -> None:
    session = chat()
    session.escalate("Needs tenant admin rights", now=at(1), by="alice")
    session.claim(now=at(2), by="bob")
    assert (session.status, session.user_id, session.escalated_at) == (
        SessionStatus.ACTIVE,
        "bob",
        None,
    )
    event = session.events[-1]
    assert isinstance(event, SessionClaimed)
    assert (event.by, event.previous_owner) == ("bob", "alice")


def test_an_escalated_session_only_moves_by_a_claim() -> None:
    session = chat()
    session.escalate("Needs tenant admin rights", now=at(1), by="alice")
    for refused in (session.pause, session.resume, session.abandon):
        with pytest.raises(InvalidTransition):
            refused(now=at(2), by="alice")
    with pytest.raises(InvalidTransition):
        session.resolve("done", now=at(2), by="alice")


def test_abandoning_closes_the_session_for_good() -> None:
    session = guided()
    session.abandon(now=at(1), by="alice", reason="Client cancelled")
    assert (session.status, session.abandoned_at) == (SessionStatus.ABANDONED, at(1))
    with pytest.raises(InvalidTransition):
        session.resume(now=at(2), by="alice")
    with pytest.raises(InvalidTransition):
        session.describe("x", ProblemDomain.OTHER, now=at(2))


# -- versions, events, the rest -----------------------------------------------------------------


def test_every_change_bumps_the_version_by_one_and_records_one_event() -> None:
    session = chat()
    session.pull_events()
    start = session.version
    session.add_message(MessageRole.ASSISTANT, "Try this", now=at(1), by=None)
    session.describe("Outlook password prompts", ProblemDomain.EMAIL, now=at(2))
    session.share_status_update(
        StatusUpdateDraft(audience=Audience.CLIENT, length=UpdateLength.QUICK, body="On it"),
        now=at(3),
        by="alice",
    )
    session.link_ticket(PSALink("memory", "T-1", {"summary": "Outlook"}, at(4)), by="alice")
    session.pause(now=at(5), by="alice")
    events = session.pull_events()
    assert session.version == start + 5
    assert [e.version for e in events] == [start + 1, start + 2, start + 3, start + 4, start + 5]
    assert session.pull_events() == []


def test_status_updates_and_ticket_links_are_allowed_on_closed_sessions() -> None:
    session = chat()
    session.resolve("Fixed", now=at(1), by="alice")
    version = session.version
    session.share_status_update(
        StatusUpdateDraft(audience=Audience.EMAIL, length=UpdateLength.QUICK, body="Resolved."),
        now=at(2),
        by="alice",
    )
    session.link_ticket(PSALink("memory", "T-9", {"summary": "x"}, at(3)), by="alice")
    assert session.status is SessionStatus.RESOLVED
    assert session.version == version + 2
    assert session.psa_link is not None
    assert session.psa_link.ticket_id == "T-9"


def test_events_serialise_to_json_safe_records() -> None:
    session = chat()
    record = session.events[-1].to_record()
    assert record["name"] == "session.message_added"
    assert record["session_id"] == str(session.id)
    assert record["payload"] == {"role": "user", "index": 0}


def test_nul_characters_are_refused_from_people_and_dropped_from_the_llm() -> None:
    with pytest.raises(InvalidInput, match="NUL"):
        chat("Outlook\x00 crashes")
    session = chat()
    with pytest.raises(InvalidInput, match="NUL"):
        session.add_message(MessageRole.USER, "a\x00b", now=at(1), by="alice")
    reply = session.add_message(MessageRole.ASSISTANT, "Try\x00 safe mode", now=at(1), by=None)
    assert reply.content == "Try safe mode"
    with pytest.raises(InvalidInput, match="NUL"):
        Session.start_guided(
            session_id=uuid.uuid4(),
            account_id="acme",
            user_id="alice",
            intake_type=IntakeType.FREE_TEXT,
            intake_content={"text": "log\x00line"},
            now=T0,
        )
    assert step(0.5).content == "Step at 0.5"
    assert ProposedStep(kind=StepKind.ACTION, content="Re\x00boot", confidence=0.5).content == (
        "Reboot"
    )
