"""``resolutionflow secret-key``: make the key that seals PSA credentials at rest, and
``secret-key rotate``: seal every stored credential again with the newest key.

``RESOLUTIONFLOW_SECRET_KEY`` holds one key, or several separated by commas, the newest
first: the first seals, any of them opens. Rotating is: make a key, put it first, run
``rotate``, then drop the old keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.text import Text

from resolutionflow_cli.errors import CliError, ExitCode
from resolutionflow_cli.options import JsonOption
from resolutionflow_cli.output import console, print_json
from resolutionflow_cli.runtime import call, load_settings

if TYPE_CHECKING:
    from resolutionflow_app import Application
    from resolutionflow_app.psa import Resealed

app = typer.Typer(invoke_without_command=True)


@app.callback()
def secret_key(ctx: typer.Context) -> None:
    """Make a new key for RESOLUTIONFLOW_SECRET_KEY (it seals PSA credentials).

    The key is printed, not stored: keep it safe, and keep it in RESOLUTIONFLOW_SECRET_KEY
    for as long as credentials sealed with it are stored. To rotate, put a new key first
    (comma-separated, the newest first), run 'resolutionflow secret-key rotate', then drop
    the old one.

    Example: `export RESOLUTIONFLOW_SECRET_KEY="$(resolutionflow secret-key)"`
    """
    if ctx.invoked_subcommand is None:
        from resolutionflow_app.psa import Sealer

        typer.echo(Sealer.new_key())


@app.command()
def rotate(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Seal every stored PSA credential again with the newest key (the first one).

    Run it after putting a new key first in RESOLUTIONFLOW_SECRET_KEY, with the old keys
    still after it; then the old keys can go. Credentials none of the keys opens are left
    as they are and named (exit 1): add the key they were sealed with, or connect again.

    Example: `RESOLUTIONFLOW_SECRET_KEY="$NEW,$OLD" resolutionflow secret-key rotate`
    """
    from resolutionflow_app.psa import SECRET_KEY_HELP, secret_keys

    settings = load_settings(ctx)
    keys = len(secret_keys(settings.secret_key))
    if not keys:
        raise CliError(f"nothing to rotate to: {SECRET_KEY_HELP}")

    async def work(app: Application) -> Resealed:
        return await app.connections.reseal()

    done = call(settings, work)
    if json_output:
        print_json({"resealed": done.resealed, "locked": done.locked, "keys": keys})
    else:
        out = console()
        out.print(
            Text(
                f"Re-sealed the PSA credentials of {len(done.resealed)} account(s) with the "
                "newest key."
            )
        )
        if keys == 1:
            out.print(
                Text(
                    "Only one key is configured: put a new key first in "
                    "RESOLUTIONFLOW_SECRET_KEY (comma-separated) to rotate to it.",
                    style="dim",
                )
            )
    if done.locked:
        raise CliError(
            f"the credentials of {', '.join(done.locked)} open with none of the keys and were "
            "left as they are: add the key they were sealed with to RESOLUTIONFLOW_SECRET_KEY "
            "(after the newest), or connect again",
            ExitCode.REFUSED,
        )
