"""The lifecycle of a session, one command per action, and status updates.

``resolve``, ``escalate``, ``pause``, ``resume``, ``abandon``, ``claim`` (both kinds of
session), and ``status-update``, which changes no status and works on closed sessions too.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from resolutionflow_cli import render
from resolutionflow_cli.options import AS_DEFAULT, ActorOption, JsonOption, SessionId
from resolutionflow_cli.output import console, print_json
from resolutionflow_cli.runtime import call, load_settings
from resolutionflow_core import documentation
from resolutionflow_core.access import Actor
from resolutionflow_core.lifecycle import SessionStatus
from resolutionflow_core.session import Session
from resolutionflow_core.updates import Audience, StatusUpdateDraft, UpdateLength

if TYPE_CHECKING:
    from resolutionflow_app import Application

# `--json` prints the read models, the HTTP API's documents. Imported where printed: the
# composition root's package loads SQLAlchemy, which `--help` must not wait for.

Change = Callable[["Application"], Coroutine[Any, Any, Session]]


def _apply(
    ctx: typer.Context, actor: Actor, change: Change, done: str, json_output: bool
) -> Session:
    """Run one lifecycle change and report it: ``done`` says what happened (``--json``:
    the session as the API answers the same change)."""
    session = call(load_settings(ctx), change)
    if json_output:
        from resolutionflow_app import read_models

        print_json(read_models.document(read_models.session_read(session, actor)))
        return session
    console().print(
        Text.assemble(
            f"{done} ",
            render.type_badge(session.session_type),
            f" session {session.id}: now ",
            render.status_text(session.status),
            f" (version {session.version}).",
        ),
        soft_wrap=True,
    )
    return session


def resolve(
    ctx: typer.Context,
    session_id: SessionId,
    summary: Annotated[
        str, typer.Option("--summary", "-s", help="What fixed it (goes into the ticket).")
    ],
    root_cause: Annotated[
        str | None, typer.Option("--root-cause", help="What caused it, if known.")
    ] = None,
    actor: ActorOption = AS_DEFAULT,
    json_output: JsonOption = False,
) -> None:
    """Resolve a session with a summary of the fix.

    Works on active and paused sessions of both kinds; prints the resolution note that
    goes to the linked ticket.

    Example: `resolutionflow resolve ID --summary "Cleared the queue" --root-cause "Stuck job"`
    """
    session = _apply(
        ctx,
        actor,
        lambda app: app.sessions.resolve(actor, session_id, summary, root_cause),
        "Resolved",
        json_output,
    )
    if not json_output:
        note = documentation.resolution_note(session)
        console().print(render.document_panel("Resolution note", note))


def escalate(
    ctx: typer.Context,
    session_id: SessionId,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why it needs a senior engineer.")],
    actor: ActorOption = AS_DEFAULT,
    json_output: JsonOption = False,
) -> None:
    """Escalate a session to a senior engineer.

    Prints the escalation package the next engineer gets (and the linked ticket).

    Example: `resolutionflow escalate ID --reason "Needs domain admin rights"`
    """
    session = _apply(
        ctx,
        actor,
        lambda app: app.sessions.escalate(actor, session_id, reason),
        "Escalated",
        json_output,
    )
    if not json_output:
        package = documentation.escalation_package(session)
        console().print(render.document_panel("Escalation package", package))


def pause(
    ctx: typer.Context,
    session_id: SessionId,
    actor: ActorOption = AS_DEFAULT,
    json_output: JsonOption = False,
) -> None:
    """Pause an active session (resume it later).

    Example: `resolutionflow pause ID`
    """
    _apply(ctx, actor, lambda app: app.sessions.pause(actor, session_id), "Paused", json_output)


def resume(
    ctx: typer.Context,
    session_id: SessionId,
    actor: ActorOption = AS_DEFAULT,
    json_output: JsonOption = False,
) -> None:
    """Resume a paused session.

    Example: `resolutionflow resume ID`
    """
    _apply(ctx, actor, lambda app: app.sessions.resume(actor, session_id), "Resumed", json_output)


def abandon(
    ctx: typer.Context,
    session_id: SessionId,
    reason: Annotated[
        str | None, typer.Option("--reason", "-r", help="Why it is closed unsolved.")
    ] = None,
    actor: ActorOption = AS_DEFAULT,
    json_output: JsonOption = False,
) -> None:
    """Close a session without a fix (the UI's "Close").

    Example: `resolutionflow abandon ID --reason "Client replaced the laptop"`
    """
    _apply(
        ctx,
        actor,
        lambda app: app.sessions.abandon(actor, session_id, reason),
        "Abandoned",
        json_output,
    )


def claim(
    ctx: typer.Context,
    session_id: SessionId,
    actor: ActorOption = AS_DEFAULT,
    json_output: JsonOption = False,
) -> None:
    """Claim an escalated session: it becomes yours and active again.

    The engineer who escalated it cannot claim it back.

    Example: `resolutionflow claim ID --as acme:bob:engineer`
    """
    session = _apply(
        ctx, actor, lambda app: app.sessions.claim(actor, session_id), "Claimed", json_output
    )
    if not json_output and session.status is SessionStatus.ACTIVE:
        console().print(Text(f"It is yours now, {session.user_id}."))


def status_update(
    ctx: typer.Context,
    session_id: SessionId,
    audience: Annotated[
        Audience,
        typer.Option(
            "--audience",
            help="ticket_note (technical), client (plain language) or email (with subject).",
        ),
    ],
    length: Annotated[UpdateLength, typer.Option("--length", help="quick or detailed.")],
    actor: ActorOption = AS_DEFAULT,
    json_output: JsonOption = False,
) -> None:
    """Draft a status update for an audience, and record it as shared.

    Changes no status; works on finished sessions too ("share the resolution").

    Example: `resolutionflow status-update ID --audience client --length quick`
    """

    async def work(app: Application) -> StatusUpdateDraft:
        return await app.sessions.share_status_update(actor, session_id, audience, length)

    draft = call(load_settings(ctx), work)
    if json_output:
        from resolutionflow_app import read_models

        print_json(read_models.document(read_models.status_update_read(draft)))
        return
    console().print(render.draft_panel(draft))
