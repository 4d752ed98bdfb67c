"""``resolutionflow db``: the schema's migrations (upgrade, downgrade, current)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer
from rich.table import Table
from rich.text import Text

from resolutionflow_cli import startup
from resolutionflow_cli.errors import CliError, ExitCode
from resolutionflow_cli.options import JsonOption
from resolutionflow_cli.output import console, print_json
from resolutionflow_cli.runtime import load_settings, shown_url

T = TypeVar("T")

app = typer.Typer(
    help="The database schema: apply or roll back migrations, see where it stands.",
    no_args_is_help=True,
)


@app.command()
def upgrade(
    ctx: typer.Context,
    revision: Annotated[
        str, typer.Argument(help="The revision to reach; 'head' is the newest.")
    ] = "head",
    json_output: JsonOption = False,
) -> None:
    """Bring the schema to the newest revision (or REVISION); safe to run again.

    Example: `resolutionflow db upgrade`
    """
    _migrate(load_settings(ctx).database_url, "upgrade", revision, json_output)


@app.command()
def downgrade(
    ctx: typer.Context,
    revision: Annotated[
        str, typer.Argument(help="The revision to go back to; 'base' drops every table.")
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Take the schema back to REVISION.

    Tables and columns added since are dropped with their data, so it asks first.

    Example: `resolutionflow db downgrade 0004_api_keys_idempotency --yes`
    """
    _migrate(load_settings(ctx).database_url, "downgrade", revision, json_output, ask=not yes)


@app.command()
def reindex(
    ctx: typer.Context,
    check: Annotated[
        bool, typer.Option("--check", help="Only compare the index with a rebuild; change nothing.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Rebuild the search index from the sessions (or, with --check, only compare them).

    The database keeps the index by itself on every write; this repairs it after a restore,
    a manual edit or a schema change. Exits 1 when --check finds a difference.

    Example: `resolutionflow db reindex --check`
    """
    from resolutionflow_sqlalchemy import SqlStorage
    from resolutionflow_sqlalchemy.search import IndexCheck, check_index
    from resolutionflow_sqlalchemy.search import reindex as rebuild

    url = load_settings(ctx).database_url
    if _missing_sqlite_file(url):
        raise CliError(f"no database at {shown_url(url)}: run 'resolutionflow db upgrade'")

    async def work() -> IndexCheck:
        storage = SqlStorage.from_url(url, bulk=not check)  # a rebuild rewrites the index
        try:
            if check:
                return await storage.database.read(check_index)
            return await storage.database.write(rebuild)
        finally:
            await storage.dispose()

    startup.started()  # a rebuild reads every session: collect as usual
    result = asyncio.run(work())
    if json_output:
        print_json(
            {
                "database": shown_url(url),
                "action": "check" if check else "reindex",
                "sessions": result.sessions,
                "indexed": result.indexed,
                "stale": [str(s) for s in result.stale],
                "orphans": result.orphans,
                "engine_consistent": result.engine_consistent,
                "clean": result.clean,
            }
        )
    else:
        verb = "Checked" if check else "Reindexed"
        state = "matches a rebuild" if result.clean else "differs from a rebuild"
        console().print(
            Text(
                f"{verb} {shown_url(url)}: {result.indexed} of {result.sessions} sessions "
                f"indexed, {len(result.stale)} stale, {result.orphans} orphaned; "
                f"the index {state}."
            )
        )
    if not result.clean:
        raise typer.Exit(1)


@app.command()
def current(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Show the schema's revision and whether it is the newest.

    Example: `resolutionflow db current --json`
    """
    from resolutionflow_sqlalchemy import migrations

    url = load_settings(ctx).database_url
    revision = _run(_current(url))
    heads = migrations.heads()
    up_to_date = revision in heads
    if json_output:
        print_json(
            {
                "database": shown_url(url),
                "current": revision,
                "heads": list(heads),
                "up_to_date": up_to_date,
            }
        )
        return
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("Database", Text(shown_url(url)))
    grid.add_row("Revision", Text(revision or "none (no schema yet)"))
    grid.add_row("Newest", Text(", ".join(heads)))
    state = (
        Text("up to date", style="green")
        if up_to_date
        else Text.assemble(("behind", "yellow"), ": run 'resolutionflow db upgrade'")
    )
    grid.add_row("State", state)
    console().print(grid)


def _migrate(
    url: str,
    action: Literal["upgrade", "downgrade"],
    revision: str,
    as_json: bool,
    *,
    ask: bool = False,
) -> None:
    """Move the schema to ``revision`` and report from where to where; ``ask``: confirm
    first (a downgrade drops what was added since, data and all)."""
    from resolutionflow_sqlalchemy import migrations

    before = _run(_current(url))
    if ask:
        typer.confirm(
            f"{action.capitalize()} {shown_url(url)} from {before or 'an empty schema'} to "
            f"{revision}? Tables and columns added since are dropped with their data",
            abort=True,
        )
    move = migrations.upgrade if action == "upgrade" else migrations.downgrade
    _run(move(url, revision))
    after = _run(migrations.current(url))
    _report(action, url, before, after, as_json)


def _report(action: str, url: str, before: str | None, after: str | None, as_json: bool) -> None:
    if as_json:
        print_json({"database": shown_url(url), "action": action, "from": before, "to": after})
        return
    if before == after:
        message = f"{shown_url(url)} is already at {after or 'an empty schema'}."
    else:
        message = (
            f"{action.capitalize()}d {shown_url(url)}: "
            f"{before or 'empty'} → {after or 'empty (every table dropped)'}."
        )
    console().print(Text(message))


async def _current(url: str) -> str | None:
    """The revision, without creating a SQLite file that does not exist yet."""
    from resolutionflow_sqlalchemy import migrations

    if _missing_sqlite_file(url):
        return None
    return await migrations.current(url)


def _missing_sqlite_file(url: str) -> bool:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return False
    return not Path(parsed.database).exists()


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a migration coroutine; Alembic's refusals become one-line errors."""
    from alembic.util.exc import CommandError

    from resolutionflow_sqlalchemy import migrations

    startup.started()  # a migration may rewrite every row: collect as usual
    try:
        return asyncio.run(coroutine)
    except CommandError as error:
        raise CliError(f"migration refused: {error}", ExitCode.USAGE) from None
    except migrations.MigrationRefused as error:
        raise CliError(f"migration refused: {error}", ExitCode.REFUSED) from None
