"""``resolutionflow ticket``: the PSA ticket a session documents into."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from resolutionflow_cli.options import AS_DEFAULT, ActorOption, JsonOption, SessionId
from resolutionflow_cli.output import clean, console, print_json
from resolutionflow_cli.runtime import call, load_settings
from resolutionflow_core.session import Session

if TYPE_CHECKING:
    from resolutionflow_app import Application

# `--json` prints the read models, the HTTP API's documents. Imported where printed: the
# composition root's package loads SQLAlchemy, which `--help` must not wait for.

app = typer.Typer(help="PSA tickets: link a session to the ticket it works.", no_args_is_help=True)


@app.command()
def link(
    ctx: typer.Context,
    session_id: SessionId,
    ticket_id: Annotated[
        str, typer.Argument(metavar="TICKET", help="The ticket's id in the account's PSA.")
    ],
    actor: ActorOption = AS_DEFAULT,
    json_output: JsonOption = False,
) -> None:
    """Link a session to a ticket of the account's PSA.

    Replaces an earlier link; the resolution note or escalation package goes to it.

    Example: `resolutionflow ticket link ID 48213`
    """

    async def work(app: Application) -> Session:
        return await app.sessions.link_ticket(actor, session_id, ticket_id)

    session = call(load_settings(ctx), work)
    if json_output:
        from resolutionflow_app import read_models

        print_json(read_models.document(read_models.session_read(session, actor)))
        return
    link_ = session.psa_link
    assert link_ is not None  # link_ticket just set it
    summary = link_.snapshot.get("summary")
    about = f": {summary}" if isinstance(summary, str) and summary else ""
    ticket = f"{link_.provider} ticket #{link_.ticket_id}{about}"
    console().print(
        Text(clean(f"Linked session {session.id} to {ticket}.")),
        soft_wrap=True,
    )
