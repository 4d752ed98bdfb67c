"""Request bodies. Unknown fields are refused (422), so a misspelt field never passes silently.

Texts are checked by the domain (blank, too long: 422 / 413 naming the field); the schema
checks shapes and types, and refuses NUL characters anywhere (PostgreSQL cannot store them).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import msgspec

from resolutionflow_core.session import IntakeType
from resolutionflow_core.updates import Audience, UpdateLength


class Body(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A request body (subclasses inherit the configuration)."""

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            refuse_nul(name, getattr(self, name))


def refuse_nul(path: str, value: object) -> None:
    """ValueError (a 422 naming the field) if a text anywhere in ``value`` holds U+0000."""
    found = next(nul_paths(path, value), None)
    if found is not None:
        raise ValueError(f"Field `{found}` must not contain NUL characters (\\u0000)")


def nul_paths(path: str, value: object) -> Iterator[str]:
    """Where in ``value`` (at ``path``) a text holds U+0000, keys included, in order: the
    path as the API names fields (``a.b``, ``a[0]``), a NUL in it shown as ``\\u0000``."""
    if isinstance(value, str):
        if "\x00" in value:
            yield path.replace("\x00", "\\u0000")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from nul_paths(f"{path}.{key}", key)
            yield from nul_paths(f"{path}.{key}", item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from nul_paths(f"{path}[{index}]", item)


MessageText = Annotated[
    str,
    msgspec.Meta(description="At most 32,000 characters; longer is refused with 413."),
]
SummaryText = Annotated[str, msgspec.Meta(description="At most 8,000 characters.")]


class CreateChatSession(Body, tag="chat", tag_field="session_type"):
    """A chat session: the first message is answered at once and titles the session."""

    message: MessageText
    """The engineer's first message."""


class CreateGuidedSession(Body, tag="guided", tag_field="session_type"):
    """A guided session: the intake is stored and the AI proposes the first step."""

    intake_content: Annotated[
        dict[str, Any],
        msgspec.Meta(
            description='A JSON object, e.g. {"text": "Outlook keeps asking for a password"}; '
            "`text` is required for free_text and log_paste, `ticket_id` for psa_ticket.",
            examples=[{"text": "Outlook keeps asking for the password since this morning"}],
        ),
    ]
    intake_type: IntakeType = IntakeType.FREE_TEXT


CreateSession = CreateChatSession | CreateGuidedSession


class ChatMessage(Body):
    content: MessageText


class StepResponse(Body):
    response: Annotated[str, msgspec.Meta(description="The answer to the pending step.")]


class Resolve(Body):
    resolution_summary: SummaryText
    root_cause: SummaryText | None = None


class Escalate(Body):
    escalation_reason: SummaryText


class Abandon(Body):
    reason: SummaryText | None = None


class StatusUpdateRequest(Body):
    audience: Audience
    """``ticket_note`` (technical), ``client`` (plain language) or ``email``."""
    length: UpdateLength = UpdateLength.QUICK


class LinkTicket(Body):
    ticket_id: Annotated[str, msgspec.Meta(max_length=100, description="The PSA's ticket id.")]


class LegacyCreateChat(Body):
    """Legacy: a chat starts with the engineer's first message."""

    message: MessageText


class LegacySendMessage(Body):
    content: MessageText
