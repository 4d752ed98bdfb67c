"""The resolution note and the escalation package: readable text, built from the session."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from resolutionflow_core import documentation
from resolutionflow_core.chat import MessageRole
from resolutionflow_core.guided import ProposedStep, StepKind
from resolutionflow_core.markers import (
    Action,
    Fork,
    ForkOption,
    ParsedReply,
    Question,
    parse_markers,
    render_markers,
)
from resolutionflow_core.session import Session
from tests.marker_tags import TAGS
from tests.unit.test_session import at, chat, guided


def guided_with_pending_step() -> Session:
    session = guided()
    session.add_step(
        ProposedStep(kind=StepKind.QUESTION, content="Is the toner full?", confidence=0.3),
        now=at(1),
    )
    session.answer_step("Yes, new cartridge", now=at(2), by="alice")
    session.add_step(
        ProposedStep(kind=StepKind.ACTION, content="Print a test page", confidence=0.6),
        now=at(3),
    )
    return session


# -- item 1: the assistant's markers never reach a document ---------------------------------

words = st.text(
    alphabet=st.characters(categories=["L", "N"], include_characters=" .,:-'?!"),
    min_size=1,
    max_size=40,
).filter(lambda text: text.strip() != "")
optional_words = st.none() | words
replies = st.builds(
    ParsedReply,
    text=st.just("") | words,
    questions=st.lists(st.builds(Question, words, optional_words), max_size=3).map(tuple),
    actions=st.lists(
        st.builds(Action, words, optional_words, optional_words, optional_words), max_size=3
    ).map(tuple),
    forks=st.lists(
        st.builds(
            Fork,
            st.just("") | words,
            st.lists(st.builds(ForkOption, words, optional_words), min_size=2, max_size=3).map(
                tuple
            ),
        ),
        max_size=2,
    ).map(tuple),
)


@given(reply=replies, escalate=st.booleans(), last_is_reply=st.booleans())
def test_no_document_carries_marker_text_or_block_json(
    reply: ParsedReply, escalate: bool, last_is_reply: bool
) -> None:
    raw = render_markers(reply) or "Let us look."
    parsed = parse_markers(raw)
    assert parsed == parse_markers(render_markers(parsed))  # the parser accepts it
    session = chat()
    session.add_message(MessageRole.ASSISTANT, raw, now=at(1), by=None)
    if not last_is_reply:
        session.add_message(MessageRole.USER, "Done, still failing", now=at(2), by="alice")

    if escalate:
        session.escalate("Needs Exchange admin rights", now=at(3), by="alice")
    documents = [documentation.resolution_note(session), documentation.escalation_package(session)]

    for document in documents:
        for tag in TAGS:
            assert tag not in document
        assert "[{" not in document
        assert '{"' not in document
        assert '"title"' not in document
        assert '"label"' not in document
        for action in parsed.actions:
            assert f"Assistant suggested: {' '.join(action.title.split())}" in document or (
                "more …" in document
            )


def test_what_was_tried_lists_the_actions_proposed_and_what_the_engineer_reported() -> None:
    session = chat()
    reply = ParsedReply(
        text="Two things to try.",
        actions=(
            Action("Clear the cached credentials", command="cmdkey /list"),
            Action("Recreate the Outlook profile"),
        ),
        questions=(Question("Does it happen on webmail too?"),),
    )
    session.add_message(MessageRole.ASSISTANT, render_markers(reply), now=at(1), by=None)
    session.add_message(MessageRole.USER, "Cleared them, still asks", now=at(2), by="alice")
    session.escalate("Needs a senior", now=at(3), by="alice")

    package = documentation.escalation_package(session)

    tried = package.split("What was tried:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert tried == [
        "- Engineer: Outlook asks for the password every few minutes",
        "- Assistant asked: Does it happen on webmail too?",
        "- Assistant suggested: Clear the cached credentials (command: cmdkey /list)",
        "- Assistant suggested: Recreate the Outlook profile",
        "- Engineer: Cleared them, still asks",
    ]


def test_the_last_assistant_message_is_shown_as_text_and_lists() -> None:
    session = chat()
    reply = ParsedReply(
        text="Check the tunnel.",
        forks=(Fork("Which client?", (ForkOption("FortiClient"), ForkOption("GlobalProtect"))),),
    )
    session.add_message(MessageRole.ASSISTANT, render_markers(reply), now=at(1), by=None)
    session.escalate("Needs the firewall admin", now=at(2), by="alice")

    package = documentation.escalation_package(session)

    assert "Last assistant message: Check the tunnel.\n" in package
    assert (
        "- Assistant offered a choice: Which client? Options: FortiClient / GlobalProtect"
        in package
    )


# -- item 2: an abandoned session's documentation says it was closed, and why ---------------


def test_an_abandoned_session_documents_that_it_was_closed_and_why() -> None:
    session = chat()
    session.abandon(now=at(1), by="alice", reason="The user replaced the laptop")

    note = documentation.resolution_note(session)

    assert note.startswith("Closing note — Chat session ")
    assert "Closed without a fix:\nThe session was abandoned. Reason: The user replaced" in note
    assert "Resolution:" not in note
    assert "Not recorded" not in note


def test_an_abandoned_session_without_a_reason_says_none_was_given() -> None:
    session = chat()
    session.abandon(now=at(1), by="alice")

    note = documentation.resolution_note(session)

    assert "The session was abandoned. Reason: No reason was given." in note
    assert session.abandon_reason is None


# -- item 3: closing a session closes its pending step --------------------------------------


def test_resolving_closes_the_pending_step_and_the_package_no_longer_calls_it_open() -> None:
    session = guided_with_pending_step()
    assert session.pending_step is not None

    session.resolve("Replaced the fuser", now=at(4), by="alice")

    assert session.pending_step is None
    assert session.unanswered_step is not None
    assert session.unanswered_step.number == 2
    package = documentation.escalation_package(session)
    assert "Open step" not in package
    assert "Last step 2 (action), left unanswered when the session was resolved" in package


def test_an_escalated_sessions_step_reopens_for_the_engineer_who_claims_it() -> None:
    session = guided_with_pending_step()

    session.escalate("Needs the print server admin", now=at(4), by="alice")
    closed = session.pending_step
    session.claim(now=at(5), by="bob")

    assert closed is None
    assert session.pending_step is not None
    assert session.pending_step.content == "Print a test page"


# -- item 4: one count of the work done -----------------------------------------------------


def test_the_count_of_steps_worked_is_the_answered_steps_or_the_engineers_messages() -> None:
    guided = guided_with_pending_step()  # step 1 answered, step 2 pending
    conversation = chat()
    conversation.add_message(MessageRole.ASSISTANT, "Try webmail.", now=at(1), by=None)
    conversation.add_message(MessageRole.USER, "Webmail works", now=at(2), by="alice")

    assert documentation.steps_worked(guided) == 1
    assert documentation.steps_worked_phrase(guided) == "1 troubleshooting step"
    assert documentation.steps_worked(conversation) == 2
    assert documentation.steps_worked_phrase(conversation) == "2 troubleshooting steps"
    guided.escalate("Needs the print server admin", now=at(4), by="alice")
    assert "1 troubleshooting step worked through so far." in (
        documentation.escalation_package(guided)
    )
