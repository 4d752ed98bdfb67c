"""The guided strategy's values: steps, the step the AI proposes, confidence and its tier."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

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


class StepOption(BaseModel):
    """A choice offered with a step (a fork's branches, a question's likely answers)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    label: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2_000)


class ProposedStep(BaseModel):
    """The next step as the LLM proposes it: validated before it reaches the aggregate."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    kind: StepKind
    content: str = Field(min_length=1, max_length=8_000)
    options: tuple[StepOption, ...] = ()
    reasoning: str | None = Field(default=None, max_length=8_000)
    confidence: float = Field(ge=0.0, le=1.0)
    matched_flow_id: str | None = None
    match_score: float | None = Field(default=None, ge=0.0, le=1.0)

    @field_validator("content")
    @classmethod
    def _content_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


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
