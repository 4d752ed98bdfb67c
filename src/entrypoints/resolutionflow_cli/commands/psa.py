"""``resolutionflow psa``: the account's PSA connection (owners and admins); the key that
seals the credentials at rest is ``resolutionflow secret-key`` (`commands.secret_key`).

Credentials are asked for without echo when they are not given (``--credential`` puts them
in the shell's history); they are sealed with ``RESOLUTIONFLOW_SECRET_KEY`` before they are
stored and no command ever shows them again: ``psa show`` names the credentials set, only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from resolutionflow_cli import render
from resolutionflow_cli.errors import CliError
from resolutionflow_cli.options import AS_DEFAULT, ActorOption, JsonOption
from resolutionflow_cli.output import clean, console, print_json
from resolutionflow_cli.runtime import call, load_settings
from resolutionflow_core.access import Actor

if TYPE_CHECKING:
    from resolutionflow_app import Application
    from resolutionflow_app.psa import ConnectionTest, ConnectionView

app = typer.Typer(
    help="The account's PSA connection (ConnectWise, HaloPSA, Autotask): owners and admins.",
    no_args_is_help=True,
)


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values or ():
        key, equals, rest = value.partition("=")
        if not equals or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, got {value!r}", param_hint=option)
        pairs[key.strip()] = rest
    return pairs


def _ensure_manages(actor: Actor, operation: str) -> None:
    """Refuse before prompting for anything (the use case checks again)."""
    from resolutionflow_app.connections import ConnectionManagement

    ConnectionManagement.ensure_allowed(actor, operation)


@app.command()
def connect(
    ctx: typer.Context,
    provider: Annotated[str, typer.Argument(help="connectwise, halopsa or autotask.")],
    setting: Annotated[
        list[str] | None,
        typer.Option(
            "--setting", metavar="KEY=VALUE", help="A setting, e.g. site=na.myconnectwise.net."
        ),
    ] = None,
    credential: Annotated[
        list[str] | None,
        typer.Option(
            "--credential",
            metavar="KEY=VALUE",
            help="A credential; asked for without echo when left out.",
        ),
    ] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            metavar="CHANGE=STATUS",
            help="Ticket status after resolved=… or escalated=… (optional).",
        ),
    ] = None,
    actor: ActorOption = AS_DEFAULT,
    json_output: JsonOption = False,
) -> None:
    """Connect the account to its PSA (replacing an earlier connection).

    The credentials are sealed with RESOLUTIONFLOW_SECRET_KEY before they are stored.
    A HaloPSA connection is checked with the instance first: the outcomes its notes will
    use (outcome_detail, outcome_internal, outcome_resolution) must exist there, and those
    not given are chosen and stored. Test the connection with 'resolutionflow psa test
    TICKET': it shows what was discovered (codebase, auth server, outcomes, note types).

    Example: `resolutionflow psa connect halopsa --setting base_url=https://acme.halopsa.com --setting client_id=rf-app`
    """  # noqa: E501
    from resolutionflow_app.psa import PROVIDERS

    _ensure_manages(actor, "connect a PSA")
    spec = PROVIDERS.get(provider.lower())
    if spec is None:
        raise CliError(f"unknown PSA {provider!r}: use one of {', '.join(sorted(PROVIDERS))}")
    settings: dict[str, Any] = dict(_pairs(setting, "--setting"))
    statuses = _pairs(status, "--status")
    if statuses:
        settings["statuses"] = statuses
    credentials = _pairs(credential, "--credential")
    for name in spec.secret:
        if name not in credentials:
            credentials[name] = typer.prompt(f"{spec.name} {name}", hide_input=True)

    async def work(app: Application) -> ConnectionView:
        return await app.connection_management.connect(actor, spec.name, settings, credentials)

    view = call(load_settings(ctx), work)
    if json_output:
        print_json(_view_json(view))
        return
    out = console()
    out.print(Text(f"Connected account {view.account_id} to {view.provider}."))
    out.print(_view_grid(view))
    out.print(Text("Test it with: resolutionflow psa test TICKET", style="dim"))


@app.command()
def show(
    ctx: typer.Context, actor: ActorOption = AS_DEFAULT, json_output: JsonOption = False
) -> None:
    """Show the account's PSA connection (never its credentials).

    The provider and its settings, and which credentials are set.

    Example: `resolutionflow psa show --as acme:carol:admin`
    """
    _ensure_manages(actor, "see the PSA connection")

    async def work(app: Application) -> ConnectionView:
        return await app.connection_management.show(actor)

    view = call(load_settings(ctx), work)
    if json_output:
        print_json(_view_json(view))
        return
    console().print(_view_grid(view))


@app.command("test")
def try_connection(
    ctx: typer.Context,
    ticket_id: Annotated[str, typer.Argument(metavar="TICKET", help="A ticket to read.")],
    actor: ActorOption = AS_DEFAULT,
    json_output: JsonOption = False,
) -> None:
    """Read a ticket through the connection, to prove it works, and show what was
    discovered in the PSA (codebase, auth server, outcomes, note types).

    Example: `resolutionflow psa test 48213`
    """
    _ensure_manages(actor, "test the PSA connection")

    async def work(app: Application) -> ConnectionTest:
        return await app.connection_management.test(actor, ticket_id)

    tested = call(load_settings(ctx), work)
    ticket, discovered = tested.ticket, tested.discovered
    if json_output:
        print_json(
            {
                "provider": ticket.provider,
                "ticket_id": ticket.ticket_id,
                **ticket.snapshot(),
                "discovered": {"facts": discovered.facts, "choices": discovered.choices},
            }
        )
        return
    company = f" ({ticket.company})" if ticket.company else ""
    state = f", status {ticket.status}" if ticket.status else ""
    read = f"{ticket.provider} ticket #{ticket.ticket_id}: {ticket.summary}{company}{state}"
    out = console()
    out.print(Text(clean(f"OK: {read}.")), soft_wrap=True)
    if discovered.facts or discovered.choices:
        out.print(_discovered_grid(discovered.facts, discovered.choices))


@app.command()
def disconnect(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    actor: ActorOption = AS_DEFAULT,
) -> None:
    """Remove the account's PSA connection and its sealed credentials.

    Notes still due wait until the account is connected again.

    Example: `resolutionflow psa disconnect --yes`
    """
    _ensure_manages(actor, "disconnect the PSA")
    if not yes:
        typer.confirm(f"Disconnect account {actor.account_id} from its PSA?", abort=True)

    async def work(app: Application) -> ConnectionView:
        return await app.connection_management.disconnect(actor)

    call(load_settings(ctx), work)
    console().print(Text(f"Disconnected account {actor.account_id} from its PSA."))


def _view_json(view: ConnectionView) -> dict[str, Any]:
    return {
        "account_id": view.account_id,
        "provider": view.provider,
        "settings": view.settings,
        "credentials_set": list(view.credentials_set),
        "created_at": view.created_at.isoformat(),
        "updated_at": view.updated_at.isoformat(),
    }


def _discovered_grid(facts: dict[str, str], choices: dict[str, list[str]]) -> Table:
    """What the test found in the PSA: the facts used, then what the owner may choose from."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for key, value in facts.items():
        grid.add_row(clean(key), Text(clean(value)))
    for key, values in choices.items():
        grid.add_row(clean(f"{key} available"), Text(clean(", ".join(values) or "none")))
    return grid


def _view_grid(view: ConnectionView) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row("Account", Text(view.account_id))
    grid.add_row("Provider", Text(view.provider))
    for key, value in sorted(view.settings.items()):
        if key == "statuses":
            value = ", ".join(f"{change} → {name}" for change, name in value.items()) or "—"
        grid.add_row(clean(key), Text(clean(str(value))))
    grid.add_row("Credentials", Text(", ".join(view.credentials_set) + " (set, sealed)"))
    grid.add_row("Updated", render.moment(view.updated_at))
    return grid
