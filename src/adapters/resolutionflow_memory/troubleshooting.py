"""The offline assistant's reasoning: where a conversation stands and what to offer next.

Guided sessions and chats share it. A conversation is read as a list of `Offer`s (what the
assistant offered in one turn, and the engineer's answer to it); `next_move` reads them with
the domain's `Playbook` and chooses the next `Move`, in this order:

1. An answer saying it worked: confirm the fix (what fixed it and the likely cause); an
   answer confirming that: wrap up (resolve). A choice to resolve wraps up; a choice to
   escalate says how, with the reason.
2. After `Pace.escalate_after` reported failures, suggest escalation once, with the reason
   (what was tried and failed).
3. Questions, until the playbook's probes give `Pace.facts` facts: a probe the problem text
   or an answer already settled counts without being asked.
4. The first checks, then the fork, then the chosen option's branch, then the other
   branches (so a failure at the end of a branch moves to another one), then the
   playbook's remaining actions.
5. When nothing is left to try: escalation if not suggested yet, else a closing move that
   counts the answers (so it never repeats).

Nothing is offered twice: questions and actions already offered are skipped. Pure and
deterministic: the same conversation always gives the same move.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from resolutionflow_core.markers import Action, Fork, ForkOption, Question
from resolutionflow_memory.playbooks import (
    Outcome,
    Playbook,
    choose_option,
    read_answer,
    says_yes,
)


class MoveKind(StrEnum):
    QUESTIONS = "questions"
    ACTIONS = "actions"
    FORK = "fork"
    CONFIRM = "confirm"
    """It worked: confirm with the user (the resolution suggestion)."""
    WRAP_UP = "wrap_up"
    """Confirmed fixed: resolve the session."""
    ESCALATION = "escalation"
    """The usual fixes failed: suggest escalating, with the reason."""
    ESCALATE_NOW = "escalate_now"
    """The engineer chose to escalate: how, and the reason to give."""
    CLOSING = "closing"
    """Nothing left to try: resolve or escalate."""


@dataclass(frozen=True, slots=True)
class Offer:
    """One turn of the assistant as it was offered, and the engineer's answer to it."""

    kind: MoveKind
    questions: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    """Titles of the actions offered."""
    fork_options: tuple[str, ...] = ()
    """Labels of the fork's options, if a fork was offered."""
    answer: str | None = None

    @property
    def outcome(self) -> Outcome | None:
        """How the answer reads (`None` while unanswered); a plain "yes" to a confirmation
        (did that resolve it?) confirms the fix."""
        if self.answer is None:
            return None
        if self.kind is MoveKind.CONFIRM and says_yes(self.answer):
            return Outcome.WORKED
        return read_answer(self.answer, self.fork_options)


@dataclass(frozen=True, slots=True)
class Pace:
    """How much the assistant offers at a time: guided one thing, a chat reply a few."""

    questions: int
    """Most questions in one move."""
    facts: int
    """Probes settled (by the problem text, an answer, or asking) before the first action."""
    actions: int
    """Most actions in one move (all from the same branch)."""
    first_checks: int
    """How many of the playbook's actions come before the fork."""
    escalate_after: int
    """Reported failures before escalation is suggested."""


GUIDED_PACE = Pace(questions=1, facts=2, actions=1, first_checks=1, escalate_after=4)
CHAT_PACE = Pace(questions=3, facts=3, actions=2, first_checks=2, escalate_after=3)


@dataclass(frozen=True, slots=True)
class Move:
    """What to offer next, with what the wording needs to explain it."""

    kind: MoveKind
    outcome: Outcome | None
    """How the last answer was read (`None`: nothing answered yet)."""
    answers: int
    """How many answers the conversation has."""
    after: MoveKind | None = None
    """The kind of the last offer (`None`: nothing offered yet)."""
    questions: tuple[Question, ...] = ()
    actions: tuple[Action, ...] = ()
    fork: Fork | None = None
    branch: ForkOption | None = None
    """The fork option the actions belong to, if any."""
    another_branch: bool = False
    """The actions come from another branch than the one chosen."""
    assumed_branch: bool = False
    """The answer to the fork matched no option: the first one is assumed."""

    @property
    def after_failed_fix(self) -> bool:
        """The last answer says a suggested fix (or a confirmed one) did not work."""
        return self.outcome is Outcome.FAILED and self.after in _FIXES

    settled: tuple[Question, ...] = ()
    """Questions skipped because the problem text or an answer settled them."""
    failed: tuple[str, ...] = ()
    """Titles of the actions reported failing, in order."""
    fixed_by: str | None = None
    """The action that worked (for `CONFIRM`), if the answer was to an action."""
    cause: str | None = None
    """The likely cause (for `CONFIRM`)."""


def next_move(book: Playbook, problem: str, offers: Sequence[Offer], pace: Pace) -> Move:
    """The next move of a conversation about ``problem`` after ``offers``."""
    return _Reading(book, problem, offers, pace).next_move()


class _Reading:
    """A conversation read against its playbook."""

    def __init__(self, book: Playbook, problem: str, offers: Sequence[Offer], pace: Pace) -> None:
        self.book = book
        self.offers = tuple(offers)
        self.pace = pace
        answered = [offer for offer in self.offers if offer.answer is not None]
        self.answers = len(answered)
        self.last = self.offers[-1] if self.offers else None
        self.outcome = self.last.outcome if self.last is not None else None
        self.kinds = {offer.kind for offer in self.offers}
        self.offered_questions = {q for offer in self.offers for q in offer.questions}
        self.offered_actions = {a for offer in self.offers for a in offer.actions}
        failing = [offer for offer in answered if offer.outcome is Outcome.FAILED]
        self.failures = len(failing)
        self.failed = tuple(title for offer in failing for title in offer.actions)
        texts = [problem, *(offer.answer or "" for offer in answered)]
        self.settled = tuple(
            probe.question
            for probe in book.probes
            if probe.question.text not in self.offered_questions
            and any(probe.settled_in(text) for text in texts)
        )
        self.chosen, self.assumed = self._chosen_branch()

    def next_move(self) -> Move:
        for choose in (self._closing_moves, self._escalation, self._questions, self._actions):
            move = choose()
            if move is not None:
                return move
        kind = MoveKind.CLOSING if MoveKind.ESCALATION in self.kinds else MoveKind.ESCALATION
        return self._move(kind)

    # -- the moves, in order ----------------------------------------------------------------

    def _closing_moves(self) -> Move | None:
        """Answers that end the troubleshooting: it worked, resolve, escalate."""
        last, outcome = self.last, self.outcome
        if last is None:
            return None
        wrapped = MoveKind.WRAP_UP in self.kinds
        confirmed = outcome is Outcome.WORKED and last.kind is MoveKind.CONFIRM
        if confirmed or outcome is Outcome.RESOLVE:
            return self._move(MoveKind.CLOSING if wrapped else MoveKind.WRAP_UP)
        if outcome is Outcome.ESCALATE:
            escalating = MoveKind.ESCALATE_NOW in self.kinds
            return self._move(MoveKind.CLOSING if escalating else MoveKind.ESCALATE_NOW)
        if last.kind in _ENDINGS and outcome is not Outcome.FAILED:
            return self._move(MoveKind.CLOSING)
        if outcome is Outcome.WORKED:
            fixed_by = last.actions[-1] if last.actions else None
            return replace(
                self._move(MoveKind.CONFIRM), fixed_by=fixed_by, cause=self._cause(fixed_by)
            )
        return None

    def _escalation(self) -> Move | None:
        if self.failures >= self.pace.escalate_after and MoveKind.ESCALATION not in self.kinds:
            return self._move(MoveKind.ESCALATION)
        return None

    def _questions(self) -> Move | None:
        if self.offered_actions or self._forked:
            return None
        known = len(self.settled) + sum(
            1 for probe in self.book.probes if probe.question.text in self.offered_questions
        )
        open_probes = [
            probe.question
            for probe in self.book.probes
            if probe.question.text not in self.offered_questions
            and probe.question not in self.settled
        ]
        room = min(self.pace.questions, self.pace.facts - known)
        if room <= 0 or not open_probes:
            return None
        return replace(self._move(MoveKind.QUESTIONS), questions=tuple(open_probes[:room]))

    def _actions(self) -> Move | None:
        first = [a for a in self.book.actions[: self.pace.first_checks] if self._fresh(a)]
        if first:
            return replace(self._move(MoveKind.ACTIONS), actions=tuple(first))
        if not self._forked:
            return replace(self._move(MoveKind.FORK), fork=self.book.fork)
        for source, actions in self._queue():
            fresh = [action for action in actions if self._fresh(action)]
            if fresh:
                branch = self.book.fork.options[source] if source is not None else None
                return replace(
                    self._move(MoveKind.ACTIONS),
                    actions=tuple(fresh[: self.pace.actions]),
                    branch=branch,
                    another_branch=source is not None and source != self.chosen,
                    assumed_branch=self.assumed and source == self.chosen,
                )
        return None

    # -- reading ----------------------------------------------------------------------------

    @property
    def _forked(self) -> bool:
        return any(offer.fork_options for offer in self.offers)

    def _fresh(self, action: Action) -> bool:
        return action.title not in self.offered_actions

    def _chosen_branch(self) -> tuple[int, bool]:
        """The fork option the engineer chose (the latest answered fork), and whether the
        first one was assumed because the answer matched none."""
        for offer in reversed(self.offers):
            if offer.fork_options and offer.answer is not None:
                index = choose_option(offer.answer, offer.fork_options)
                if index is None or index >= len(self.book.branches):
                    return 0, True
                return index, False
        return 0, False

    def _queue(self) -> list[tuple[int | None, tuple[Action, ...]]]:
        """What to try after the fork, in order: the chosen branch, every other branch, then
        the playbook's own actions (``None``: from no branch)."""
        others = [i for i in range(len(self.book.branches)) if i != self.chosen]
        queue: list[tuple[int | None, tuple[Action, ...]]] = [
            (self.chosen, self.book.branches[self.chosen])
        ]
        queue.extend((i, self.book.branches[i]) for i in others)
        queue.append((None, self.book.actions))
        return queue

    def _cause(self, title: str | None) -> str | None:
        """The likely cause when the action titled ``title`` fixed it."""
        if title is None:
            return None
        for option, branch in zip(self.book.fork.options, self.book.branches, strict=True):
            if title in (action.title for action in branch) and option.description:
                return option.description
        if title in (action.title for action in self.book.actions[: self.pace.first_checks]):
            return self.book.cause
        return None

    def _move(self, kind: MoveKind) -> Move:
        return Move(
            kind=kind,
            outcome=self.outcome,
            answers=self.answers,
            after=self.last.kind if self.last is not None else None,
            settled=self.settled,
            failed=self.failed,
        )


_ENDINGS = (MoveKind.WRAP_UP, MoveKind.CLOSING, MoveKind.ESCALATE_NOW)
_FIXES = (MoveKind.ACTIONS, MoveKind.CONFIRM, MoveKind.ESCALATION)
