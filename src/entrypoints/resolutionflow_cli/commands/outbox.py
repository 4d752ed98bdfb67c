"""``resolutionflow outbox run``: deliver the PSA notes due on linked tickets.

The API delivers them from its own process too (``RESOLUTIONFLOW_RELAY_IN_PROCESS``); this
runs a relay on its own, e.g. beside API workers that do not, or once from a cron job.
Several relays may run at once: each due note is still delivered once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from resolutionflow_cli.options import JsonOption
from resolutionflow_cli.output import console, print_json
from resolutionflow_cli.runtime import Workbench, load_settings

if TYPE_CHECKING:
    from resolutionflow_app import Application
    from resolutionflow_core.delivery import RelayReport

app = typer.Typer(help="The outbox of PSA notes due on linked tickets.", no_args_is_help=True)


@dataclass
class Totals:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    def add(self, report: RelayReport) -> None:
        self.delivered += report.delivered
        self.retrying += report.retrying
        self.failed += report.failed

    def __str__(self) -> str:
        return f"{self.delivered} delivered, {self.retrying} to retry later, {self.failed} failed"


@app.command("run")
def run(
    ctx: typer.Context,
    once: Annotated[
        bool, typer.Option("--once", help="One pass over the notes due now, then stop.")
    ] = False,
    interval: Annotated[
        float,
        typer.Option("--interval", min=0.1, help="Seconds between passes when nothing is due."),
    ] = 2.0,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=500, help="Notes claimed per pass.")
    ] = 20,
    json_output: JsonOption = False,
) -> None:
    """Deliver the PSA notes due on linked tickets, until Ctrl-C (or once).

    Resolution notes, escalation packages and ticket-note updates, retried with backoff;
    each is delivered once even with several relays running.

    Example: `resolutionflow outbox run --once`
    """
    totals = Totals()
    out = console()
    with Workbench(load_settings(ctx)) as bench:
        if once:
            totals.add(bench.run(bench.app.relay().run_once(limit=limit)))
        else:
            if not json_output:
                out.print(Text("Delivering due PSA notes; Ctrl-C stops.", style="dim"))
            with contextlib.suppress(KeyboardInterrupt):
                bench.run(_deliver(bench.app, totals, limit, interval, quiet=json_output))
    if json_output:
        print_json(
            {"delivered": totals.delivered, "retrying": totals.retrying, "failed": totals.failed}
        )
        return
    out.print(Text(f"{'Done' if once else 'Stopped'}: {totals}."))


async def _deliver(
    application: Application, totals: Totals, limit: int, interval: float, *, quiet: bool
) -> None:
    """Pass after pass until stopped (Ctrl-C, or SIGTERM from a process manager)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    relay = application.relay()
    while not stop.is_set():
        report = await relay.run_once(limit=limit)
        totals.add(report)
        if report.delivered or report.retrying or report.failed:
            if not quiet:
                stamp = datetime.now().strftime("%H:%M:%S")
                console().print(
                    Text(
                        f"{stamp}  {report.delivered} delivered, {report.retrying} to retry, "
                        f"{report.failed} failed"
                    )
                )
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
