"""``resolutionflow serve``: the HTTP API (``resolutionflow_api.server``)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, cast

import typer

from resolutionflow_cli.errors import CliError, ExitCode
from resolutionflow_cli.runtime import load_settings

if TYPE_CHECKING:
    from resolutionflow_app import Settings

SERVER_MODULE = "resolutionflow_api.server"


def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None,
        typer.Option(
            "--host", help="Address to listen on [default: RESOLUTIONFLOW_HOST, 127.0.0.1]"
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=1, max=65535, help="Port [default: RESOLUTIONFLOW_PORT, 8000]"),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", min=1, max=64, help="Worker processes [default: RESOLUTIONFLOW_WORKERS, 1]"
        ),
    ] = None,
) -> None:
    """Run the HTTP API until stopped (Ctrl-C).

    The options override the RESOLUTIONFLOW_* settings; the schema is migrated on start
    unless RESOLUTIONFLOW_MIGRATE_ON_START=false.

    Example: `resolutionflow serve --host 0.0.0.0 --port 8080 --workers 4`
    """
    settings = load_settings(ctx, host=host, port=port, workers=workers)
    run = _server()
    run(settings)


def _server() -> Callable[[Settings], None]:
    """``resolutionflow_api.server.run``, imported only when serving (it loads Litestar)."""
    try:
        module = importlib.import_module(SERVER_MODULE)
    except ImportError as error:
        raise CliError(
            f"the HTTP API is not available ({error}); install it with 'resolutionflow[api]'",
            ExitCode.USAGE,
        ) from None
    return cast("Callable[[Settings], None]", module.run)
