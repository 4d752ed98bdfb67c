"""The Anthropic adapter through the real anthropic SDK, against a stub of the Messages API.

The stub (`tests.integration.anthropic_stub`) is a real HTTP server on 127.0.0.1 speaking
the wire format; every test asserts what the adapter sent and what it made of the answer.
Nothing here calls the real API.
"""

from __future__ import annotations

import json
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import anthropic
import pytest
from pydantic import ValidationError

from resolutionflow_anthropic import (
    DEFAULT_MODEL,
    AnthropicConfigurationError,
    AnthropicLLM,
    AnthropicSettings,
    LLMRequestRejected,
    PromptName,
)
from resolutionflow_anthropic.llm import CUT_SHORT_NOTE
from resolutionflow_core.access import Actor, Role
from resolutionflow_core.chat import ConversationMessage, MessageHistory, MessageRole
from resolutionflow_core.errors import LLMError, LLMResponseInvalid, LLMUnavailable
from resolutionflow_core.guided import ProposedStep, StepKind, StepOption
from resolutionflow_core.markers import parse_markers
from resolutionflow_core.ports import ReplyCompleted, ReplyEvent, TextDelta
from resolutionflow_core.services import ChatTurn, SessionService
from resolutionflow_core.session import IntakeType, ProblemDomain, Session, SessionType
from resolutionflow_core.tickets import PSALink
from resolutionflow_core.updates import Audience, UpdateLength
from resolutionflow_core.usage import TokenUsage
from resolutionflow_memory import InMemoryStorage
from tests.conftest import SequentialIds, StepClock
from tests.integration import anthropic_stub as wire
from tests.integration.anthropic_stub import AnthropicStub

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
ALICE = Actor("acme", "alice", Role.ENGINEER)
VPN = "The VPN drops every ten minutes for remote staff"

STEP = {
    "kind": "question",
    "content": "Does it drop on the office Wi-Fi too, or only from home?",
    "options": [
        {"label": "Only from home", "description": "Points at the VPN"},
        {"label": "Everywhere"},
    ],
    "reasoning": "Separates the VPN from the local network.",
    "confidence": 0.35,
}
DESCRIPTION = {
    "summary": "Remote staff lose the VPN every ten minutes.",
    "domain": "network",
    "title": "VPN drops",
}


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stub_server() -> Iterator[AnthropicStub]:
    stub = AnthropicStub()
    with stub.running():
        yield stub


@pytest.fixture
def stub(stub_server: AnthropicStub) -> Iterator[AnthropicStub]:
    stub_server.reset()
    yield stub_server
    assert stub_server.unused == 0, "a scripted reply was never asked for"


def settings_for(stub: AnthropicStub, **overrides: Any) -> AnthropicSettings:
    """Test settings: the stub's URL, no waiting between stream retries."""
    values: dict[str, Any] = {
        "api_key": "sk-ant-test",
        "base_url": stub.url,
        "timeout": 10.0,
        "max_retries": 2,
        "max_retry_wait": 5.0,
        "stream_retry_delay": 0.0,
    }
    return AnthropicSettings(**(values | overrides))


@pytest.fixture
async def llm(stub: AnthropicStub) -> AsyncIterator[AnthropicLLM]:
    adapter = AnthropicLLM.from_settings(settings_for(stub))
    yield adapter
    await adapter.aclose()


@pytest.fixture
def service(llm: AnthropicLLM) -> tuple[SessionService, InMemoryStorage]:
    storage = InMemoryStorage()
    return (
        SessionService(uow=storage.unit_of_work, llm=llm, clock=StepClock(), ids=SequentialIds()),
        storage,
    )


def chat(*turns: tuple[MessageRole, str]) -> Session:
    """A chat session whose history is ``turns`` (the first must be the engineer's)."""
    session = Session.start_chat(
        session_id=uuid.uuid4(),
        account_id="acme",
        user_id="alice",
        first_message=turns[0][1],
        now=NOW,
    )
    for role, content in turns[1:]:
        session.add_message(role, content, now=NOW, by=None)
    return session


def guided(*answers: str) -> Session:
    """A guided session on the VPN intake with one answered step per answer."""
    session = Session.start_guided(
        session_id=uuid.uuid4(),
        account_id="acme",
        user_id="alice",
        intake_type=IntakeType.FREE_TEXT,
        intake_content={"text": VPN},
        now=NOW,
    )
    for number, answer in enumerate(answers, start=1):
        step = ProposedStep(kind=StepKind.QUESTION, content=f"Question {number}?", confidence=0.3)
        session.add_step(step, now=NOW)
        session.answer_step(answer, now=NOW, by="alice")
    return session


async def collect(events: AsyncIterator[ReplyEvent]) -> tuple[list[ReplyEvent], LLMError | None]:
    """The events a stream yielded, and the port error it ended with (if any)."""
    seen: list[ReplyEvent] = []
    try:
        async for event in events:
            seen.append(event)
    except LLMError as error:
        return seen, error
    return seen, None


USER, ASSISTANT = MessageRole.USER, MessageRole.ASSISTANT


# -- settings ---------------------------------------------------------------------------


def test_settings_from_the_environment_have_sensible_defaults() -> None:
    settings = AnthropicSettings.from_env({"ANTHROPIC_API_KEY": "sk-ant-1"})
    assert settings.model == DEFAULT_MODEL == "claude-sonnet-5-5"
    assert settings.max_tokens == 8_192
    assert settings.max_retries == 2
    assert settings.timeout == 120.0
    assert settings.structured_output == "json_schema"
    assert settings.base_url is None
    assert "sk-ant-1" not in repr(settings)


def test_settings_from_the_environment_override_each_default() -> None:
    settings = AnthropicSettings.from_env(
        {
            "ANTHROPIC_API_KEY": "sk-ant-1",
            "RESOLUTIONFLOW_ANTHROPIC_MODEL": "claude-haiku-4-5",
            "RESOLUTIONFLOW_ANTHROPIC_MAX_TOKENS": "2048",
            "RESOLUTIONFLOW_ANTHROPIC_TIMEOUT": "30",
            "RESOLUTIONFLOW_ANTHROPIC_MAX_RETRIES": "5",
            "RESOLUTIONFLOW_ANTHROPIC_MAX_RETRY_WAIT": "60",
            "RESOLUTIONFLOW_ANTHROPIC_STRUCTURED_OUTPUT": "tool",
            "RESOLUTIONFLOW_ANTHROPIC_EFFORT": "low",
            "RESOLUTIONFLOW_ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
        }
    )
    assert (settings.model, settings.max_tokens, settings.timeout) == ("claude-haiku-4-5", 2048, 30)
    assert (settings.max_retries, settings.max_retry_wait) == (5, 60)
    assert (settings.structured_output, settings.effort) == ("tool", "low")
    assert settings.base_url == "http://127.0.0.1:9"


@pytest.mark.parametrize("environ", [{}, {"ANTHROPIC_API_KEY": "  "}])
def test_asking_for_anthropic_without_a_key_is_a_clear_error(environ: dict[str, str]) -> None:
    with pytest.raises(AnthropicConfigurationError) as failed:
        AnthropicSettings.from_env(environ)
    assert "ANTHROPIC_API_KEY" in str(failed.value)
    assert "RESOLUTIONFLOW_LLM=offline" in str(failed.value)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("MAX_TOKENS", "lots", "a whole number of at least 1"),
        ("MAX_TOKENS", "0", "a whole number of at least 1"),
        ("TIMEOUT", "-1", "a number of seconds above 0"),
        ("TIMEOUT", "inf", "a number of seconds above 0"),
        ("MAX_RETRIES", "-2", "a whole number of at least 0"),
        ("STRUCTURED_OUTPUT", "xml", "json_schema or tool"),
        ("EFFORT", "extreme", "one of low, medium, high, xhigh, max"),
    ],
)
def test_a_malformed_setting_names_its_variable_and_what_it_must_be(
    name: str, value: str, expected: str
) -> None:
    environ = {"ANTHROPIC_API_KEY": "sk-ant-1", f"RESOLUTIONFLOW_ANTHROPIC_{name}": value}
    with pytest.raises(AnthropicConfigurationError) as failed:
        AnthropicSettings.from_env(environ)
    assert (
        str(failed.value) == f"RESOLUTIONFLOW_ANTHROPIC_{name} must be {expected} (got {value!r})"
    )


def test_blank_settings_take_their_defaults_and_values_are_stripped() -> None:
    settings = AnthropicSettings.from_env(
        {
            "ANTHROPIC_API_KEY": " sk-ant-1 ",
            "RESOLUTIONFLOW_ANTHROPIC_MODEL": "  ",
            "RESOLUTIONFLOW_ANTHROPIC_MAX_TOKENS": " 4096 ",
            "RESOLUTIONFLOW_ANTHROPIC_EFFORT": "",
        }
    )
    assert (settings.api_key, settings.model) == ("sk-ant-1", DEFAULT_MODEL)
    assert (settings.max_tokens, settings.effort) == (4096, None)


def test_settings_read_the_process_environment_unless_given_a_mapping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-process")
    monkeypatch.setenv("RESOLUTIONFLOW_ANTHROPIC_MODEL", "claude-haiku-4-5")
    from_process = AnthropicSettings.from_env()
    assert (from_process.api_key, from_process.model) == ("sk-ant-process", "claude-haiku-4-5")
    with pytest.raises(AnthropicConfigurationError, match="ANTHROPIC_API_KEY"):
        AnthropicSettings.from_env({})  # a given mapping is all that is read


def test_keyword_settings_win_over_the_environment_and_are_frozen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RESOLUTIONFLOW_ANTHROPIC_MAX_TOKENS", "100")
    settings = AnthropicSettings(api_key="sk-ant-1", max_tokens=2048)
    assert settings.max_tokens == 2048
    with pytest.raises(ValidationError):
        settings.max_tokens = 1  # type: ignore[misc]


# -- system prompts ---------------------------------------------------------------------


def test_system_prompts_are_versioned_files_and_the_chat_prompt_teaches_parseable_markers(
    llm: AnthropicLLM,
) -> None:
    for name in PromptName:
        prompt = llm.prompt(name)
        assert prompt.text.startswith(f"Prompt version: {name} v{prompt.version}\n")
    assert llm.system_prompt(SessionType.CHAT) == llm.prompt(PromptName.CHAT).text
    assert llm.system_prompt(SessionType.GUIDED) == llm.prompt(PromptName.GUIDED).text
    # The examples the chat prompt gives are read by the core's marker parser.
    examples = parse_markers(llm.system_prompt(SessionType.CHAT))
    assert (len(examples.questions), len(examples.actions), len(examples.forks)) == (1, 1, 1)


# -- chat -------------------------------------------------------------------------------


async def test_a_chat_reply_sends_the_model_the_cached_system_prompt_and_the_history_in_order(
    llm: AnthropicLLM, stub: AnthropicStub
) -> None:
    stub.script(
        wire.text(
            "Check the idle timeout.", tokens=wire.usage(900, 60, cache_read=800, cache_write=100)
        )
    )
    session = chat((USER, VPN), (ASSISTANT, "Only remote staff?"), (USER, "Yes, only from home"))

    reply = await llm.chat_reply(session)

    (request,) = stub.requests
    assert (request.method, request.path) == ("POST", "/v1/messages")
    assert request.headers["authorization"] == "Bearer sk-ant-test"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", request.headers["anthropic-version"])  # the SDK's
    assert request.body["model"] == DEFAULT_MODEL
    assert request.body["max_tokens"] == 8_192
    assert request.system == [
        {
            "type": "text",
            "text": llm.system_prompt(SessionType.CHAT),
            "cache_control": {"type": "ephemeral"},
        }
    ]
    assert [m["role"] for m in request.messages] == ["user", "assistant", "user"]
    assert [request.texts(i) for i in range(3)] == [
        [VPN],
        ["Only remote staff?"],
        ["Yes, only from home"],
    ]
    assert request.messages[-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert not {"tools", "tool_choice", "output_config", "stream"} & request.body.keys()
    assert reply.text == "Check the idle timeout."
    assert reply.model == DEFAULT_MODEL
    assert reply.usage == TokenUsage(900, 60, cache_read_tokens=800, cache_write_tokens=100)


async def test_consecutive_messages_of_one_role_are_merged_into_one_message(
    llm: AnthropicLLM, stub: AnthropicStub
) -> None:
    stub.script(wire.text("Noted both."))
    session = chat((USER, VPN), (ASSISTANT, "Only remote?"), (USER, "Yes"), (USER, "And on Wi-Fi"))

    await llm.chat_reply(session)

    (request,) = stub.requests
    assert [m["role"] for m in request.messages] == ["user", "assistant", "user"]
    assert request.texts(2) == ["Yes", "And on Wi-Fi"]


async def test_a_history_that_starts_with_the_assistant_is_sent_starting_with_the_user(
    llm: AnthropicLLM, stub: AnthropicStub
) -> None:
    stub.script(wire.text("Hello again."))
    session = chat((USER, VPN))
    # A migrated legacy chat may open with the assistant's greeting.
    session.conversation_messages = MessageHistory(
        [
            ConversationMessage(ASSISTANT, "How can I help?", NOW),
            ConversationMessage(USER, VPN, NOW),
        ]
    )

    await llm.chat_reply(session)

    roles = [m["role"] for m in stub.requests[0].messages]
    assert roles == ["user", "assistant", "user"]
    assert stub.requests[0].texts(1) == ["How can I help?"]


async def test_a_linked_ticket_is_given_as_context_before_the_first_message(
    llm: AnthropicLLM, stub: AnthropicStub
) -> None:
    stub.script(wire.text("Seen the ticket."))
    session = chat((USER, VPN))
    snapshot = {"summary": "VPN unstable", "company": "Contoso", "contact": "Dana"}
    session.link_ticket(PSALink("connectwise", "T-42", snapshot, NOW), by="alice")

    await llm.chat_reply(session)

    context, first = stub.requests[0].texts(0)
    assert context.startswith("PSA ticket connectwise #T-42: VPN unstable")
    assert "company: Contoso" in context
    assert "contact: Dana" in context
    assert first == VPN


async def test_a_reply_ignores_thinking_and_says_when_it_was_cut_at_the_length_limit(
    llm: AnthropicLLM, stub: AnthropicStub
) -> None:
    stub.script(
        wire.message(
            [
                {"type": "thinking", "thinking": "idle timeout?", "signature": "c2ln"},
                {"type": "text", "text": "Start with the idle"},
            ],
            stop_reason="max_tokens",
        )
    )

    reply = await llm.chat_reply(chat((USER, VPN)))

    assert reply.text == "Start with the idle" + CUT_SHORT_NOTE


async def test_a_refused_or_empty_reply_is_a_response_invalid_error(
    llm: AnthropicLLM, stub: AnthropicStub
) -> None:
    stub.script(wire.text("I can't help with", stop_reason="refusal"), wire.message([]))

    with pytest.raises(LLMResponseInvalid, match="declined"):
        await llm.chat_reply(chat((USER, VPN)))
    with pytest.raises(LLMResponseInvalid, match="no text"):
        await llm.chat_reply(chat((USER, VPN)))


# -- streaming --------------------------------------------------------------------------


async def test_a_streamed_reply_yields_the_text_deltas_then_the_completed_reply(
    llm: AnthropicLLM, stub: AnthropicStub
) -> None:
    pieces = ["Check ", "the idle ", "timeout.\n\n[ACTIONS]\n", '["Raise it"]\n[/ACTIONS]']
    stub.script(
        wire.stream(
            pieces, thinking="likely the timeout", tokens=wire.usage(500, 42, cache_read=450)
        )
    )

    events, error = await collect(llm.stream_chat_reply(chat((USER, VPN))))

    assert error is None
    assert events[:-1] == [TextDelta(piece) for piece in pieces]
    assert isinstance(events[-1], ReplyCompleted)
    reply = events[-1].reply
    assert reply.text == "".join(pieces)
    assert reply.model == DEFAULT_MODEL
    assert reply.usage == TokenUsage(500, 42, cache_read_tokens=450)
    (request,) = stub.requests
    assert request.body["stream"] is True
    assert request.system[0]["cache_control"] == {"type": "ephemeral"}
    assert parse_markers(reply.text).actions[0].title == "Raise it"


async def test_an_overload_inside_the_stream_before_any_text_is_retried_once(
    llm: AnthropicLLM, stub: AnthropicStub
) -> None:
    stub.script(wire.stream([], error_type="overloaded_error"), wire.stream(["Fine ", "now."]))

    events, error = await collect(llm.stream_chat_reply(chat((USER, VPN))))

    assert error is None
    assert events == [TextDelta("Fine "), TextDelta("now."), events[-1]]
    assert isinstance(events[-1], ReplyCompleted)
    assert events[-1].reply.text == "Fine now."
    assert len(stub.requests) == 2
    assert stub.requests[0].body == stub.requests[1].body


async def test_an_overload_inside_the_stream_twice_before_text_is_unavailable(
    llm: AnthropicLLM, stub: AnthropicStub
) -> None:
    stub.script(
        wire.stream([], error_type="overloaded_error"),
        wire.stream([], error_type="overloaded_error"),
    )

    events, error = await collect(llm.stream_chat_reply(chat((USER, VPN))))

    assert events == []
    assert isinstance(error, LLMUnavailable)
    assert "overloaded" in str(error)
    assert len(stub.requests) == 2


async def test_an_overload_inside_the_stream_after_text_raises_without_a_retry(
    llm: AnthropicLLM, stub: AnthropicStub
) -> None:
    stub.script(wire.stream(["Check the ", "idle"], error_type="overloaded_error"))

    events, error = await collect(llm.stream_chat_reply(chat((USER, VPN))))

    assert events == [TextDelta("Check the "), TextDelta("idle")]
    assert isinstance(error, LLMUnavailable)
    assert len(stub.requests) == 1


async def test_a_connection_dropped_mid_stream_is_unavailable(
    llm: AnthropicLLM, stub: AnthropicStub
) -> None:
    stub.script(wire.stream(["Check ", "the ", "idle"], cut_after=5))

    events, error = await collect(llm.stream_chat_reply(chat((USER, VPN))))

    assert events == [TextDelta("Check "), TextDelta("the ")]
    assert isinstance(error, LLMUnavailable)
    assert "connection" in str(error)
    assert len(stub.requests) == 1


async def test_a_connection_dropped_before_any_text_is_tried_once_more(
    llm: AnthropicLLM, stub: AnthropicStub
) -> None:
    stub.script(wire.stream(["Check "], cut_after=2), wire.stream(["Check ", "again."]))

    events, error = await collect(llm.stream_chat_reply(chat((USER, VPN))))

    assert error is None
    assert events[:-1] == [TextDelta("Check "), TextDelta("again.")]
    assert len(stub.requests) == 2


async def test_a_stream_that_ends_without_message_stop_is_unavailable(
    llm: AnthropicLLM, stub: AnthropicStub
) -> None:
    stub.script(wire.stream(["Check the idle"], stop_reason=None))

    events, error = await collect(llm.stream_chat_reply(chat((USER, VPN))))

    assert events == [TextDelta("Check the idle")]
    assert isinstance(error, LLMUnavailable)


async def test_a_529_before_the_stream_starts_is_retried_by_the_sdk(
    llm: AnthropicLLM, stub: AnthropicStub
) -> None:
    stub.script(wire.overloaded(), wire.stream(["Back."]))

    events, error = await collect(llm.stream_chat_reply(chat((USER, VPN))))

    assert error is None
    assert isinstance(events[-1], ReplyCompleted)
    assert events[-1].reply.text == "Back."
    assert len(stub.requests) == 2
    assert stub.requests[1].headers["x-stainless-retry-count"] == "1"


async def test_a_streamed_refusal_is_a_response_invalid_error(
    llm: AnthropicLLM, stub: AnthropicStub
) -> None:
    stub.script(wire.stream(["I can't"], stop_reason="refusal"))

    events, error = await collect(llm.stream_chat_reply(chat((USER, VPN))))

    assert events == [TextDelta("I can't")]
    assert isinstance(error, LLMResponseInvalid)


# -- retries and failures ---------------------------------------------------------------


async def test_a_rate_limit_is_retried_after_the_seconds_retry_after_asks_for(
    llm: AnthropicLLM, stub: AnthropicStub
) -> None:
    # The API's own format: whole seconds. The SDK's backoff alone would wait at most 0.5 s.
    stub.script(wire.rate_limited(retry_after="1"), wire.text("Here."))

    reply = await llm.chat_reply(chat((USER, VPN)))

    assert reply.text == "Here."
    (gap,) = stub.gaps()
    assert 1.0 <= gap < 2.5


ASKED_WAIT = 1.5
"""Seconds of ``retry-after-ms``: longer than any backoff the SDK would pick by itself."""


async def test_an_overload_is_retried_after_the_milliseconds_retry_after_ms_asks_for(
    llm: AnthropicLLM, stub: AnthropicStub
) -> None:
    # Without the header the SDK backs off 0.375-0.5 s, then 0.75-1 s. It is asked for
    # longer, so only a lower bound is checked: a loaded machine makes gaps longer, never
    # shorter (an upper bound of a few hundred ms made this test flaky under load).
    stub.script(
        wire.overloaded(retry_after_ms=str(int(ASKED_WAIT * 1000))),
        wire.overloaded(retry_after_ms=str(int(ASKED_WAIT * 1000))),
        wire.text("Here."),
    )

    reply = await llm.chat_reply(chat((USER, VPN)))

    assert reply.text == "Here."
    assert [gap >= ASKED_WAIT for gap in stub.gaps()] == [True, True], stub.gaps()
    assert [r.headers["x-stainless-retry-count"] for r in stub.requests] == ["0", "1", "2"]


async def test_a_server_error_is_retried_with_backoff_when_no_wait_is_asked_for(
    llm: AnthropicLLM, stub: AnthropicStub
) -> None:
    stub.script(wire.error(500, "api_error", "Internal server error"), wire.text("Here."))

    reply = await llm.chat_reply(chat((USER, VPN)))

    assert reply.text == "Here."
    (gap,) = stub.gaps()
    assert 0.3 <= gap < 2


async def test_overload_after_every_retry_is_unavailable_with_the_last_retry_after(
    stub: AnthropicStub,
) -> None:
    llm = AnthropicLLM.from_settings(settings_for(stub, max_retries=2))
    stub.script(
        wire.overloaded(),
        wire.overloaded(),
        wire.error(529, "overloaded_error", "Overloaded", {"retry-after": "0.01"}),
    )

    with pytest.raises(LLMUnavailable) as failed:
        await llm.chat_reply(chat((USER, VPN)))

    assert len(stub.requests) == 3
    assert failed.value.retry_after == pytest.approx(0.01)
    assert "overloaded" in str(failed.value)
    await llm.aclose()


async def test_a_rate_limit_without_retries_left_is_unavailable_with_its_retry_after(
    stub: AnthropicStub,
) -> None:
    llm = AnthropicLLM.from_settings(settings_for(stub, max_retries=0))
    stub.script(wire.rate_limited(retry_after="3"))

    with pytest.raises(LLMUnavailable) as failed:
        await llm.chat_reply(chat((USER, VPN)))

    assert failed.value.retry_after == 3.0
    assert "rate limit" in str(failed.value)
    await llm.aclose()


async def test_a_retry_after_longer_than_the_limit_fails_at_once_saying_how_long(
    llm: AnthropicLLM, stub: AnthropicStub
) -> None:
    stub.script(wire.rate_limited(retry_after="120"))

    started = time.monotonic()
    with pytest.raises(LLMUnavailable) as failed:
        await llm.chat_reply(chat((USER, VPN)))

    assert time.monotonic() - started < 1
    assert len(stub.requests) == 1
    assert failed.value.retry_after == 120.0
    assert "120 s" in str(failed.value)


@pytest.mark.parametrize(
    ("status", "error_type", "says"),
    [
        (400, "invalid_request_error", "prompt is too long"),
        (401, "authentication_error", "ANTHROPIC_API_KEY"),
        (403, "permission_error", "may not use"),
        (404, "not_found_error", "RESOLUTIONFLOW_ANTHROPIC_MODEL"),
    ],
)
async def test_permanent_errors_are_never_retried(
    llm: AnthropicLLM, stub: AnthropicStub, status: int, error_type: str, says: str
) -> None:
    stub.script(wire.error(status, error_type, "prompt is too long: 1200000 tokens > 1000000"))

    with pytest.raises(LLMRequestRejected) as failed:
        await llm.chat_reply(chat((USER, VPN)))

    assert len(stub.requests) == 1
    assert failed.value.status_code == status
    assert failed.value.error_type == error_type
    assert says in str(failed.value)
    assert isinstance(failed.value, LLMError)
    assert not isinstance(failed.value, LLMUnavailable)


async def test_an_unreachable_api_is_unavailable() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    llm = AnthropicLLM.from_settings(
        AnthropicSettings(api_key="sk-ant-test", base_url=f"http://127.0.0.1:{port}", max_retries=0)
    )

    with pytest.raises(LLMUnavailable, match="could not reach"):
        await llm.chat_reply(chat((USER, VPN)))
    await llm.aclose()


async def test_an_injected_client_keeps_its_connection_and_takes_the_retry_policy(
    stub: AnthropicStub,
) -> None:
    client = anthropic.AsyncAnthropic(
        api_key="sk-ant-injected",
        base_url=stub.url,
        max_retries=7,
        default_headers={"x-tenant": "acme"},
    )
    llm = AnthropicLLM(client, settings_for(stub, api_key="unused", max_retries=0))
    stub.script(wire.overloaded())

    with pytest.raises(LLMUnavailable):
        await llm.chat_reply(chat((USER, VPN)))

    (request,) = stub.requests
    assert request.headers["authorization"] == "Bearer sk-ant-injected"
    assert request.headers["x-tenant"] == "acme"
    await client.close()


# -- guided -----------------------------------------------------------------------------


async def test_the_next_step_is_asked_for_as_json_output_and_becomes_a_proposed_step(
    llm: AnthropicLLM, stub: AnthropicStub
) -> None:
    stub.script(
        wire.json_output(
            STEP, thinking="narrow it down", tokens=wire.usage(700, 90, cache_write=650)
        )
    )

    proposal = await llm.next_step(guided("Yes, since Monday"))

    (request,) = stub.requests
    assert request.prompt == "guided"
    assert request.system[0]["text"] == llm.system_prompt(SessionType.GUIDED)
    output_format = request.body["output_config"]["format"]
    assert output_format["type"] == "json_schema"
    schema = output_format["schema"]
    assert schema["required"] == ["kind", "content", "options", "reasoning", "confidence"]
    assert schema["properties"]["kind"]["enum"] == [k.value for k in StepKind]
    assert "matched_flow_id" in schema["properties"]
    assert schema["additionalProperties"] is False
    assert not {"tools", "tool_choice"} & request.body.keys()
    # The intake, the step as the model answered it, the answer and the request to go on.
    assert [m["role"] for m in request.messages] == ["user", "assistant", "user"]
    assert VPN in request.texts(0)[0]
    assert json.loads(request.texts(1)[0])["content"] == "Question 1?"
    assert request.texts(2) == ["Answer to step 1: Yes, since Monday", "Propose the next step."]
    assert request.messages[-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}

    step = proposal.step
    assert step.kind is StepKind.QUESTION
    assert step.content == STEP["content"]
    assert step.options == (
        StepOption("Only from home", "Points at the VPN"),
        StepOption("Everywhere"),
    )
    assert step.confidence == 0.35
    assert step.matched_flow_id is None
    assert proposal.usage == TokenUsage(700, 90, cache_write_tokens=650)


async def test_a_step_the_domain_refuses_is_sent_back_once_with_the_reason(
    llm: AnthropicLLM, stub: AnthropicStub
) -> None:
    bad = {**STEP, "confidence": 85}
    stub.script(wire.json_output(bad), wire.json_output(STEP))

    proposal = await llm.next_step(guided())

    assert proposal.step.confidence == 0.35
    first, second = stub.requests
    assert second.messages[: len(first.messages)] == first.messages
    assert json.loads(second.texts(-2)[0]) == bad
    (correction,) = second.texts(-1)
    assert "confidence" in correction
    assert "0 to 1" in correction
    assert proposal.usage == TokenUsage(240, 80)  # both attempts are paid for


@pytest.mark.parametrize(
    "answers",
    [
        ["not json at all", '{"kind": '],
        [json.dumps({**STEP, "kind": "guess"}), json.dumps({**STEP, "content": "   "})],
    ],
    ids=["not-json", "refused-by-the-domain"],
)
async def test_a_step_unusable_twice_is_a_response_invalid_error(
    llm: AnthropicLLM, stub: AnthropicStub, answers: list[str]
) -> None:
    stub.script(*(wire.text(answer) for answer in answers))

    with pytest.raises(LLMResponseInvalid, match="unusable 2 times"):
        await llm.next_step(guided())

    assert len(stub.requests) == 2


async def test_in_tool_mode_the_tool_is_forced_and_the_last_tool_is_cached(
    stub: AnthropicStub,
) -> None:
    llm = AnthropicLLM.from_settings(settings_for(stub, structured_output="tool"))
    stub.script(
        wire.tool_use(
            "propose_next_step", {**STEP, "matched_flow_id": "vpn-drops", "match_score": 0.7}
        )
    )

    proposal = await llm.next_step(guided())

    (request,) = stub.requests
    assert request.body["tool_choice"] == {"type": "tool", "name": "propose_next_step"}
    (tool,) = request.body["tools"]
    assert tool["name"] == "propose_next_step"
    assert tool["input_schema"]["required"] == [
        "kind",
        "content",
        "options",
        "reasoning",
        "confidence",
    ]
    assert request.body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert "output_config" not in request.body
    assert proposal.step.matched_flow_id == "vpn-drops"
    assert proposal.step.match_score == 0.7
    await llm.aclose()


async def test_in_tool_mode_malformed_tool_input_gets_an_error_tool_result_then_a_retry(
    stub: AnthropicStub,
) -> None:
    llm = AnthropicLLM.from_settings(settings_for(stub, structured_output="tool"))
    stub.script(
        wire.tool_use("propose_next_step", {"kind": "question", "confidence": 0.3}),
        wire.tool_use("propose_next_step", STEP),
    )

    proposal = await llm.next_step(guided())

    assert proposal.step.content == STEP["content"]
    second = stub.requests[1]
    (call,) = second.messages[-2]["content"]
    (result,) = second.messages[-1]["content"]
    assert call["type"] == "tool_use"
    assert call["input"] == {"kind": "question", "confidence": 0.3}
    assert result["type"] == "tool_result"
    assert result["tool_use_id"] == call["id"]
    assert result["is_error"] is True
    assert "content" in result["content"]
    await llm.aclose()


async def test_an_effort_setting_is_sent_with_every_request(stub: AnthropicStub) -> None:
    llm = AnthropicLLM.from_settings(settings_for(stub, effort="low"))
    stub.script(wire.text("Here."), wire.json_output(STEP))

    await llm.chat_reply(chat((USER, VPN)))
    await llm.next_step(guided())

    chat_request, step_request = stub.requests
    assert chat_request.body["output_config"] == {"effort": "low"}
    assert step_request.body["output_config"]["effort"] == "low"
    assert step_request.body["output_config"]["format"]["type"] == "json_schema"
    await llm.aclose()


# -- describe and status updates --------------------------------------------------------


async def test_describe_gives_summary_domain_and_title_from_the_first_messages(
    llm: AnthropicLLM, stub: AnthropicStub
) -> None:
    long_title = (
        "VPN drops every ten minutes for remote staff on the Contoso FortiGate since Monday"
    )
    stub.script(wire.json_output({**DESCRIPTION, "title": long_title}, thinking="network"))

    description = await llm.describe(chat((USER, VPN), (ASSISTANT, "Only remote?"), (USER, "Yes")))

    (request,) = stub.requests
    assert request.prompt == "describe"
    schema = request.body["output_config"]["format"]["schema"]
    assert schema["properties"]["domain"]["enum"] == [d.value for d in ProblemDomain]
    (text,) = request.texts(0)
    assert f"Engineer: {VPN}" in text
    assert "Assistant: Only remote?" in text
    assert description.summary == DESCRIPTION["summary"]
    assert description.domain is ProblemDomain.NETWORK
    assert description.title is not None
    assert len(description.title) <= 80


@pytest.mark.parametrize("length", list(UpdateLength))
@pytest.mark.parametrize("audience", list(Audience))
async def test_a_status_update_is_drafted_for_each_audience_and_length(
    llm: AnthropicLLM, stub: AnthropicStub, audience: Audience, length: UpdateLength
) -> None:
    answer = {"body": "We are checking the VPN gateway."}
    if audience is Audience.EMAIL:
        answer["subject"] = "VPN drops: in progress"
    stub.script(wire.json_output(answer))

    draft = await llm.draft_status_update(guided("Only from home"), audience, length)

    (request,) = stub.requests
    assert request.prompt == "status_update"
    (text,) = request.texts(0)
    assert f"Audience: {audience}" in text
    assert f"Length: {length}" in text
    assert "Engineer's answer: Only from home" in text
    schema = request.body["output_config"]["format"]["schema"]
    assert ("subject" in schema["required"]) is (audience is Audience.EMAIL)
    assert (draft.audience, draft.length, draft.body) == (audience, length, answer["body"])
    assert draft.subject == answer.get("subject")


# -- the services end to end ------------------------------------------------------------


async def test_a_chat_turn_during_an_overload_keeps_the_message_and_a_retry_answers_it(
    service: tuple[SessionService, InMemoryStorage], llm: AnthropicLLM, stub: AnthropicStub
) -> None:
    sessions, storage = service
    stub.script(wire.text("Only remote staff?"), wire.json_output(DESCRIPTION))
    turn = await sessions.start_chat(ALICE, VPN)
    session_id = turn.session.id
    assert stub.requests[0].system[0]["text"] == turn.session.system_prompt_snapshot
    stub.reset()

    stub.script(wire.overloaded(), wire.overloaded(), wire.overloaded())
    with pytest.raises(LLMUnavailable) as failed:
        await sessions.send_message(ALICE, session_id, "Yes, only from home")

    assert failed.value.session_id == session_id
    assert "saved" in str(failed.value)
    assert len(stub.requests) == 3  # the first try and the SDK's two retries
    stored = storage.committed(session_id)
    assert [m.role for m in stored.conversation_messages] == ["user", "assistant", "user"]
    assert stored.conversation_messages[-1].content == "Yes, only from home"
    assert stored.step_count == 3
    stub.reset()

    stub.script(wire.text("Then check the VPN idle timeout.", tokens=wire.usage(300, 20)))
    again = await sessions.answer_again(ALICE, session_id)

    assert again.message.content == "Yes, only from home"
    assert again.reply.content == "Then check the VPN idle timeout."
    assert again.reply.model == DEFAULT_MODEL
    assert again.reply.usage == TokenUsage(300, 20)
    (request,) = stub.requests
    assert [request.texts(i) for i in range(3)] == [
        [VPN],
        ["Only remote staff?"],
        ["Yes, only from home"],
    ]
    stored = storage.committed(session_id)
    assert [m.role for m in stored.conversation_messages] == [
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    assert stored.problem_domain is ProblemDomain.NETWORK
    assert stored.usage == TokenUsage(420, 60)


async def test_a_message_sent_after_a_failed_reply_goes_out_merged_with_the_unanswered_one(
    service: tuple[SessionService, InMemoryStorage], stub: AnthropicStub
) -> None:
    sessions, storage = service
    stub.script(wire.text("Only remote staff?"), wire.json_output(DESCRIPTION))
    session_id = (await sessions.start_chat(ALICE, VPN)).session.id
    stub.script(wire.error(529, "overloaded_error", "Overloaded", {"retry-after": "600"}))
    with pytest.raises(LLMUnavailable) as failed:
        await sessions.send_message(ALICE, session_id, "Yes, only from home")
    assert failed.value.retry_after == 600
    stub.reset()

    stub.script(wire.text("Both noted."))
    turn = await sessions.send_message(ALICE, session_id, "It started on Monday")

    (request,) = stub.requests
    assert [m["role"] for m in request.messages] == ["user", "assistant", "user"]
    assert request.texts(2) == ["Yes, only from home", "It started on Monday"]
    assert turn.reply.content == "Both noted."
    assert storage.committed(session_id).step_count == 5


async def test_a_stream_failing_after_text_stores_nothing_of_the_reply(
    service: tuple[SessionService, InMemoryStorage], stub: AnthropicStub
) -> None:
    sessions, storage = service
    stub.script(wire.text("Only remote staff?"), wire.json_output(DESCRIPTION))
    session_id = (await sessions.start_chat(ALICE, VPN)).session.id
    stub.script(wire.stream(["Check the ", "idle time"], error_type="overloaded_error"))

    deltas: list[str] = []

    async def watch() -> None:
        async for event in sessions.stream_message(ALICE, session_id, "Yes, only from home"):
            assert isinstance(event, TextDelta)
            deltas.append(event.text)

    with pytest.raises(LLMUnavailable) as failed:
        await watch()

    assert deltas == ["Check the ", "idle time"]
    assert failed.value.session_id == session_id
    stored = storage.committed(session_id)
    assert [m.role for m in stored.conversation_messages] == ["user", "assistant", "user"]
    assert all("idle time" not in m.content for m in stored.conversation_messages)
    assert stored.step_count == 3


async def test_a_stream_overloaded_before_its_text_is_retried_and_stored(
    service: tuple[SessionService, InMemoryStorage], stub: AnthropicStub
) -> None:
    sessions, storage = service
    stub.script(wire.text("Only remote staff?"), wire.json_output(DESCRIPTION))
    session_id = (await sessions.start_chat(ALICE, VPN)).session.id
    stub.script(
        wire.stream([], error_type="overloaded_error"), wire.stream(["Check ", "the timeout."])
    )

    events = [e async for e in sessions.stream_message(ALICE, session_id, "Yes, only from home")]

    assert events[:-1] == [TextDelta("Check "), TextDelta("the timeout.")]
    assert isinstance(events[-1], ChatTurn)
    stored = storage.committed(session_id)
    assert stored.conversation_messages[-1].content == "Check the timeout."
    assert stored.step_count == 4


async def test_a_guided_session_started_during_an_overload_gets_its_step_on_request(
    service: tuple[SessionService, InMemoryStorage], stub: AnthropicStub
) -> None:
    sessions, storage = service
    stub.script(wire.overloaded(), wire.overloaded(), wire.overloaded())
    with pytest.raises(LLMUnavailable) as failed:
        await sessions.start_guided(ALICE, IntakeType.FREE_TEXT, {"text": VPN})
    session_id = failed.value.session_id
    assert session_id is not None
    stored = storage.committed(session_id)
    assert (stored.steps, stored.intake_text) == ([], VPN)
    stub.reset()

    stub.script(wire.json_output(STEP, tokens=wire.usage(700, 90)), wire.json_output(DESCRIPTION))
    session = await sessions.request_next_step(ALICE, session_id)

    assert [r.prompt for r in stub.requests] == ["guided", "describe"]
    (step,) = session.steps
    assert (step.kind, step.confidence, step.usage) == (
        StepKind.QUESTION,
        0.35,
        TokenUsage(700, 90),
    )
    assert session.confidence_tier == "discovery"
    assert session.problem_summary == DESCRIPTION["summary"]
    assert session.system_prompt_snapshot == stub.requests[0].system[0]["text"]


async def test_a_guided_answer_with_a_step_unusable_twice_keeps_the_answer(
    service: tuple[SessionService, InMemoryStorage], stub: AnthropicStub
) -> None:
    sessions, storage = service
    stub.script(wire.json_output(STEP), wire.json_output(DESCRIPTION))
    session = await sessions.start_guided(ALICE, IntakeType.FREE_TEXT, {"text": VPN})
    stub.script(wire.text("{}"), wire.text("{}"))

    with pytest.raises(LLMResponseInvalid) as failed:
        await sessions.answer_step(ALICE, session.id, "Only from home")

    assert failed.value.session_id == session.id
    (step,) = storage.committed(session.id).steps
    assert step.response == "Only from home"


async def test_a_status_update_is_shared_through_the_service(
    service: tuple[SessionService, InMemoryStorage], stub: AnthropicStub
) -> None:
    sessions, storage = service
    stub.script(wire.text("Only remote staff?"), wire.json_output(DESCRIPTION))
    session_id = (await sessions.start_chat(ALICE, VPN)).session.id
    stub.script(wire.json_output({"subject": "VPN: in progress", "body": "Hello, we are on it."}))

    draft = await sessions.share_status_update(
        ALICE, session_id, Audience.EMAIL, UpdateLength.QUICK
    )

    assert (draft.subject, draft.body) == ("VPN: in progress", "Hello, we are on it.")
    shared = [e for e in storage.outbox if e.name == "session.status_update_shared"]
    assert len(shared) == 1
