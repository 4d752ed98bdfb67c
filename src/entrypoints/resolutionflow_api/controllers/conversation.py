"""Working a session: chat messages (also streamed) and answers to guided steps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

import msgspec
from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody
from litestar.response import Response, ServerSentEvent

from resolutionflow_api.controllers.sessions import SessionId, next_or_pending_step
from resolutionflow_api.idempotency import IdempotencyGate, IdempotencyKey, IdempotentRequest
from resolutionflow_api.problems import problems
from resolutionflow_api.requests import ChatMessage, StepResponse
from resolutionflow_api.responses import (
    ChatTurnRead,
    GuidedTurnRead,
    chat_turn_read,
    guided_turn_read,
)
from resolutionflow_api.streaming import ReplyStreams
from resolutionflow_core.access import Actor
from resolutionflow_core.chat import MessageRole
from resolutionflow_core.errors import NothingToAnswer
from resolutionflow_core.services import ChatTurn, SessionService

_TURN_ERRORS = problems(403, 404, 409, 413, 422, 502, 503)


class ChatStreamEvent(msgspec.Struct, kw_only=True):
    """One server-sent event of a streamed reply (before OpenAPI 3.2, the schema of a
    `text/event-stream` response describes each event, not the stream as one string)."""

    event: Literal["delta", "message", "error"]
    data: str
    """One line of JSON: `{"text": …}` (delta), a `ChatTurnRead` (message), problem
    details (error)."""


@dataclass(frozen=True, slots=True)
class TurnContext:
    """What a turn's handler works with, as one dependency (``turn``): Litestar resolves two
    or more dependencies of one depth in an anyio task group, ~0.1–0.2 ms of CPU a request
    (litestar-org/litestar#4563), against ~5 µs for this one provider."""

    actor: Actor
    sessions: SessionService
    idempotency: IdempotencyGate


class ConversationController(Controller):
    path = "/ai-sessions/{session_id:uuid}"
    tags = ("Conversation",)

    @post(
        "/chat",
        status_code=200,
        summary="Send a chat message",
        description="Chat sessions only. The message is stored before the assistant is "
        "asked, so a 503 loses nothing: retry with the same `Idempotency-Key` (the turn is "
        "completed, the message not sent twice) or ask for the reply again (`/chat/retry`).",
        responses=_TURN_ERRORS,
    )
    async def chat(
        self,
        request: Request[Actor, None, Any],
        session_id: SessionId,
        data: JSONBody[ChatMessage],
        turn: NamedDependency[TurnContext],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[ChatTurnRead]:
        actor, sessions, idempotency = turn.actor, turn.sessions, turn.idempotency

        async def run() -> ChatTurnRead:
            return chat_turn_read(await sessions.send_message(actor, session_id, data.content))

        async def finish(saved_in: UUID) -> ChatTurnRead:
            return chat_turn_read(await answered_turn(sessions, actor, saved_in, data.content))

        return await idempotency.respond(
            actor,
            idempotency_key,
            IdempotentRequest(
                "POST /ai-sessions/{session_id}/chat", request.url.path, data, 200, run, finish
            ),
        )

    @post(
        "/chat/stream",
        status_code=200,
        summary="Send a chat message, the reply streamed (server-sent events)",
        description='Events: `delta` (`{"text": …}`, in order), then `message` (the stored '
        "turn, as `/chat` returns it) or `error` (problem details). Refusals before the "
        "stream starts are ordinary problem responses. If the client goes away, the reply "
        "is still completed and stored.",
        responses={
            **_TURN_ERRORS,
            200: ResponseSpec(
                data_container=ChatStreamEvent,
                media_type="text/event-stream",
                description="`event: delta` … then `event: message` (a `ChatTurnRead`) or "
                "`event: error` (problem details); each `data:` is one line of JSON.",
                generate_examples=False,
            ),
        },
    )
    async def chat_stream(
        self,
        request: Request[Actor, None, Any],
        session_id: SessionId,
        data: JSONBody[ChatMessage],
        actor: NamedDependency[Actor],
        sessions: NamedDependency[SessionService],
        streams: NamedDependency[ReplyStreams],
    ) -> ServerSentEvent:
        events = sessions.stream_message(actor, session_id, data.content)
        return await streams.open(events, instance=request.url.path)

    @post(
        "/chat/retry",
        status_code=200,
        summary="Ask the assistant again for the reply to the last message",
        description="After a 502/503: the last message is the engineer's, still unanswered.",
        responses=problems(403, 404, 409, 502, 503),
    )
    async def chat_retry(
        self,
        session_id: SessionId,
        actor: NamedDependency[Actor],
        sessions: NamedDependency[SessionService],
    ) -> ChatTurnRead:
        return chat_turn_read(await sessions.answer_again(actor, session_id))

    @post(
        "/respond",
        status_code=200,
        summary="Answer the pending guided step",
        description="Guided sessions only. The answer is stored, then the AI proposes the "
        "next step with a new confidence.",
        responses=_TURN_ERRORS,
    )
    async def respond(
        self,
        request: Request[Actor, None, Any],
        session_id: SessionId,
        data: JSONBody[StepResponse],
        turn: NamedDependency[TurnContext],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[GuidedTurnRead]:
        actor, sessions, idempotency = turn.actor, turn.sessions, turn.idempotency

        async def run() -> GuidedTurnRead:
            return guided_turn_read(await sessions.answer_step(actor, session_id, data.response))

        async def finish(saved_in: UUID) -> GuidedTurnRead:
            return guided_turn_read(await next_or_pending_step(sessions, actor, saved_in))

        return await idempotency.respond(
            actor,
            idempotency_key,
            IdempotentRequest(
                "POST /ai-sessions/{session_id}/respond", request.url.path, data, 200, run, finish
            ),
        )

    @post(
        "/next-step",
        status_code=200,
        summary="Ask the AI for the next guided step",
        description="After a 502/503 on `/respond` or on creation: proposes the step that is "
        "missing. 409 `step_already_pending` while a step waits for its answer.",
        responses=problems(403, 404, 409, 502, 503),
    )
    async def next_step(
        self,
        session_id: SessionId,
        actor: NamedDependency[Actor],
        sessions: NamedDependency[SessionService],
    ) -> GuidedTurnRead:
        return guided_turn_read(await sessions.request_next_step(actor, session_id))


async def answered_turn(
    sessions: SessionService, actor: Actor, session_id: UUID, content: str
) -> ChatTurn:
    """Finishing a replayed chat request: the reply asked for again, or, when the message
    already has one, that turn as stored, not a 409 ``nothing_to_answer`` the client would
    retry forever. It has one when the failed request's assistant call still completed
    (a request deadline answers 503 while the reply is stored), or another retry raced it."""
    try:
        return await sessions.answer_again(actor, session_id)
    except NothingToAnswer:
        session = await sessions.get(actor, session_id)
        history = list(session.conversation_messages)
        for index in range(len(history) - 1, 0, -1):
            message, reply = history[index - 1], history[index]
            if (
                message.role is MessageRole.USER
                and reply.role is MessageRole.ASSISTANT
                and message.content.strip() == content.strip()
            ):
                return ChatTurn(session, message, reply)
        raise
