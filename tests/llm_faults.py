"""A test double of the LLM port: the offline LLM (or any other), failing on demand.

The shipped `OfflineLLM` carries no fault injection; tests that need an LLM failure wrap it:
``FaultyLLM(OfflineLLM())``, then ``fail_next_calls(...)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from resolutionflow_core.errors import LLMError, LLMUnavailable
from resolutionflow_core.ports import (
    LLM,
    AssistantReply,
    ReplyEvent,
    SessionDescription,
    StepProposal,
    TextDelta,
)
from resolutionflow_core.session import Session, SessionType
from resolutionflow_core.updates import Audience, StatusUpdateDraft, UpdateLength
from resolutionflow_memory import OfflineLLM

INJECTED: str = "offline assistant: injected failure"
"""The message of the default injected error."""


@dataclass(slots=True)
class _Failures:
    remaining: int = 0
    error: LLMError | None = None
    after_deltas: int = 0


class FaultyLLM:
    """The wrapped LLM (offline by default), whose next calls can be made to fail.

    Records the port methods called, in order (`calls`).
    """

    def __init__(self, llm: LLM | None = None) -> None:
        self.inner: LLM = llm if llm is not None else OfflineLLM()
        self._failures = _Failures()
        self._calls: list[str] = []

    @property
    def calls(self) -> tuple[str, ...]:
        """The port methods called so far, in order (``"chat_reply"``, ``"next_step"``...)."""
        return tuple(self._calls)

    def fail_next_calls(
        self, count: int, error: LLMError | None = None, *, after_deltas: int = 0
    ) -> None:
        """Make the next ``count`` calls raise ``error`` (`LLMUnavailable` by default).

        Every async port method counts as a call; a failing stream first yields
        ``after_deltas`` deltas (at most all of them, never the `ReplyCompleted`).
        """
        self._failures = _Failures(
            remaining=count, error=error or LLMUnavailable(INJECTED), after_deltas=after_deltas
        )

    # -- the port -------------------------------------------------------------------------

    def system_prompt(self, session_type: SessionType) -> str:
        return self.inner.system_prompt(session_type)

    async def chat_reply(self, session: Session) -> AssistantReply:
        self._begin("chat_reply")
        return await self.inner.chat_reply(session)

    async def stream_chat_reply(self, session: Session) -> AsyncIterator[ReplyEvent]:
        failure = self._take_failure("stream_chat_reply")
        fail_after = self._failures.after_deltas
        deltas = 0
        async for event in self.inner.stream_chat_reply(session):
            if failure is not None and (not isinstance(event, TextDelta) or deltas >= fail_after):
                raise failure
            deltas += isinstance(event, TextDelta)
            yield event
        if failure is not None:
            raise failure

    async def next_step(self, session: Session) -> StepProposal:
        self._begin("next_step")
        return await self.inner.next_step(session)

    async def describe(self, session: Session) -> SessionDescription:
        self._begin("describe")
        return await self.inner.describe(session)

    async def draft_status_update(
        self, session: Session, audience: Audience, length: UpdateLength
    ) -> StatusUpdateDraft:
        self._begin("draft_status_update")
        return await self.inner.draft_status_update(session, audience, length)

    # -- internals ------------------------------------------------------------------------

    def _begin(self, method: str) -> None:
        failure = self._take_failure(method)
        if failure is not None:
            raise failure

    def _take_failure(self, method: str) -> LLMError | None:
        self._calls.append(method)
        if self._failures.remaining <= 0 or self._failures.error is None:
            return None
        self._failures.remaining -= 1
        return self._failures.error.with_traceback(None)  # each raise: a fresh traceback
