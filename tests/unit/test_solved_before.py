"""The account's memory reaches the LLM: a bounded, marked section (Anthropic), a sentence
(offline assistant), and nothing when there is nothing similar."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime

import pytest

from resolutionflow_anthropic.conversation import chat_messages, guided_messages
from resolutionflow_anthropic.solved_before import CLOSE_TAG, OPEN_TAG, solved_before_context
from resolutionflow_core.session import Session
from resolutionflow_core.similar import CONTEXT_CHARS, SimilarSession
from resolutionflow_memory import OfflineLLM
from tests.sessions import chat_session, guided_session

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SOLVED = SimilarSession(
    id=uuid.UUID(int=7),
    session_type="chat",
    title="Outlook asks for the password",
    resolution_summary="Removed the stale credentials and rebuilt the profile. " * 40,
    root_cause="A token of the old tenant",
    resolved_at=NOW,
    user_id="alice",
)


def chat(similar: tuple[SimilarSession, ...]) -> Session:
    session = chat_session("Outlook keeps prompting for a password", user="bob", now=NOW)
    session.similar_sessions = similar
    return session


def text_of(message: object) -> str:
    content = message["content"]  # type: ignore[index]
    return content if isinstance(content, str) else "\n".join(b["text"] for b in content)


def test_the_prompt_gets_a_marked_bounded_section_before_the_conversation() -> None:
    messages = chat_messages(chat((SOLVED,)))

    first = text_of(messages[0])
    section = first[first.index(OPEN_TAG) : first.index(CLOSE_TAG) + len(CLOSE_TAG)]
    assert "Root cause: A token of the old tenant" in section
    resolution_line = next(line for line in section.splitlines() if "Resolution:" in line)
    assert len(resolution_line) <= CONTEXT_CHARS + len("1. Resolution: ")
    assert resolution_line.endswith("…")
    assert "alice" not in section  # resolutions and root causes only
    assert first.index(CLOSE_TAG) < first.index("Outlook keeps prompting")


def test_guided_sessions_get_the_same_section() -> None:
    session = guided_session("Outlook prompts", user="bob", now=NOW)
    session.similar_sessions = (SOLVED,)

    assert OPEN_TAG in text_of(guided_messages(session)[0])


def test_no_section_without_similar_sessions() -> None:
    assert solved_before_context(chat(())) is None
    assert all(OPEN_TAG not in text_of(m) for m in chat_messages(chat(())))


async def test_the_offline_assistant_says_who_solved_it_before_on_its_first_reply() -> None:
    reply = await OfflineLLM().chat_reply(chat((SOLVED,)))

    assert "This was solved before by alice" in reply.text
    assert "Root cause: A token of the old tenant" in reply.text
    plain = await OfflineLLM().chat_reply(chat(()))
    assert "solved before" not in plain.text


@pytest.mark.parametrize("summary", ["Rebuilt the profile.", "Rebuilt the profile"])
async def test_the_offline_assistant_ends_the_fix_it_recalls_with_one_full_stop(
    summary: str,
) -> None:
    solved = dataclasses.replace(SOLVED, resolution_summary=summary, root_cause="Old token.")
    reply = await OfflineLLM().chat_reply(chat((solved,)))

    assert '"): Rebuilt the profile. Root cause: Old token.\n' in reply.text
