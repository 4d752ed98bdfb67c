"""``resolutionflow keys``: API keys for the HTTP API (create, list, revoke).

A key's secret is shown once, by ``keys create``; only a hash of it is stored, so nothing
can show it again. ``keys list`` shows the prefix that identifies a key, never a secret.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import typer
from rich.text import Text

from resolutionflow_cli import render, views
from resolutionflow_cli.errors import CliError, ExitCode
from resolutionflow_cli.options import JsonOption
from resolutionflow_cli.output import clean, console, print_json, print_table
from resolutionflow_cli.runtime import call, load_settings
from resolutionflow_core.access import Actor, Role
from resolutionflow_core.errors import InvalidInput
from resolutionflow_core.keys import ApiKey, NewKey

if TYPE_CHECKING:
    from resolutionflow_app import Application, Settings

app = typer.Typer(
    help="API keys for the HTTP API: each is bound to an account, a user and a role.",
    no_args_is_help=True,
)

AccountFilter = Annotated[
    str | None, typer.Option("--account", help="Only the keys of this account.")
]


@app.command()
def create(
    ctx: typer.Context,
    account: Annotated[str, typer.Option("--account", help="The account (MSP) it acts for.")],
    user: Annotated[str, typer.Option("--user", help="The user it acts as.")],
    role: Annotated[Role, typer.Option("--role", help="The role it acts with.")],
    label: Annotated[
        str, typer.Option("--label", help="What the key is for, e.g. 'PSA webhook'.")
    ] = "",
    json_output: JsonOption = False,
) -> None:
    """Create an API key; its secret is shown this once.

    Example: `resolutionflow keys create --account acme --user alice --role engineer --label laptop`
    """
    try:
        actor = Actor(account, user, role)
    except InvalidInput as error:
        raise CliError(f"cannot create the key: {error.message}") from None
    settings = load_settings(ctx)

    async def work(app: Application) -> NewKey:
        return await app.keys.create(actor, label, now=app.clock.now())

    created = call(settings, work)
    if json_output:
        print_json(views.new_key_view(created))
        return
    _show_created(created, settings)


@app.command("list")
def list_keys(
    ctx: typer.Context, account: AccountFilter = None, json_output: JsonOption = False
) -> None:
    """List API keys with their state (never their secrets).

    Example: `resolutionflow keys list --account acme`
    """

    async def work(app: Application) -> list[ApiKey]:
        return await app.keys.list(account)

    found = call(load_settings(ctx), work)
    if json_output:
        print_json({"items": [views.key_view(key) for key in found]})
        return
    if not found:
        console().print(Text("No API keys." if account is None else f"No API keys in {account!r}."))
        return
    print_table(console(), render.keys_table(found))


@app.command()
def revoke(
    ctx: typer.Context,
    key_id: Annotated[UUID, typer.Argument(metavar="KEY_ID", help="The key's id.")],
    account: AccountFilter = None,
    json_output: JsonOption = False,
) -> None:
    """Revoke an API key; safe to run twice.

    Requests with the key are refused from then on.

    Example: `resolutionflow keys revoke 7d5e0c7e-3f43-4a51-9c55-2b4be4a0c2d1`
    """
    settings = load_settings(ctx)
    now: datetime | None = None

    async def work(app: Application) -> ApiKey | None:
        nonlocal now
        now = app.clock.now()
        return await app.keys.revoke(key_id, now=now, account_id=account)

    key = call(settings, work)
    if key is None:
        raise CliError(f"API key {key_id} not found", ExitCode.NOT_FOUND)
    if json_output:
        print_json(views.key_view(key))
        return
    if key.revoked_at == now:
        console().print(Text(f"Revoked API key {key.id} (rf_{key.prefix}_…)."))
    else:
        console().print(
            Text(f"API key {key.id} was already revoked on {render.moment(key.revoked_at)}.")
        )


def _show_created(created: NewKey, settings: Settings) -> None:
    key = created.key
    out = console()
    who = f"{key.actor.account_id}:{key.actor.user_id} ({key.actor.role.value})"
    label = f', label "{key.label}"' if key.label else ""
    out.print(Text(clean(f"Created API key {key.id} for {who}{label}.")))
    out.print()
    out.print(Text(created.secret, style="bold"), soft_wrap=True)
    out.print()
    out.print(
        Text(
            "This is the only time the key is shown: store it now (it cannot be shown "
            "again; revoke it and create another if it is lost).",
            style="yellow",
        )
    )
    out.print("Send it as a bearer token with every request to the HTTP API:")
    out.print(
        Text(f'  curl -H "Authorization: Bearer {created.secret}" {_api_url(settings)}'),
        soft_wrap=True,
    )
    out.print(Text(f"Revoke it with: resolutionflow keys revoke {key.id}"), soft_wrap=True)


API_PATH = "/api/v1/ai-sessions"
"""Where the HTTP API lists sessions (``resolutionflow_api.app.API_PREFIX`` + the resource)."""


def _api_url(settings: Settings) -> str:
    """The sessions URL of the API as ``resolutionflow serve`` would run it."""
    host = settings.host if settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}{API_PATH}"
