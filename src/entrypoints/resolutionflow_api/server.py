"""Serving the API: `run(settings)` is what ``resolutionflow serve`` runs.

Before serving it checks the configuration (an Anthropic LLM without a key is a
`StartupError`, not a traceback), applies the migrations (``migrate_on_start``) and, on the
first start with no API key at all, creates an owner key and prints it once to the console:
the API never answers without a key. One worker serves the app built here; several are
separate uvicorn processes that each build theirs from the environment
(`resolutionflow_api.asgi:app_factory`), so the settings are exported there first.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import FrameType
from typing import TextIO

import uvicorn
from litestar.types import ASGIApp
from sqlalchemy.engine import make_url
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from resolutionflow_api.app import API_PREFIX, SCHEMA_PATH, STREAM_GRACE_SECONDS, create_app
from resolutionflow_app import (
    Application,
    Settings,
    StartupError,
    open_application,
    prepare_database,
)
from resolutionflow_core.access import Actor, Role
from resolutionflow_core.keys import KeyStore, NewKey
from resolutionflow_core.ports import Clock

FIRST_KEY_ACTOR = Actor("default", "owner", Role.OWNER)
FIRST_KEY_LABEL = "created on first start"
FACTORY = "resolutionflow_api.asgi:app_factory"
HTTP_PROTOCOL = "resolutionflow_api.server:NoDelayHTTPProtocol"
WORKER_HEALTHCHECK_SECONDS = 60
"""How long uvicorn's supervisor waits for a worker to answer its ping before it kills and
restarts it. uvicorn's default, 5 s, is shorter than a worker's start (importing the app)
on a loaded machine: each worker was killed before it could answer, restarted, killed
again, and ``--workers 2`` never served (seen at load average 10 on 2 cores)."""


def run(settings: Settings) -> None:
    """Serve until interrupted (SIGINT, SIGTERM); `StartupError` if it cannot start."""
    asyncio.run(prepare(settings))
    options = {
        "host": settings.host,
        "port": settings.port,
        "log_level": "info",
        "timeout_graceful_shutdown": int(STREAM_GRACE_SECONDS),
        "http": HTTP_PROTOCOL,
    }
    with _stopping_is_returning():
        if settings.workers == 1:
            app = served_app(open_application(settings))
            uvicorn.run(app, **options)  # type: ignore[arg-type]
        else:
            export(settings)
            uvicorn.run(
                FACTORY,
                factory=True,
                workers=settings.workers,
                timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
                **options,  # type: ignore[arg-type]
            )


def served_app(application: Application) -> ASGIApp:
    """The API, with the web app at ``/`` beside it when the ``[web]`` extra is installed."""
    api = create_app(application, close_application=True)
    try:
        from resolutionflow_web import create_web_app
        from resolutionflow_web.mount import beside
    except ImportError:  # installed without the [web] extra: the API alone
        return api
    web = create_web_app(application)
    return beside(api, web, (API_PREFIX, SCHEMA_PATH, "/health"))


class NoDelayHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol, with Nagle's algorithm off on every connection.

    With several workers uvicorn binds the listening socket itself as
    ``socket.socket(family)``, protocol 0; asyncio sets ``TCP_NODELAY`` on accepted
    connections only when the socket's protocol is ``IPPROTO_TCP``, so it does not. A
    response then written in two parts (head and body) waits for the client's delayed ACK:
    ~40 ms per keep-alive request. One worker binds through ``create_server``, which gets
    ``IPPROTO_TCP`` and the option; this makes both the same.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with suppress(OSError):  # the connection went away already
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


@contextmanager
def _stopping_is_returning() -> Iterator[None]:
    """After a graceful shutdown uvicorn raises the SIGTERM or SIGINT it caught again, which
    would kill the process (or raise KeyboardInterrupt): with these handlers in place, a
    stop asked for by a signal is a normal return, and the command exits with status 0."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stops = (signal.SIGINT, signal.SIGTERM)
    previous = {stop: signal.signal(stop, _ignore) for stop in stops}
    try:
        yield
    finally:
        for stop, handler in previous.items():
            signal.signal(stop, handler)


def _ignore(_signal: int, _frame: FrameType | None) -> None:
    """The server has already shut down gracefully when this runs."""


async def prepare(settings: Settings, out: TextIO | None = None) -> NewKey | None:
    """Check the settings, migrate, and create (and print) the first key if there is none."""
    application = open_application(settings)  # raises StartupError for a bad LLM choice
    try:
        try:
            if settings.migrate_on_start:
                await prepare_database(settings)
            new_key = await ensure_first_key(application.keys, application.clock)
        except Exception as error:  # at start-up any failure here is the operator's to fix
            hint = (
                "" if settings.migrate_on_start else " (migrations are off: is the schema there?)"
            )
            raise StartupError(
                f"cannot use the database {redacted(settings.database_url)}{hint}: "
                f"{type(error).__name__}: {error}"
            ) from error
    finally:
        await application.close()
    if new_key is not None:
        announce(new_key, settings, out or sys.stdout)
    return new_key


async def ensure_first_key(keys: KeyStore, clock: Clock) -> NewKey | None:
    """An owner key when there is no key at all (never one when any exists, even revoked)."""
    if await keys.list():
        return None
    return await keys.create(FIRST_KEY_ACTOR, FIRST_KEY_LABEL, now=clock.now())


def announce(new_key: NewKey, settings: Settings, out: TextIO) -> None:
    """Print the first key, once, with how to use it."""
    host = settings.host if settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    base = f"http://{f'[{host}]' if ':' in host else host}:{settings.port}"
    actor = new_key.key.actor
    rule = "─" * 72
    out.write(
        f"\n{rule}\n"
        f"ResolutionFlow: there was no API key, so an owner key was created\n"
        f'(account "{actor.account_id}", user "{actor.user_id}", role {actor.role}).\n'
        f"It is shown this once only; store it now:\n\n"
        f"    {new_key.secret}\n\n"
        f"Send it with every request:\n"
        f'    curl -H "Authorization: Bearer {new_key.secret}" {base}/api/v1/ai-sessions\n'
        f"API docs: {base}{SCHEMA_PATH}\n\n"
        f"To sign in to the web app at {base}/, create the first user:\n"
        f"    resolutionflow users create --account {actor.account_id} "
        f"--email you@example.com --role owner\n"
        f"{rule}\n\n"
    )
    out.flush()


def export(settings: Settings) -> None:
    """Put the settings in the environment, where each worker process reads them."""
    for name in Settings.model_fields:
        variable = f"RESOLUTIONFLOW_{name.upper()}"
        value = getattr(settings, name)
        if value is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = str(value).lower() if isinstance(value, bool) else str(value)


def redacted(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: say so without echoing it
        return "(unparsable URL)"
