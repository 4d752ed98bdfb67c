"""The JSON shapes the assistant markers accept, lenient like a real model's output.

Private to `resolutionflow_core.markers`, which imports it on the first block it reads:
pydantic's validators are built then, not when `resolutionflow_core` is imported.
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, TypeAdapter

from resolutionflow_core.marker_types import Action, Fork, ForkOption, ParsedReply, Question


class _Lenient(BaseModel):
    # Strict types: a number where text is expected makes the shape unusable, not a string.
    model_config = ConfigDict(strict=True)


class _QuestionIn(_Lenient):
    text: str = Field(validation_alias=AliasChoices("text", "question"))
    why: str | None = Field(default=None, validation_alias=AliasChoices("why", "reason"))


class _QuestionsIn(_Lenient):
    questions: list[str | _QuestionIn]


class _ActionIn(_Lenient):
    title: str = Field(validation_alias=AliasChoices("title", "action", "label"))
    detail: str | None = Field(default=None, validation_alias=AliasChoices("detail", "description"))
    command: str | None = None
    risk: str | None = None


class _ActionsIn(_Lenient):
    actions: list[str | _ActionIn]


class _ForkOptionIn(_Lenient):
    label: str
    description: str | None = None


class _ForkIn(_Lenient):
    question: str = ""
    options: list[str | _ForkOptionIn]


class _ForksIn(_Lenient):
    forks: list[_ForkIn]


_QuestionsShape = list[str | _QuestionIn] | _QuestionsIn
_ActionsShape = list[str | _ActionIn] | _ActionsIn
_ForksShape = _ForkIn | _ForksIn | list[_ForkIn] | list[str | _ForkOptionIn]
_QUESTIONS: Final = TypeAdapter[_QuestionsShape](_QuestionsShape)
_ACTIONS: Final = TypeAdapter[_ActionsShape](_ActionsShape)
# Tried left to right: a list of fork objects before a bare list of options.
_FORKS: Final = TypeAdapter[_ForksShape](Annotated[_ForksShape, Field(union_mode="left_to_right")])


def _read_questions(data: object) -> ParsedReply:
    parsed = _QUESTIONS.validate_python(data)
    items = parsed.questions if isinstance(parsed, _QuestionsIn) else parsed
    questions = (_question(item) for item in items)
    return ParsedReply("", questions=tuple(q for q in questions if q.text))


def _read_actions(data: object) -> ParsedReply:
    parsed = _ACTIONS.validate_python(data)
    items = parsed.actions if isinstance(parsed, _ActionsIn) else parsed
    actions = (_action(item) for item in items)
    return ParsedReply("", actions=tuple(a for a in actions if a.title))


def _read_forks(data: object) -> ParsedReply:
    parsed = _FORKS.validate_python(data)
    if isinstance(parsed, _ForkIn):
        forks = [_fork(parsed.question, parsed.options)]
    elif isinstance(parsed, _ForksIn):
        forks = [_fork(item.question, item.options) for item in parsed.forks]
    else:
        fork_items = [item for item in parsed if isinstance(item, _ForkIn)]
        options = [item for item in parsed if not isinstance(item, _ForkIn)]
        forks = [_fork(item.question, item.options) for item in fork_items]
        if options:
            forks.append(_fork("", options))
    # A fork with no option left offers no choice: it is a blank item.
    return ParsedReply("", forks=tuple(f for f in forks if f.options))


def _question(item: str | _QuestionIn) -> Question:
    if isinstance(item, str):
        return Question(item.strip())
    return Question(item.text.strip(), _clean(item.why))


def _action(item: str | _ActionIn) -> Action:
    if isinstance(item, str):
        return Action(item.strip())
    detail, command, risk = _clean(item.detail), _clean(item.command), _clean(item.risk)
    return Action(item.title.strip(), detail, command, risk)


def _fork(question: str, items: list[str | _ForkOptionIn]) -> Fork:
    options = (
        ForkOption(item.strip())
        if isinstance(item, str)
        else ForkOption(item.label.strip(), _clean(item.description))
        for item in items
    )
    return Fork(question.strip(), tuple(o for o in options if o.label))


def _clean(value: str | None) -> str | None:
    """Trimmed text, with blank text read as absent."""
    stripped = value.strip() if value is not None else ""
    return stripped or None


READERS: Final = {"QUESTIONS": _read_questions, "ACTIONS": _read_actions, "FORK": _read_forks}
