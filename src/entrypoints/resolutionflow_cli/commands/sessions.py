"""``resolutionflow sessions``: the history (list), one session (show), a new one (new)."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.rule import Rule
from rich.text import Text

from resolutionflow_cli import render, search_views
from resolutionflow_cli.errors import CliError
from resolutionflow_cli.options import AS_DEFAULT, ActorOption, JsonOption, SessionId
from resolutionflow_cli.output import console, print_json, print_table, table_width
from resolutionflow_cli.runtime import DEFAULT_ACTOR, call, load_settings, parse_actor
from resolutionflow_core.access import Actor, allowed_actions_for
from resolutionflow_core.errors import InvalidInput
from resolutionflow_core.kinds import IntakeType, SessionType
from resolutionflow_core.lifecycle import SessionStatus
from resolutionflow_core.listing import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    SessionFilters,
    SessionPage,
    parse_moment,
)
from resolutionflow_core.search import SearchPage, similar_for

if TYPE_CHECKING:
    from resolutionflow_app import Application
    from resolutionflow_core.delivery import Delivery
    from resolutionflow_core.services import ChatTurn
    from resolutionflow_core.session import Session

# `--json` prints the read models, the HTTP API's documents. Imported where printed: the
# composition root's package loads SQLAlchemy, which `--help` must not wait for.

app = typer.Typer(
    help="Sessions of both kinds: list the history, show one, start a new one.",
    no_args_is_help=True,
)


def _moment(value: str, *, end_of_day: bool) -> datetime:
    """An ISO date or date-time; a date alone is its first (or, for --to, last) moment, UTC."""
    try:
        return parse_moment(value, "date", end_of_day=end_of_day)
    except InvalidInput as error:
        raise typer.BadParameter(error.reason) from None


def _from(value: str) -> datetime:
    return _moment(value, end_of_day=False)


def _to(value: str) -> datetime:
    return _moment(value, end_of_day=True)


# The filters of `sessions list` and `sessions search`, declared once.
TypeFilter = Annotated[
    list[SessionType] | None, typer.Option("--type", help="Only this kind (repeat for both).")
]
StatusFilter = Annotated[
    list[SessionStatus] | None,
    typer.Option("--status", help="Only sessions in this status (repeatable)."),
]
OwnerFilter = Annotated[
    str | None, typer.Option("--owner", metavar="USER", help="Only this engineer's.")
]
FromFilter = Annotated[
    datetime | None,
    typer.Option(
        "--from", parser=_from, metavar="DATE", help="Created on or after (UTC unless given)."
    ),
]
ToFilter = Annotated[
    datetime | None,
    typer.Option(
        "--to", parser=_to, metavar="DATE", help="Created on or before (a date: that day)."
    ),
]
LimitOption = Annotated[
    int, typer.Option("--limit", min=1, max=MAX_PAGE_SIZE, help="Sessions per page.")
]
CursorOption = Annotated[
    str | None, typer.Option("--cursor", help="Where the previous page ended.")
]


def _query(
    session_type: list[SessionType] | None,
    status: list[SessionStatus] | None,
    owner: str | None,
    created_from: datetime | None,
    created_to: datetime | None,
    limit: int,
    cursor: str | None,
) -> SessionFilters:
    """The options as `SessionFilters` (no ``--type`` or ``--status``: every one)."""
    return {
        "session_types": frozenset(session_type) if session_type else None,
        "statuses": frozenset(status) if status else None,
        "owner_id": owner,
        "created_from": created_from,
        "created_to": created_to,
        "limit": limit,
        "cursor": cursor,
    }


Page = TypeVar("Page", SessionPage, SearchPage)


def _show_page(
    ctx: typer.Context,
    fetch: Callable[[Application], Coroutine[Any, Any, Page]],
    json_output: bool,
    cursor: str | None,
    none: str,
    no_more: str,
) -> tuple[Console, Page] | None:
    """Fetch a page of the history or of a search, and show it as `sessions list` and
    `sessions search` both do: the API's document with --json, else the sessions table, or
    that none match (``none``; ``no_more`` past the first page). The console and the page
    when the table was printed, for what the command adds below it."""
    page = call(load_settings(ctx), fetch)
    if json_output:
        from resolutionflow_app import read_models

        if isinstance(page, SearchPage):
            print_json(read_models.document(read_models.search_page_read(page)))
        else:
            print_json(read_models.document(read_models.page_read(page)))
        return None
    out = console()
    if not page.items:
        out.print(Text(none if cursor is None else no_more))
        return None
    rows = [hit.summary for hit in page.items] if isinstance(page, SearchPage) else page.items
    print_table(out, render.sessions_table(rows, table_width(out)))
    return out, page


@app.command("list")
def list_sessions(
    ctx: typer.Context,
    session_type: TypeFilter = None,
    status: StatusFilter = None,
    owner: OwnerFilter = None,
    created_from: FromFilter = None,
    created_to: ToFilter = None,
    limit: LimitOption = DEFAULT_PAGE_SIZE,
    cursor: CursorOption = None,
    actor: ActorOption = AS_DEFAULT,
    json_output: JsonOption = False,
) -> None:
    """List sessions, newest activity first.

    Guided sessions are marked ◆ Guided (cyan), chat sessions ● Chat (violet); filter them
    like the API does, page with --cursor.

    Example: `resolutionflow sessions list --type chat --status active --from 2026-11-01`
    """

    query = _query(session_type, status, owner, created_from, created_to, limit, cursor)

    async def work(app: Application) -> SessionPage:
        return await app.sessions.list(actor, **query)

    shown = _show_page(ctx, work, json_output, cursor, "No sessions match.", "No more sessions.")
    if shown is None:
        return
    out, page = shown
    if page.next_cursor is not None:
        filters: list[str] = []
        for kind in session_type or []:
            filters += ["--type", kind.value]
        for state in status or []:
            filters += ["--status", state.value]
        if owner is not None:
            filters += ["--owner", owner]
        if created_from is not None:
            filters += ["--from", created_from.isoformat()]
        if created_to is not None:
            filters += ["--to", created_to.isoformat()]
        if limit != DEFAULT_PAGE_SIZE:
            filters += ["--limit", str(limit)]
        if actor != parse_actor(DEFAULT_ACTOR):
            filters += ["--as", f"{actor.account_id}:{actor.user_id}:{actor.role.value}"]
        command = shlex.join(
            ["resolutionflow", "sessions", "list", *filters, "--cursor", page.next_cursor.encode()]
        )
        out.print(Text(f"More: {command}"), style="dim", soft_wrap=True)


@app.command()
def search(
    ctx: typer.Context,
    text: Annotated[
        str,
        typer.Argument(
            metavar="QUERY",
            help='Words (all must match), "a phrase", -excluded, `or` between alternatives.',
        ),
    ],
    session_type: TypeFilter = None,
    status: StatusFilter = None,
    owner: OwnerFilter = None,
    created_from: FromFilter = None,
    created_to: ToFilter = None,
    limit: LimitOption = DEFAULT_PAGE_SIZE,
    cursor: CursorOption = None,
    actor: ActorOption = AS_DEFAULT,
    json_output: JsonOption = False,
) -> None:
    """Search the account's sessions of both kinds, best match first.

    Title, summary, intake, messages, steps and answers, resolution, root cause, escalation
    and abandon reasons and the linked ticket are searched; each hit shows where it matched.
    The filters are those of `sessions list`.

    Example: `resolutionflow sessions search "outlook password -mac" --status resolved`
    """

    query = _query(session_type, status, owner, created_from, created_to, limit, cursor)

    async def work(app: Application) -> SearchPage:
        return await app.sessions.search(actor, text, **query)

    shown = _show_page(ctx, work, json_output, cursor, "No session matches.", "No more matches.")
    if shown is None:
        return
    out, page = shown
    out.print(Rule("Where they match"))
    search_views.print_matches(out, page)
    if page.next_cursor is not None:
        out.print(
            Text(
                f"More: resolutionflow sessions search {text!r} (same filters) "
                f"--cursor {page.next_cursor.encode()}"
            ),
            style="dim",
            soft_wrap=True,
        )


@app.command()
def show(
    ctx: typer.Context,
    session_id: SessionId,
    actor: ActorOption = AS_DEFAULT,
    json_output: JsonOption = False,
) -> None:
    """Show one session with its messages or steps.

    Its facts, the PSA ticket and the delivery of its notes, then its messages (the
    assistant's questions, actions and forks parsed) or its steps.

    Example: `resolutionflow sessions show 3f2c9a4e-0b1d-4c55-9d7a-8e7f6a5b4c3d`
    """

    async def work(app: Application) -> tuple[Session, list[Delivery]]:
        session = await app.sessions.get(actor, session_id)  # may the actor see it?
        return session, await app.deliveries.for_session(session.id)

    session, deliveries = call(load_settings(ctx), work)
    if json_output:
        # The document of GET /api/v1/ai-sessions/{id}, field for field.
        similar = similar_for(actor, session)
        from resolutionflow_app import read_models

        print_json(
            read_models.document(
                read_models.session_read(session, actor, deliveries=deliveries, similar=similar)
            )
        )
        return
    show_session(console(), session, deliveries, actor)
    solved = search_views.similar_block(similar_for(actor, session))
    if solved is not None:
        console().print(solved)


def show_session(
    out: Console, session: Session, deliveries: list[Delivery], actor: Actor | None = None
) -> None:
    out.print(render.session_header(session))
    if actor is not None:
        allowed = allowed_actions_for(actor, session)
        listed = ", ".join(f"resolutionflow {a.value}" for a in allowed) or "none"
        out.print(Text(f"You may now: {listed}", style="dim"), soft_wrap=True)
    if deliveries:
        out.print(Rule("PSA deliveries"))
        out.print(render.deliveries_table(deliveries))
    if session.session_type is SessionType.CHAT:
        out.print(Rule(f"Conversation ({len(session.conversation_messages)} messages)"))
        for block in render.conversation(session.conversation_messages):
            out.print(block)
    else:
        out.print(Rule(f"Steps ({len(session.steps)})"))
        for step in session.steps:
            out.print(render.step_block(step))
        if not session.steps:
            out.print(Text("No step yet.", style="dim"))


@app.command()
def new(
    ctx: typer.Context,
    text: Annotated[
        str,
        typer.Argument(
            metavar="TEXT", help="The problem (chat: the first message); '-' reads stdin."
        ),
    ],
    session_type: Annotated[
        SessionType, typer.Option("--type", help="guided: step by step; chat: free chat.")
    ] = SessionType.CHAT,
    actor: ActorOption = AS_DEFAULT,
    json_output: JsonOption = False,
) -> None:
    """Start a chat or a guided session.

    A chat: the assistant answers the first message. Guided: the assistant proposes the
    first step.

    Example: `resolutionflow sessions new --type guided "Outlook asks for the password again"`
    """
    if text == "-":
        text = sys.stdin.read()
    if not text.strip():
        raise CliError("the problem text must not be empty")
    settings = load_settings(ctx)
    turn: ChatTurn | None = None
    if session_type is SessionType.CHAT:
        turn = call(settings, lambda app: app.sessions.start_chat(actor, text))
        session = turn.session
    else:
        session = call(settings, lambda app: _start_guided(app, actor, text))
    if json_output:
        # The document POST /api/v1/ai-sessions answers.
        from resolutionflow_app import read_models

        print_json(
            read_models.document(
                read_models.session_read(session, actor, similar=similar_for(actor, session))
            )
        )
        return
    out = console()
    out.print(render.session_header(session))
    solved = search_views.similar_block(similar_for(actor, session))
    if solved is not None:
        out.print(solved)
    if turn is not None:
        out.print(Rule("Conversation"))
        out.print(render.message_block(turn.message))
        out.print(render.message_block(turn.reply))
        next_command = f"resolutionflow chat {session.id}"
    else:
        if session.pending_step is not None:
            out.print(render.step_block(session.pending_step))
        next_command = f"resolutionflow guide {session.id}"
    out.print(Text.assemble("Continue with: ", (next_command, "bold")), soft_wrap=True)


async def _start_guided(app: Application, actor: Actor, text: str) -> Session:
    return await app.sessions.start_guided(actor, IntakeType.FREE_TEXT, {"text": text.strip()})
