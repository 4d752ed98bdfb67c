"""What ``chat`` and ``guide`` share: reading lines, slash commands, lifecycle actions.

Inside an interactive command a refusal does not end the command: it is printed as the
same one line on stderr, and the engineer goes on (or types /quit).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from rich.console import Console, RenderableType
from rich.rule import Rule
from rich.text import Text

from resolutionflow_cli import render
from resolutionflow_cli.errors import CliError, ExitCode, refusal
from resolutionflow_cli.output import clean, print_refusal
from resolutionflow_cli.runtime import Workbench, load_settings
from resolutionflow_core import documentation
from resolutionflow_core.access import Actor
from resolutionflow_core.errors import LLMError
from resolutionflow_core.lifecycle import SessionStatus
from resolutionflow_core.services import SessionService
from resolutionflow_core.session import Session, SessionType
from resolutionflow_core.updates import Audience, StatusUpdateDraft, UpdateLength

if TYPE_CHECKING:
    import typer

    from resolutionflow_app import Settings

T = TypeVar("T")


class Outcome(Enum):
    GO_ON = "go on"
    LEAVE = "leave"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Slash:
    """A slash command: ``/resolve Replaced the toner`` is ``resolve`` + the rest."""

    name: str
    argument: str


def parse_slash(line: str) -> Slash | None:
    if not line.startswith("/"):
        return None
    name, _, argument = line[1:].partition(" ")
    return Slash(name.strip().lower(), argument.strip())


LIFECYCLE_HELP = (
    ("/resolve SUMMARY", "resolve the session with what fixed it (asks if left out)"),
    ("/escalate REASON", "escalate to a senior engineer"),
    ("/pause", "pause the session"),
    ("/resume", "resume it"),
    ("/abandon [REASON]", "close it without a fix"),
    (
        "/update [AUDIENCE] [LENGTH]",
        "draft a status update: ticket_note|client|email, quick|detailed",
    ),
    ("/link TICKET", "link the session to a PSA ticket"),
    ("/show", "the session's status and facts"),
    ("/help", "this list"),
    ("/quit", "leave (Ctrl-D too); the session stays as it is"),
)


class Prompter:
    """Reads the engineer's lines: from the keyboard, or a script piped to stdin.

    A piped line is echoed after its prompt, so the transcript reads like the session.
    """

    def __init__(self, out: Console) -> None:
        self._out = out
        self._typed = sys.stdin.isatty()
        if self._typed and out.is_terminal:
            with contextlib.suppress(ImportError):
                import readline  # noqa: F401  (line editing and history for input())

    def ask(self, label: str, style: str = "bold") -> str | None:
        """One line, or ``None`` at the end of the input (Ctrl-D, the script's end)."""
        try:
            line = self._out.input(Text.assemble((label, style), " › "))
        except EOFError:
            self._out.print()
            return None
        except KeyboardInterrupt:
            self._out.print()  # leave the prompt's line; the command ends (exit 130)
            raise
        if not self._typed:
            self._out.print(Text(clean(line)), soft_wrap=True)
        return line


def thinking(
    out: Console, what: str = "The assistant is thinking…"
) -> contextlib.AbstractContextManager[Any]:
    """A spinner while waiting, on a terminal only."""
    return out.status(what, spinner="dots") if out.is_terminal else contextlib.nullcontext()


class SessionActions:
    """The lifecycle actions of the slash commands, on the session being worked."""

    def __init__(
        self, bench: Workbench, actor: Actor, session: Session, out: Console, prompter: Prompter
    ) -> None:
        self.bench = bench
        self.actor = actor
        self.session = session
        self.out = out
        self.prompter = prompter
        self.last_error: BaseException | None = None

    @property
    def service(self) -> SessionService:
        return self.bench.app.sessions

    @property
    def session_id(self) -> UUID:
        return self.session.id

    def attempt(self, coroutine: Coroutine[Any, Any, T]) -> T | None:
        """Run ``coroutine``; a refusal or Ctrl-C is printed and gives ``None``."""
        self.last_error = None
        try:
            return self.bench.run(coroutine)
        except KeyboardInterrupt as interrupt:
            self.last_error = interrupt
            print_refusal("stopped (Ctrl-C); anything you sent is saved", ExitCode.INTERRUPTED)
            return None
        except Exception as error:
            mapped = refusal(error)
            if mapped is None:
                raise
            self.last_error = error
            print_refusal(mapped[1], mapped[0])
            return None

    def change(self, operation: Callable[[], Coroutine[Any, Any, Session]]) -> Session | None:
        """Run a change of the session; keep and return the changed session."""
        changed = self.attempt(operation())
        if changed is not None:
            self.session = changed
        return changed

    def llm_failed(self) -> bool:
        return isinstance(self.last_error, LLMError)

    # -- the commands -----------------------------------------------------------------------

    def handle(self, slash: Slash) -> Outcome:
        handlers: dict[str, Callable[[str], Outcome]] = {
            "resolve": self._resolve,
            "escalate": self._escalate,
            "pause": self._pause,
            "resume": self._resume,
            "abandon": self._abandon,
            "update": self._update,
            "link": self._link,
            "show": self._show,
            "quit": lambda _: Outcome.LEAVE,
            "exit": lambda _: Outcome.LEAVE,
        }
        handler = handlers.get(slash.name)
        return Outcome.UNKNOWN if handler is None else handler(slash.argument)

    def resolve_interactively(self, summary: str = "") -> bool:
        """Resolve, asking for the summary (and an optional root cause) when not given."""
        root_cause: str | None = None
        if not summary:
            while not summary:
                answer = self.prompter.ask("What fixed it? (resolution summary)")
                if answer is None:
                    return False
                summary = answer.strip()
            root_cause = (self.prompter.ask("Root cause (optional, Enter to skip)") or "").strip()
        resolved = self.change(
            lambda: self.service.resolve(self.actor, self.session_id, summary, root_cause or None)
        )
        if resolved is None:
            return False
        self._announce("Resolved")
        self.out.print(
            render.document_panel("Resolution note", documentation.resolution_note(resolved))
        )
        return True

    def _resolve(self, argument: str) -> Outcome:
        return Outcome.LEAVE if self.resolve_interactively(argument) else Outcome.GO_ON

    def _escalate(self, reason: str) -> Outcome:
        while not reason:
            answer = self.prompter.ask("Why does it need a senior engineer?")
            if answer is None:
                return Outcome.GO_ON
            reason = answer.strip()
        escalated = self.change(lambda: self.service.escalate(self.actor, self.session_id, reason))
        if escalated is None:
            return Outcome.GO_ON
        self._announce("Escalated")
        package = documentation.escalation_package(escalated)
        self.out.print(render.document_panel("Escalation package", package))
        return Outcome.LEAVE

    def _pause(self, _: str) -> Outcome:
        if self.change(lambda: self.service.pause(self.actor, self.session_id)) is not None:
            self._announce("Paused")
            self.out.print(Text("/resume to go on, /quit to leave it paused.", style="dim"))
        return Outcome.GO_ON

    def _resume(self, _: str) -> Outcome:
        if self.change(lambda: self.service.resume(self.actor, self.session_id)) is not None:
            self._announce("Resumed")
        return Outcome.GO_ON

    def _abandon(self, reason: str) -> Outcome:
        abandoned = self.change(
            lambda: self.service.abandon(self.actor, self.session_id, reason or None)
        )
        if abandoned is None:
            return Outcome.GO_ON
        self._announce("Abandoned")
        return Outcome.LEAVE

    def _update(self, argument: str) -> Outcome:
        words = argument.split()
        try:
            audience = Audience(words[0]) if words else Audience.TICKET_NOTE
            length = UpdateLength(words[1]) if len(words) > 1 else UpdateLength.QUICK
            if len(words) > 2:
                raise ValueError(argument)
        except ValueError:
            print_refusal(
                f"cannot draft an update for {argument!r}: use /update "
                "[ticket_note|client|email] [quick|detailed]",
                ExitCode.USAGE,
            )
            return Outcome.GO_ON
        with thinking(self.out, "Drafting the update…"):
            draft: StatusUpdateDraft | None = self.attempt(
                self.service.share_status_update(self.actor, self.session_id, audience, length)
            )
        if draft is not None:
            self.out.print(render.draft_panel(draft))
        return Outcome.GO_ON

    def _link(self, ticket: str) -> Outcome:
        if not ticket:
            print_refusal("cannot link a ticket: use /link TICKET", ExitCode.USAGE)
            return Outcome.GO_ON
        linked = self.change(lambda: self.service.link_ticket(self.actor, self.session_id, ticket))
        if linked is not None and linked.psa_link is not None:
            link = linked.psa_link
            self.out.print(Text(f"Linked to {link.provider} ticket #{link.ticket_id}."))
        return Outcome.GO_ON

    def _show(self, _: str) -> Outcome:
        fresh = self.attempt(self.service.get(self.actor, self.session_id))
        if fresh is not None:
            self.session = fresh
            self.out.print(render.session_header(fresh))
        return Outcome.GO_ON

    def _announce(self, done: str) -> None:
        self.out.print(
            Text.assemble(
                f"{done}: the session is now ", render.status_text(self.session.status), "."
            )
        )


def print_help(
    out: Console, first: Iterator[tuple[str, str]] | tuple[tuple[str, str], ...]
) -> None:
    """The slash commands: the command's own ones, then the lifecycle's."""
    lines = Text("Commands", style="bold")
    for usage, what in (*first, *LIFECYCLE_HELP):
        lines.append(f"\n  {usage:<30}", style="bold").append(what)
    out.print(lines)


def print_intro(
    out: Console,
    session: Session,
    title: str,
    so_far: Iterable[RenderableType],
    *,
    paused: str,
    hint: str,
) -> None:
    """How ``chat`` and ``guide`` open: the session's kind and title, what was done so far,
    how to go on when it is paused (``paused``), then what to type (``hint``)."""
    badge = render.type_badge(session.session_type)
    out.print(Rule(Text.assemble(badge, " ", clean(title)), align="left"))
    for block in so_far:
        out.print(block)
    if session.status is SessionStatus.PAUSED:
        out.print(Text(paused, style="yellow"))
    out.print(Text(hint, style="dim"))


def offline_notice(out: Console, settings: Settings) -> None:
    """Say so when the offline assistant answers: its replies are scripted."""
    if settings.chosen_llm() == "offline":
        out.print(
            Text(
                "The offline assistant answers (scripted, no AI model): set "
                "ANTHROPIC_API_KEY for a real one.",
                style="dim",
            )
        )


def closed_reason(session: Session) -> str | None:
    """Why nobody can work on ``session`` interactively now, or ``None``."""
    if session.is_closed:
        return f"it is {session.status} (a closed session never changes)"
    if session.status is SessionStatus.ESCALATED:
        return f"it is escalated: claim it first with 'resolutionflow claim {session.id}'"
    return None


WORKING: dict[SessionType, tuple[str, str]] = {
    SessionType.CHAT: ("chat in session", "chat in it with 'resolutionflow chat {id}'"),
    SessionType.GUIDED: ("guide session", "answer its steps with 'resolutionflow guide {id}'"),
}
"""What working on a session of each kind is called in a refusal, and how it is done."""


def check_workable(session: Session, kind: SessionType) -> None:
    """Refuse a session of the other kind (naming the command for it), or a closed one."""
    doing = WORKING[kind][0]
    if session.session_type is not kind:
        instead = WORKING[session.session_type][1].format(id=session.id)
        raise CliError(
            f"cannot {doing} {session.id}: it is a {session.session_type.value} session; {instead}",
            ExitCode.REFUSED,
        )
    why = closed_reason(session)
    if why is not None:
        raise CliError(f"cannot {doing} {session.id}: {why}", ExitCode.REFUSED)


@contextlib.contextmanager
def interactive_session(
    ctx: typer.Context, actor: Actor, session_id: UUID, kind: SessionType, out: Console
) -> Iterator[tuple[Workbench, Session]]:
    """The application open, and the session ``actor`` works on as ``kind`` (refused as
    `check_workable` says); the offline assistant's notice printed."""
    settings = load_settings(ctx)
    with Workbench(settings) as bench:
        session = bench.run(bench.app.sessions.get(actor, session_id))
        check_workable(session, kind)
        offline_notice(out, settings)
        yield bench, session
