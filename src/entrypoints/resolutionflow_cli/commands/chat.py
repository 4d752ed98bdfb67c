"""``resolutionflow chat ID``: an interactive chat with the assistant in a chat session.

The reply streams as the assistant writes it; its marker blocks (questions, actions,
forks) are held back from the stream and shown, parsed, once the reply is complete.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console, RenderableType
from rich.text import Text

from resolutionflow_cli import render
from resolutionflow_cli.errors import ExitCode
from resolutionflow_cli.interactive import (
    Outcome,
    Prompter,
    SessionActions,
    interactive_session,
    parse_slash,
    print_help,
    print_intro,
    thinking,
)
from resolutionflow_cli.options import AS_DEFAULT, ActorOption, SessionId
from resolutionflow_cli.output import clean, console, print_refusal
from resolutionflow_cli.runtime import Workbench
from resolutionflow_cli.streaming import MarkerGate
from resolutionflow_core.access import Actor
from resolutionflow_core.ports import TextDelta
from resolutionflow_core.services import ChatTurn
from resolutionflow_core.session import Session, SessionType

CHAT_HELP = (
    ("TEXT", "send a message; the reply streams in"),
    ("/retry", "ask again for a reply that failed"),
)


def chat(
    ctx: typer.Context,
    session_id: SessionId,
    history: Annotated[
        int, typer.Option("--history", min=0, help="Earlier messages to show first.")
    ] = 10,
    actor: ActorOption = AS_DEFAULT,
) -> None:
    """Chat with the assistant in a chat session, interactively.

    Replies stream in as they are written; slash commands act on the session:
    /resolve SUMMARY, /escalate REASON, /pause, /resume, /abandon,
    /update AUDIENCE LENGTH, /link TICKET, /retry, /quit (/help lists them).

    Example: `resolutionflow chat 3f2c9a4e-0b1d-4c55-9d7a-8e7f6a5b4c3d`
    """
    out = console()
    with interactive_session(ctx, actor, session_id, SessionType.CHAT, out) as (bench, session):
        Conversation(bench, actor, session, out).run(history)


class Conversation:
    """The read-send loop of one chat session."""

    def __init__(self, bench: Workbench, actor: Actor, session: Session, out: Console) -> None:
        self.out = out
        self.prompter = Prompter(out)
        self.actions = SessionActions(bench, actor, session, out, self.prompter)

    def run(self, history: int) -> None:
        self._intro(history)
        while (line := self.prompter.ask("you")) is not None:
            line = line.strip()
            if not line:
                continue
            slash = parse_slash(line)
            if slash is None:
                self._send(line)
            elif slash.name == "help":
                print_help(self.out, CHAT_HELP)
            elif slash.name == "retry":
                self._retry()
            else:
                outcome = self.actions.handle(slash)
                if outcome is Outcome.LEAVE:
                    return
                if outcome is Outcome.UNKNOWN:
                    print_refusal(
                        f"unknown command /{slash.name}: /help lists them", ExitCode.USAGE
                    )

    def _intro(self, history: int) -> None:
        session = self.actions.session
        messages = session.conversation_messages
        so_far: list[RenderableType] = []
        if history and len(messages):
            earlier = len(messages) - history
            if earlier > 0:
                so_far.append(Text(f"… {earlier} earlier messages", style="dim"))
            so_far += [render.message_block(message) for message in messages[max(earlier, 0) :]]
        print_intro(
            self.out,
            session,
            session.title or "Chat",
            so_far,
            paused="The session is paused: /resume to chat again.",
            hint="Type a message and press Enter. /help lists the commands, /quit leaves.",
        )

    def _send(self, text: str) -> None:
        """Send ``text``; print the reply as it streams, then its structure."""
        actions = self.actions
        reply = StreamedReply(self.out)

        async def converse() -> ChatTurn | None:
            turn = None
            async for event in actions.service.stream_message(
                actions.actor, actions.session_id, text
            ):
                if isinstance(event, TextDelta):
                    reply.add(event.text)
                else:
                    turn = event
            return turn

        turn = actions.attempt(converse())
        reply.end_line()
        if turn is None:
            if actions.llm_failed():
                self.out.print(Text("/retry asks the assistant again.", style="dim"))
            return
        actions.session = turn.session
        reply.finish(turn)

    def _retry(self) -> None:
        actions = self.actions
        with thinking(self.out):
            turn = actions.attempt(actions.service.answer_again(actions.actor, actions.session_id))
        if turn is not None:
            actions.session = turn.session
            self.out.print(render.message_block(turn.reply))


class StreamedReply:
    """A reply printed under its heading as it streams, its marker blocks held back."""

    def __init__(self, out: Console) -> None:
        self.out = out
        self.gate = MarkerGate()
        self.started = False

    def add(self, delta: str) -> None:
        self._start()
        piece = clean(self.gate.feed(delta))
        if piece:
            self.out.file.write(piece)
            self.out.file.flush()

    def end_line(self) -> None:
        """End the streamed line, if the stream left one open."""
        if self.gate.shown and not self.gate.shown.endswith("\n"):
            self.out.file.write("\n")

    def finish(self, turn: ChatTurn) -> None:
        """The rest of the complete reply: text after its blocks, then their structure."""
        self._start()
        rest = self.gate.rest(turn.parsed).strip()
        if rest:
            self.out.print(Text(clean(rest)))
        for block in render.structure(turn.parsed):
            self.out.print(block)
        self.out.print()

    def _start(self) -> None:
        if not self.started:
            self.started = True
            self.out.print(Text("assistant", style="bold violet"))
