"""``resolutionflow migrate``: moving data of the legacy stores into sessions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from resolutionflow_cli import views
from resolutionflow_cli.errors import CliError, ExitCode
from resolutionflow_cli.options import JsonOption
from resolutionflow_cli.output import clean, console, print_json
from resolutionflow_cli.runtime import call, load_settings

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from resolutionflow_app import Application
    from resolutionflow_sqlalchemy import MigrationProgress, MigrationReport

app = typer.Typer(help="Move legacy data into unified sessions.", no_args_is_help=True)

LISTED = 10
"""How many unmigrated chats and refused messages the summary lists."""


@app.command("assistant-chats")
def assistant_chats(
    ctx: typer.Context,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            min=1,
            max=10_000,
            help="Chats per transaction [default: the adapter's, 500].",
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Migrate the legacy assistant chats into chat sessions; safe to run twice.

    Shows a progress bar and a summary. Chats already migrated are left as they are; an
    interrupted run continues where it stopped.

    Example: `resolutionflow migrate assistant-chats --batch-size 200`
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from resolutionflow_sqlalchemy import MigrationInterrupted, migrate_assistant_chats
    from resolutionflow_sqlalchemy.legacy import DEFAULT_BATCH_SIZE

    err = console(stderr=True)
    columns = (
        TextColumn("Migrating assistant chats"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, disable=not err.is_terminal) as progress:
        task = progress.add_task("chats", total=None)

        def advance(state: MigrationProgress) -> None:
            progress.update(task, total=state.total, completed=state.done)

        async def work(app: Application) -> MigrationReport:
            return await migrate_assistant_chats(
                app.storage.database, batch_size=batch_size or DEFAULT_BATCH_SIZE, progress=advance
            )

        try:
            report = call(load_settings(ctx), work)
        except MigrationInterrupted as interrupted:
            _finish(progress, task, interrupted.report)
            _show(interrupted.report, json_output)
            cause = interrupted.__cause__
            why = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
            raise CliError(f"{interrupted}{why}", ExitCode.UNAVAILABLE) from None
        _finish(progress, task, report)
    _show(report, json_output)


def _finish(progress: Progress, task: TaskID, report: MigrationReport) -> None:
    progress.update(task, total=max(report.total, report.done), completed=report.done)


def _show(report: MigrationReport, as_json: bool) -> None:
    if as_json:
        print_json(views.report_view(report))
        return
    out = console()
    out.print(_summary(report))
    _list_problems(out, report)


def _summary(report: MigrationReport) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(justify="right")
    grid.add_row("Legacy chats", str(report.total))
    grid.add_row("Migrated now", Text(str(report.migrated), style="green"))
    grid.add_row("Already migrated", str(report.already_migrated))
    not_migrated = len(report.not_migrated)
    grid.add_row("Not migrated", Text(str(not_migrated), style="yellow" if not_migrated else ""))
    refused = len(report.refused_messages)
    grid.add_row("Messages left out", Text(str(refused), style="yellow" if refused else ""))
    return grid


def _list_problems(out: Console, report: MigrationReport) -> None:
    if report.not_migrated:
        out.print(Text("Chats not migrated (they stay in assistant_chats):", style="bold"))
        for chat in report.not_migrated[:LISTED]:
            out.print(Text(clean(f"  {chat.chat_id}: {chat.reason}")), soft_wrap=True)
        _more(out, len(report.not_migrated))
    if report.refused_messages:
        out.print(Text("Messages left out (still in assistant_chats):", style="bold"))
        for message in report.refused_messages[:LISTED]:
            out.print(
                Text(clean(f"  {message.chat_id} #{message.index}: {message.reason}")),
                soft_wrap=True,
            )
        _more(out, len(report.refused_messages))


def _more(out: Console, count: int) -> None:
    if count > LISTED:
        out.print(Text(f"  … and {count - LISTED} more (--json lists them all)", style="dim"))
