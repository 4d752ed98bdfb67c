"""`AnthropicLLM`: the LLM port on Claude, through the official anthropic SDK.

- Chat replies are text carrying the assistant markers; streamed, the text deltas come first
  and `ReplyCompleted` last. An error inside a stream (an ``error`` event after HTTP 200, a
  dropped connection) is retried once if no text was yielded yet; after text it raises, so
  the service stores nothing of the half reply.
- Guided steps, descriptions and status updates are structured answers: JSON outputs
  (``output_config.format``) by default, or a forced tool call (``tool_choice``) for models
  that take one. An answer the domain refuses is sent back once with the reason; a second
  refusal raises `LLMResponseInvalid`.
- Rate limits, overload, server and connection errors are retried by the SDK (backoff,
  honouring ``retry-after``); see `resolutionflow_anthropic.errors` for what each failure
  becomes.
- The system prompt is one cached block (``cache_control``), as is the last tool and the
  conversation so far.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any, Final, TypeVar

import anthropic
import httpx2
import pydantic
from anthropic.types import (
    Message,
    MessageParam,
    OutputConfigParam,
    TextBlockParam,
    ToolChoiceParam,
    ToolParam,
)

from resolutionflow_anthropic.conversation import (
    chat_messages,
    guided_messages,
    transcript,
    user_message,
)
from resolutionflow_anthropic.errors import (
    RetryWaitLimit,
    RetryWaitTooLong,
    StreamInterrupted,
    port_error,
)
from resolutionflow_anthropic.outputs import DESCRIPTION, NEXT_STEP, Output, status_update
from resolutionflow_anthropic.settings import AnthropicSettings
from resolutionflow_anthropic.system_prompts import PromptName, SystemPrompt, load_prompt
from resolutionflow_core.chat import MAX_REPLY_CHARS
from resolutionflow_core.errors import InvalidInput, LLMResponseInvalid, LLMUnavailable
from resolutionflow_core.ports import (
    AssistantReply,
    ReplyCompleted,
    ReplyEvent,
    SessionDescription,
    StepProposal,
    TextDelta,
)
from resolutionflow_core.session import Session, SessionType
from resolutionflow_core.updates import Audience, StatusUpdateDraft, UpdateLength
from resolutionflow_core.usage import TokenUsage

T = TypeVar("T")

STRUCTURED_ATTEMPTS: Final = 2
"""A structured answer the domain refuses is asked for once more."""

STREAM_ATTEMPTS: Final = 2
"""A stream that fails before its first text is tried once more."""

DESCRIBE_FROM: Final = 6
"""How many first messages or steps a description is made from."""

CUT_SHORT_NOTE: Final = "\n\n[Reply cut short: it reached the length limit.]"

_CUT_SHORT: Final = frozenset({"max_tokens", "model_context_window_exceeded"})

# What a request may fail with below the port: the SDK's errors, the connection under it
# (which the SDK does not wrap once a stream has started), and the adapter's own.
_FAILURES: Final = (anthropic.AnthropicError, httpx2.TransportError, RetryWaitTooLong)


class AnthropicLLM:
    """The `LLM` port on Claude.

    ``client`` supplies the connection (API key, base URL, HTTP client); ``settings`` the
    model, the limits and the retry policy, applied to a copy of the client.
    """

    def __init__(self, client: anthropic.AsyncAnthropic, settings: AnthropicSettings) -> None:
        self._settings = settings
        self._client = client.with_options(
            timeout=settings.timeout,
            max_retries=settings.max_retries,
            middleware=[*client.middleware, RetryWaitLimit(settings.max_retry_wait)],
        )
        self._prompts = {name: load_prompt(name) for name in PromptName}

    @classmethod
    def from_settings(cls, settings: AnthropicSettings) -> AnthropicLLM:
        """The adapter with a client of its own, built from ``settings``."""
        client = anthropic.AsyncAnthropic(api_key=settings.api_key, base_url=settings.base_url)
        return cls(client, settings)

    @property
    def settings(self) -> AnthropicSettings:
        return self._settings

    def prompt(self, name: PromptName) -> SystemPrompt:
        """One of the system prompts, with its version."""
        return self._prompts[name]

    async def aclose(self) -> None:
        """Close the client's connections."""
        await self._client.close()

    # -- the port -------------------------------------------------------------------------

    def system_prompt(self, session_type: SessionType) -> str:
        name = PromptName.GUIDED if session_type is SessionType.GUIDED else PromptName.CHAT
        return self._prompts[name].text

    async def chat_reply(self, session: Session) -> AssistantReply:
        messages = chat_messages(session)
        message = await self._create(PromptName.CHAT, messages)
        text = _finished_text(_text_of(message), message.stop_reason)
        return AssistantReply(text=text, model=message.model, usage=usage_of(message))

    async def stream_chat_reply(self, session: Session) -> AsyncIterator[ReplyEvent]:
        messages = chat_messages(session)
        _, _, output_config = self._output_options(None)
        for attempt in range(1, STREAM_ATTEMPTS + 1):
            pieces: list[str] = []
            started = False
            try:
                async with self._client.messages.stream(
                    model=self._settings.model,
                    max_tokens=self._settings.max_tokens,
                    system=self._system(PromptName.CHAT),
                    messages=messages,
                    output_config=output_config,
                ) as stream:
                    started = True
                    async for event in stream:
                        if event.type == "text" and event.text:
                            pieces.append(event.text)
                            yield TextDelta(event.text)
                    message = await stream.get_final_message()
                if message.stop_reason is None:
                    raise StreamInterrupted()
            except (*_FAILURES, StreamInterrupted) as failure:
                error = port_error(failure)
                # Only an interruption inside the stream: the SDK already retried the request.
                if (
                    started
                    and not pieces
                    and attempt < STREAM_ATTEMPTS
                    and isinstance(error, LLMUnavailable)
                ):
                    await asyncio.sleep(self._settings.stream_retry_delay)
                    continue
                raise error from failure
            except ValueError as failure:  # an event the SDK could not read
                unreadable = LLMResponseInvalid(f"the reply stream could not be read: {failure}")
                raise unreadable from failure
            streamed = "".join(pieces)
            text = _finished_text(streamed, message.stop_reason)
            if len(text) > len(streamed):
                yield TextDelta(text[len(streamed) :])
            reply = AssistantReply(text=text, model=message.model, usage=usage_of(message))
            yield ReplyCompleted(reply)
            return

    async def next_step(self, session: Session) -> StepProposal:
        messages = guided_messages(session)
        step, usage = await self._structured(PromptName.GUIDED, messages, NEXT_STEP)
        return StepProposal(step, usage)

    async def describe(self, session: Session) -> SessionDescription:
        request = "Describe this session.\n\n" + transcript(session, first=DESCRIBE_FROM)
        description, _ = await self._structured(
            PromptName.DESCRIBE, [user_message(request)], DESCRIPTION
        )
        return description

    async def draft_status_update(
        self, session: Session, audience: Audience, length: UpdateLength
    ) -> StatusUpdateDraft:
        request = (
            f"Audience: {audience}\nLength: {length}\n\n"
            f"Draft the update on this session:\n\n{transcript(session, recent=30)}"
        )
        draft, _ = await self._structured(
            PromptName.STATUS_UPDATE, [user_message(request)], status_update(audience, length)
        )
        return draft

    # -- requests -------------------------------------------------------------------------

    async def _create(
        self,
        prompt: PromptName,
        messages: Sequence[MessageParam],
        output: Output[Any] | None = None,
    ) -> Message:
        tools, tool_choice, output_config = self._output_options(output)
        try:
            return await self._client.messages.create(
                model=self._settings.model,
                max_tokens=self._settings.max_tokens,
                system=self._system(prompt),
                messages=messages,
                tools=tools,
                tool_choice=tool_choice,
                output_config=output_config,
            )
        except _FAILURES as failure:
            raise port_error(failure) from failure

    async def _structured(
        self, prompt: PromptName, messages: Sequence[MessageParam], output: Output[T]
    ) -> tuple[T, TokenUsage]:
        """The answer ``output`` asks for; refused once, it is asked for again with the reason.

        The usage returned adds up every attempt.
        """
        usage = TokenUsage()
        request = list(messages)
        for attempt in range(1, STRUCTURED_ATTEMPTS + 1):
            message = await self._create(prompt, request, output)
            usage = usage + usage_of(message)
            if message.stop_reason == "refusal":
                raise LLMResponseInvalid(f"Claude declined to answer ({output.name})")
            try:
                return output.parse(self._answer_of(message, output)), usage
            except ValueError as error:
                problem = _problem(error, message.stop_reason)
                if attempt == STRUCTURED_ATTEMPTS:
                    raise LLMResponseInvalid(
                        f"Claude's answer ({output.name}) was unusable {attempt} times; "
                        f"the last: {problem}"
                    ) from error
                request = [*messages, *self._correction(message, output, problem)]
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _output_options(
        self, output: Output[Any] | None
    ) -> tuple[
        list[ToolParam] | anthropic.Omit,
        ToolChoiceParam | anthropic.Omit,
        OutputConfigParam | anthropic.Omit,
    ]:
        """``tools``, ``tool_choice`` and ``output_config`` asking for ``output``."""
        config: OutputConfigParam = {}
        if self._settings.effort is not None:
            config["effort"] = self._settings.effort
        if output is None:
            return anthropic.omit, anthropic.omit, config or anthropic.omit
        if self._settings.structured_output == "tool":
            tool: ToolParam = {
                "name": output.name,
                "description": output.description,
                "input_schema": output.schema,
                "cache_control": {"type": "ephemeral"},
            }
            choice: ToolChoiceParam = {"type": "tool", "name": output.name}
            return [tool], choice, config or anthropic.omit
        config["format"] = {"type": "json_schema", "schema": output.schema}
        return anthropic.omit, anthropic.omit, config

    def _system(self, prompt: PromptName) -> list[TextBlockParam]:
        return [
            {
                "type": "text",
                "text": self._prompts[prompt].text,
                "cache_control": {"type": "ephemeral"},
            }
        ]

    def _answer_of(self, message: Message, output: Output[Any]) -> object:
        """The answer's JSON value; `ValueError` if there is none."""
        if self._settings.structured_output == "tool":
            for block in message.content:
                if block.type == "tool_use" and block.name == output.name:
                    return block.input
            raise ValueError(f"the answer does not call {output.name}")
        text = _text_of(message).strip()
        if not text:
            raise ValueError("the answer is empty")
        return json.loads(text)

    def _correction(
        self, message: Message, output: Output[Any], problem: str
    ) -> list[MessageParam]:
        """The refused answer and the reason, to append for the second attempt."""
        if self._settings.structured_output == "tool":
            calls = [block for block in message.content if block.type == "tool_use"]
            if not calls:
                return []
            return [
                {
                    "role": "assistant",
                    "content": [
                        {"type": "tool_use", "id": c.id, "name": c.name, "input": c.input}
                        for c in calls
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": c.id,
                            "is_error": True,
                            "content": f"Not accepted: {problem}. Call {output.name} again, "
                            "corrected.",
                        }
                        for c in calls
                    ],
                },
            ]
        text = _text_of(message).strip()
        if not text:
            return []
        return [
            {"role": "assistant", "content": [{"type": "text", "text": text}]},
            user_message(f"That answer cannot be used: {problem}. Answer again, corrected."),
        ]


# -- helpers ----------------------------------------------------------------------------


def usage_of(message: Message) -> TokenUsage:
    """The tokens one answer used, the prompt cache's reads and writes included."""
    usage = message.usage
    return TokenUsage(
        input_tokens=usage.input_tokens or 0,
        output_tokens=usage.output_tokens or 0,
        cache_read_tokens=usage.cache_read_input_tokens or 0,
        cache_write_tokens=usage.cache_creation_input_tokens or 0,
    )


def _text_of(message: Message) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


def _finished_text(text: str, stop_reason: str | None) -> str:
    """The reply to store: refused, empty or oversized replies raise; a cut one says so."""
    if stop_reason == "refusal":
        raise LLMResponseInvalid("Claude declined to answer this message")
    if stop_reason in _CUT_SHORT and text.strip():
        text += CUT_SHORT_NOTE
    if not text.strip():
        raise LLMResponseInvalid("Claude's reply has no text")
    if len(text.strip()) > MAX_REPLY_CHARS:
        raise LLMResponseInvalid(
            f"Claude's reply is {len(text)} characters long, a session stores at most "
            f"{MAX_REPLY_CHARS}"
        )
    return text


def _problem(error: ValueError, stop_reason: str | None) -> str:
    """What was wrong with a structured answer, in a line the model can act on."""
    if isinstance(error, pydantic.ValidationError):
        problem = "; ".join(
            f"{'.'.join(str(part) for part in e['loc']) or 'answer'}: {e['msg']}"
            for e in error.errors()[:5]
        )
    elif isinstance(error, json.JSONDecodeError):
        problem = f"it is not valid JSON ({error.msg})"
    elif isinstance(error, InvalidInput):
        problem = error.message
    else:
        problem = str(error)
    if stop_reason in _CUT_SHORT:
        problem += " (the answer was cut at the length limit: keep it shorter)"
    return problem
