"""The guided strategy's values: steps, the step the AI proposes, confidence and its tier."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from resolutionflow_core.errors import InvalidInput
from resolutionflow_core.usage import TokenUsage

DISCOVERY_BELOW = 0.4
"""Below this confidence the AI is still discovering the problem."""

GUIDED_FROM = 0.8
"""From this confidence on the AI guides the engineer to a fix."""


class StepKind(StrEnum):
    QUESTION = "question"
    ACTION = "action"
    RESOLUTION_SUGGESTION = "resolution_suggestion"
    FORK = "fork"


class ConfidenceTier(StrEnum):
    DISCOVERY = "discovery"
    EXPLORING = "exploring"
    GUIDED = "guided"


def tier_for(score: float) -> ConfidenceTier:
    """The tier of a confidence score: discovery < 0.4 ≤ exploring < 0.8 ≤ guided."""
    if score < DISCOVERY_BELOW:
        return ConfidenceTier.DISCOVERY
    if score < GUIDED_FROM:
        return ConfidenceTier.EXPLORING
    return ConfidenceTier.GUIDED


MAX_STEP_CHARS = 8_000
MAX_OPTIONS = 12


@dataclass(frozen=True, slots=True)
class StepOption:
    """A choice offered with a step (a fork's branches, a question's likely answers)."""

    label: str
    description: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "label", _text("options.label", self.label, 200))
        if self.description is not None:
            description = self.description.strip() or None
            if description is not None:
                description = _text("options.description", description, 2_000)
            object.__setattr__(self, "description", description)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposedStep:
    """The next step as the LLM proposes it, checked before it reaches the aggregate.

    Invalid values raise `InvalidInput` (also a `ValueError`, so validators such as
    pydantic's report it as a validation error).
    """

    kind: StepKind
    content: str
    options: tuple[StepOption, ...] = ()
    reasoning: str | None = None
    confidence: float
    matched_flow_id: str | None = None
    match_score: float | None = None

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", StepKind(self.kind))
        except ValueError:
            raise InvalidInput("kind", f"must be one of {[k.value for k in StepKind]}") from None
        object.__setattr__(self, "content", _text("content", self.content, MAX_STEP_CHARS))
        if self.reasoning is not None:
            object.__setattr__(
                self, "reasoning", _text("reasoning", self.reasoning, MAX_STEP_CHARS, blank=True)
            )
        object.__setattr__(self, "options", tuple(self.options))
        if len(self.options) > MAX_OPTIONS:
            raise InvalidInput("options", f"at most {MAX_OPTIONS} options, got {len(self.options)}")
        object.__setattr__(self, "confidence", _fraction("confidence", self.confidence))
        if self.match_score is not None:
            object.__setattr__(self, "match_score", _fraction("match_score", self.match_score))


def _text(field: str, value: str, limit: int, *, blank: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidInput(field, "must be text")
    text = value.replace("\x00", "").strip()  # written by the LLM: drop, never refuse
    if not text and not blank:
        raise InvalidInput(field, "must not be blank")
    if len(text) > limit:
        raise InvalidInput(field, f"is {len(text)} characters long, the limit is {limit}")
    return text


def _fraction(field: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise InvalidInput(field, f"must be a number from 0 to 1, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class GuidedStep:
    """One step of a guided session (``ai_session_steps``)."""

    number: int
    kind: StepKind
    content: str
    options: tuple[StepOption, ...]
    reasoning: str | None
    confidence: float
    created_at: datetime
    response: str | None = None
    responded_at: datetime | None = None
    usage: TokenUsage | None = None

    @property
    def is_pending(self) -> bool:
        return self.response is None
