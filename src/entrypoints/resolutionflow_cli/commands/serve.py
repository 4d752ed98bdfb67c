"""``resolutionflow serve``: the HTTP API (``resolutionflow_api.server``)."""

from __future__ import annotations

import errno
import importlib
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, cast

import typer

from resolutionflow_cli import startup
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
    check_can_listen(settings.host, settings.port)
    startup.started()  # the server runs for long: collect as usual
    try:
        run(settings)
    except SystemExit as stopped:
        # uvicorn exits 3 when it cannot start (its message is in the log above); 3 means
        # "not found" here, so say what happened with the documented code instead.
        if stopped.code in (None, 0):
            raise
        raise CliError(
            f"the server could not start on {settings.host}:{settings.port} (see the log above)",
            ExitCode.UNAVAILABLE,
        ) from None


def check_can_listen(host: str, port: int) -> None:
    """Refuse, in one line, an address the server could not listen on (before migrating).

    A port in use is "unavailable" (exit 4: stop the other server or wait); an address
    that cannot be used at all (unknown host, a privileged port) is a usage error (exit 2).
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError) as error:
        raise CliError(f"cannot listen on host {host!r}: {error}", ExitCode.USAGE) from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as error:
            reason = error.strerror or str(error)
            if error.errno == errno.EADDRINUSE:
                raise CliError(
                    f"port {port} is in use ({reason} on {host}); stop what listens there "
                    "or choose another with --port",
                    ExitCode.UNAVAILABLE,
                ) from None
            raise CliError(f"cannot listen on {host}:{port} ({reason})", ExitCode.USAGE) from None


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
