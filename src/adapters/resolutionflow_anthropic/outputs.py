"""The structured answers: their JSON schemas, and their validation into domain values.

The schemas keep to what Anthropic's structured outputs accept (objects closed with
``additionalProperties: false``, no numeric or length bounds); the bounds are the domain's
(`ProposedStep`, `SessionDescription`, `StatusUpdateDraft` refuse bad values), checked here.
An answer that fails them raises `ValueError`: the adapter asks once more, then gives up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from resolutionflow_core.chat import TITLE_MAX_CHARS, make_title
from resolutionflow_core.guided import MAX_OPTIONS, ProposedStep, StepKind, StepOption
from resolutionflow_core.ports import SessionDescription
from resolutionflow_core.session import ProblemDomain
from resolutionflow_core.updates import Audience, StatusUpdateDraft, UpdateLength

T = TypeVar("T")

SUMMARY_CHARS: Final = 600
"""A problem summary longer than this is cut (at a word) rather than refused."""


@dataclass(frozen=True, slots=True)
class Output(Generic[T]):
    """One kind of structured answer."""

    name: str
    """The tool's name when asked for as a forced tool call."""
    description: str
    schema: dict[str, Any]
    parse: Callable[[object], T]
    """The domain value of the answer's JSON; `ValueError` if it is unusable."""


# -- the next guided step ---------------------------------------------------------------

_OPTION_SCHEMA: Final = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "description": "A few words, shown on a button."},
        "description": {"type": "string", "description": "One sentence, optional."},
    },
    "required": ["label"],
    "additionalProperties": False,
}

STEP_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "kind": {"type": "string", "enum": [kind.value for kind in StepKind]},
        "content": {
            "type": "string",
            "description": "What the engineer reads: the question, the action with its "
            "commands, the branches of the fork, or the fix.",
        },
        "options": {
            "type": "array",
            "items": _OPTION_SCHEMA,
            "description": f"A fork's branches or a question's likely answers, at most "
            f"{MAX_OPTIONS}; empty when there are none.",
        },
        "reasoning": {
            "type": "string",
            "description": "Why this step, in one or two sentences (for the audit trail).",
        },
        "confidence": {
            "type": "number",
            "description": "From 0 to 1: how sure you are of the cause and its fix.",
        },
        "matched_flow_id": {
            "type": "string",
            "description": "Only if the conversation names the flow (playbook) this step follows.",
        },
        "match_score": {
            "type": "number",
            "description": "From 0 to 1, only with matched_flow_id.",
        },
    },
    "required": ["kind", "content", "options", "reasoning", "confidence"],
    "additionalProperties": False,
}


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _OptionAnswer(_Lenient):
    label: str
    description: str | None = None


class _StepAnswer(_Lenient):
    kind: StepKind
    content: str
    options: list[_OptionAnswer] = []
    reasoning: str | None = None
    confidence: float
    matched_flow_id: str | None = None
    match_score: float | None = None


def _step(data: object) -> ProposedStep:
    answer = _StepAnswer.model_validate(data)
    flow = (answer.matched_flow_id or "").strip() or None
    return ProposedStep(
        kind=answer.kind,
        content=answer.content,
        options=tuple(StepOption(o.label, o.description) for o in answer.options),
        reasoning=answer.reasoning,
        confidence=answer.confidence,
        matched_flow_id=flow,
        match_score=answer.match_score if flow is not None else None,
    )


NEXT_STEP: Final = Output(
    name="propose_next_step",
    description="Propose the next step of the guided troubleshooting session.",
    schema=STEP_SCHEMA,
    parse=_step,
)


# -- summary, domain and title ----------------------------------------------------------

DESCRIPTION_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "summary": {"type": "string", "description": "One to three sentences on the problem."},
        "domain": {"type": "string", "enum": [domain.value for domain in ProblemDomain]},
        "title": {
            "type": "string",
            "description": f"At most {TITLE_MAX_CHARS} characters, for the session list.",
        },
    },
    "required": ["summary", "domain", "title"],
    "additionalProperties": False,
}


class _DescriptionAnswer(_Lenient):
    summary: str
    domain: ProblemDomain
    title: str | None = None


def _description(data: object) -> SessionDescription:
    answer = _DescriptionAnswer.model_validate(data)
    summary = " ".join(answer.summary.split())
    if len(summary) > SUMMARY_CHARS:
        summary = make_title(summary, SUMMARY_CHARS)
    title = make_title(answer.title) if answer.title and answer.title.strip() else None
    return SessionDescription(summary=summary, domain=answer.domain, title=title)


DESCRIPTION: Final = Output(
    name="describe_session",
    description="Record the session's problem summary, domain and title.",
    schema=DESCRIPTION_SCHEMA,
    parse=_description,
)


# -- status updates ---------------------------------------------------------------------


class _UpdateAnswer(_Lenient):
    body: str
    subject: str | None = None


def status_update(audience: Audience, length: UpdateLength) -> Output[StatusUpdateDraft]:
    """The update for ``audience`` at ``length``; an email has a subject line."""
    properties: dict[str, Any] = {
        "body": {"type": "string", "description": "The update, ready to send or post."}
    }
    required = ["body"]
    if audience is Audience.EMAIL:
        subject = {"type": "string", "description": "The subject line."}
        properties = {"subject": subject, **properties}
        required = ["subject", "body"]

    def parse(data: object) -> StatusUpdateDraft:
        answer = _UpdateAnswer.model_validate(data)
        subject = " ".join((answer.subject or "").split()) or None
        if audience is Audience.EMAIL and subject is None:
            raise ValueError("subject: an email needs a subject line")
        return StatusUpdateDraft(
            audience=audience,
            length=length,
            body=answer.body.strip(),
            subject=subject if audience is Audience.EMAIL else None,
        )

    return Output(
        name="draft_status_update",
        description=f"Draft the {length} status update for the {audience} audience.",
        schema={
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        },
        parse=parse,
    )
