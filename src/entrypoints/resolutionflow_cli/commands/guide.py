"""``resolutionflow guide ID``: answer a guided session's steps one at a time.

Each step shows its options (pick one by number, or type your own answer), the
assistant's confidence and its tier. A resolution suggestion comes with an offer to
resolve the session there and then.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from resolutionflow_cli import render
from resolutionflow_cli.errors import ExitCode
from resolutionflow_cli.interactive import (
    Outcome,
    Prompter,
    SessionActions,
    Slash,
    closed_reason,
    interactive_session,
    parse_slash,
    print_help,
    print_intro,
    thinking,
)
from resolutionflow_cli.options import AS_DEFAULT, ActorOption, SessionId
from resolutionflow_cli.output import clean, console, print_refusal
from resolutionflow_cli.runtime import Workbench
from resolutionflow_core.access import Actor
from resolutionflow_core.guided import GuidedStep, StepKind
from resolutionflow_core.lifecycle import SessionStatus
from resolutionflow_core.session import Session, SessionType

GUIDE_HELP = (
    ("NUMBER", "answer with that option"),
    ("TEXT", "answer in your own words"),
    ("/retry", "ask again for a step that failed"),
)

YES = frozenset({"y", "yes"})


def guide(
    ctx: typer.Context,
    session_id: SessionId,
    reasoning: Annotated[
        bool,
        typer.Option("--reasoning/--no-reasoning", help="Show why the assistant asks each step."),
    ] = True,
    actor: ActorOption = AS_DEFAULT,
) -> None:
    """Work a guided session step by step, interactively.

    Answer each step with an option's number or your own words while the assistant's
    confidence rises through its tiers; when it suggests a resolution, resolve there and
    then. Slash commands act on the session (/help lists them).

    Example: `resolutionflow guide 3f2c9a4e-0b1d-4c55-9d7a-8e7f6a5b4c3d`
    """
    out = console()
    with interactive_session(ctx, actor, session_id, SessionType.GUIDED, out) as (bench, session):
        Guide(bench, actor, session, out, show_reasoning=reasoning).run()


class Guide:
    """The answer loop of one guided session."""

    def __init__(
        self,
        bench: Workbench,
        actor: Actor,
        session: Session,
        out: Console,
        *,
        show_reasoning: bool,
    ) -> None:
        self.out = out
        self.prompter = Prompter(out)
        self.actions = SessionActions(bench, actor, session, out, self.prompter)
        self.show_reasoning = show_reasoning
        self._shown: int | None = None
        self._step_failed = False

    @property
    def session(self) -> Session:
        return self.actions.session

    def run(self) -> None:
        self._intro()
        while closed_reason(self.session) is None:
            active = self.session.status is SessionStatus.ACTIVE
            step = self.session.pending_step
            if active and step is None and not self._step_failed:
                self._request_step()
                continue
            if active and step is not None and step.number != self._shown:
                self._shown = step.number
                self.out.print(render.step_block(step, show_reasoning=self.show_reasoning))
                if step.kind is StepKind.RESOLUTION_SUGGESTION:
                    offer = self._offer_resolution(step)
                    if offer is Outcome.LEAVE:
                        return
                    if offer is Outcome.GO_ON:
                        continue
            line = self.prompter.ask("answer" if active and step else "command")
            if line is None or not self._take(line.strip(), step if active else None):
                return

    def _intro(self) -> None:
        session = self.session
        answered = [s for s in session.steps if s.response is not None]
        print_intro(
            self.out,
            session,
            session.problem_summary or session.intake_text or "Guided session",
            [Text(f"{len(answered)} steps answered so far.", style="dim")] if answered else [],
            paused="The session is paused: /resume to go on.",
            hint="Answer with an option's number or your own words; /help lists the commands.",
        )

    def _take(self, line: str, step: GuidedStep | None) -> bool:
        """Act on one line; ``False`` when the engineer leaves."""
        if not line:
            return True
        slash = parse_slash(line)
        if slash is not None:
            return self._command(slash)
        if step is None:
            why = (
                "the session is paused: /resume first"
                if self.session.status is SessionStatus.PAUSED
                else "no step waits for an answer: /retry asks the assistant for one"
            )
            print_refusal(f"cannot answer: {why}", ExitCode.REFUSED)
            return True
        answer = self._answer_of(line, step)
        if answer is not None:
            self._answer(answer)
        return True

    def _command(self, slash: Slash) -> bool:
        if slash.name == "help":
            print_help(self.out, GUIDE_HELP)
            return True
        if slash.name == "retry":
            self._step_failed = False
            return True
        outcome = self.actions.handle(slash)
        if outcome is Outcome.UNKNOWN:
            print_refusal(f"unknown command /{slash.name}: /help lists them", ExitCode.USAGE)
        if slash.name in ("resume", "show"):
            self._shown = None  # show the pending step again
        return outcome is not Outcome.LEAVE

    def _answer_of(self, line: str, step: GuidedStep) -> str | None:
        """The option picked by number, or the line itself."""
        if not (line.isdigit() and step.options):
            return line
        number = int(line)
        if not 1 <= number <= len(step.options):
            print_refusal(
                f"there is no option {number}: pick 1 to {len(step.options)} or type an answer",
                ExitCode.USAGE,
            )
            return None
        label = step.options[number - 1].label
        self.out.print(Text(clean(f"→ {label}"), style="dim"))
        return label

    def _answer(self, answer: str) -> None:
        actions = self.actions
        with thinking(self.out):
            actions.change(
                lambda: actions.service.answer_step(actions.actor, actions.session_id, answer)
            )
        if actions.llm_failed():
            # The answer is stored, the next step did not come: show the session as stored.
            self._step_failed = True
            fresh = actions.attempt(actions.service.get(actions.actor, actions.session_id))
            if fresh is not None:
                actions.session = fresh
            self.out.print(Text("/retry asks the assistant for the next step.", style="dim"))

    def _request_step(self) -> None:
        actions = self.actions
        with thinking(self.out):
            fresh = actions.change(
                lambda: actions.service.request_next_step(actions.actor, actions.session_id)
            )
        if fresh is None:
            self._step_failed = True
            self.out.print(Text("/retry asks again, /quit leaves.", style="dim"))

    def _offer_resolution(self, step: GuidedStep) -> Outcome | None:
        """Offer to resolve on a resolution suggestion; ``None`` if declined (answer the step).

        A slash command typed at the offer is run as such.
        """
        answer = self.prompter.ask("Resolve the session now? [y/N]")
        if answer is None:
            return Outcome.LEAVE
        answer = answer.strip()
        if answer.startswith("/"):
            return Outcome.GO_ON if self._take(answer, step) else Outcome.LEAVE
        if answer.lower() in YES:
            return Outcome.LEAVE if self.actions.resolve_interactively() else Outcome.GO_ON
        self.out.print(Text("Then answer the step to go on.", style="dim"))
        return None
