"""``resolutionflow users``: people who sign in to the web app (create, list).

``users create`` prints a one-time password, or with ``--password-stdin`` reads the password
from standard input (so it never lands in the shell history). Only an argon2id hash of it
is stored.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from resolutionflow_cli.errors import CliError
from resolutionflow_cli.options import JsonOption
from resolutionflow_cli.output import clean, console, print_json, print_table
from resolutionflow_cli.runtime import call, load_settings
from resolutionflow_core.access import Role
from resolutionflow_core.errors import InvalidInput
from resolutionflow_core.users import User, UserExists, new_password, register_user

if TYPE_CHECKING:
    from resolutionflow_app import Application

app = typer.Typer(
    help="Users of the web app: each belongs to an account and has a role.",
    no_args_is_help=True,
)


@app.command()
def create(
    ctx: typer.Context,
    account: Annotated[str, typer.Option("--account", help="The account (MSP) of the user.")],
    email: Annotated[str, typer.Option("--email", help="The address the user signs in with.")],
    role: Annotated[Role, typer.Option("--role", help="The user's role.")],
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from standard input."),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Create a user; without --password-stdin a one-time password is printed.

    Example: `resolutionflow users create --account acme --email alice@acme.example --role engineer`
    """
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else new_password()
    settings = load_settings(ctx)

    async def work(app: Application) -> User:
        from resolutionflow_app.passwords import Argon2Passwords

        return await register_user(
            app.users,
            Argon2Passwords(),
            account_id=account,
            email=email,
            role=role,
            password=password,
            now=app.clock.now(),
        )

    try:
        user = call(settings, work)
    except (InvalidInput, UserExists) as error:
        raise CliError(f"cannot create the user: {error.message}") from None
    shown = None if password_stdin else password
    if json_output:
        print_json(
            {"account": user.account_id, "email": user.email, "role": user.role.value}
            | ({"password": shown} if shown else {})
        )
        return
    out = console()
    out.print(
        Text(clean(f"Created user {user.email} ({user.role.value}) in account {user.account_id}."))
    )
    if shown:
        out.print(Text("Password (shown this once; give it to the user to sign in with):"))
        out.print(Text(f"    {shown}", style="bold"), soft_wrap=True)


@app.command("list")
def list_users(
    ctx: typer.Context,
    account: Annotated[str, typer.Option("--account", help="The account.")],
    json_output: JsonOption = False,
) -> None:
    """List an account's users (never their password hashes)."""

    async def work(app: Application) -> list[User]:
        return await app.users.list(account.strip())

    users = call(load_settings(ctx), work)
    rows = [[u.email, u.role.value, u.created_at.isoformat(timespec="seconds")] for u in users]
    if json_output:
        print_json([{"email": r[0], "role": r[1], "created_at": r[2]} for r in rows])
        return
    if not rows:
        console().print(Text(clean(f"No users in {account!r}.")))
        return
    table = Table("email", "role", "created")
    for row in rows:
        table.add_row(*(Text(clean(cell)) for cell in row))
    print_table(console(), table)
