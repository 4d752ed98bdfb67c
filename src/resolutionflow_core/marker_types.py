"""The items an assistant reply may carry: questions, actions, forks, and the reply split
into its text and these. A leaf module: the parser (`markers`) and its lenient JSON shapes
(`_marker_shapes`) both build on it, neither on the other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Question:
    """A question the assistant asks the engineer."""

    text: str
    why: str | None = None


@dataclass(frozen=True, slots=True)
class Action:
    """A step the assistant suggests; `risk` is kept as the model gave it ("low", "high"...)."""

    title: str
    detail: str | None = None
    command: str | None = None
    risk: str | None = None


@dataclass(frozen=True, slots=True)
class ForkOption:
    """One way forward at a fork."""

    label: str
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Fork:
    """A choice between ways forward; `question` may be empty."""

    question: str
    options: tuple[ForkOption, ...]


@dataclass(frozen=True, slots=True)
class ParsedReply:
    """A reply split into the text to show and the structure it carried."""

    text: str
    questions: tuple[Question, ...] = ()
    actions: tuple[Action, ...] = ()
    forks: tuple[Fork, ...] = ()

    @property
    def has_structure(self) -> bool:
        return bool(self.questions or self.actions or self.forks)
