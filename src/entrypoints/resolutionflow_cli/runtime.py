"""What every command needs: the settings, the acting identity, and the application.

A command opens a `Workbench`: one event loop (an `asyncio.Runner`) and the application
built by the composition root on it. Interactive commands read the keyboard *between*
runs on that loop, so Ctrl-C at a prompt is an ordinary KeyboardInterrupt and Ctrl-C while
the assistant answers stops only that answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

import typer
from rich.text import Text

from resolutionflow_cli import startup
from resolutionflow_cli.errors import CliError, ExitCode
from resolutionflow_cli.output import console
from resolutionflow_core.access import Actor, Role
from resolutionflow_core.errors import InvalidInput

if TYPE_CHECKING:
    from resolutionflow_app import Application, Settings
    from resolutionflow_sqlalchemy.engine import Database

T = TypeVar("T")

DEFAULT_ACTOR = "default:owner:owner"
"""Who the command line acts as by default: the operator, owner of their own machine."""

ACTOR_ENV = "RESOLUTIONFLOW_ACTOR"


@dataclass(frozen=True, slots=True)
class CliState:
    """Options of the root command, handed to every subcommand through the context."""

    database_url: str | None = None
    open_application: Callable[[Settings], Application] | None = None
    """How commands build their application: the composition root's `open_application`
    unless the caller (a test, a program embedding the CLI) hands its own in Click's
    ``obj`` (the root command keeps it, `opened_by`)."""


# -- settings -------------------------------------------------------------------------------


def load_settings(ctx: typer.Context, **overrides: Any) -> Settings:
    """`Settings` from ``RESOLUTIONFLOW_*``, with the root options and ``overrides`` on top."""
    from pydantic import ValidationError

    from resolutionflow_app import Settings

    state = ctx.find_object(CliState) or CliState()
    values = {name: value for name, value in overrides.items() if value is not None}
    if state.database_url is not None:
        values.setdefault("database_url", state.database_url)
    try:
        settings = Settings(**values)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        name = f"RESOLUTIONFLOW_{where.upper()}" if where else "settings"
        raise CliError(f"invalid setting {name}: {first['msg']}", ExitCode.USAGE) from None
    _check_database_url(settings.database_url)
    return settings


def _check_database_url(url: str) -> None:
    """Refuse a URL of a database the adapter does not support, or a SQLite file in a
    directory that does not exist (SQLite would only say "unable to open database file")."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        parsed = None
    backend = parsed.get_backend_name() if parsed is not None else None
    if parsed is None or backend not in ("sqlite", "postgresql"):
        raise CliError(
            f"unsupported database URL {shown_url(url)!r}: use sqlite:///path/file.sqlite3 "
            "or postgresql://user:password@host:5432/database"
        )
    if backend == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).expanduser().absolute().parent
        if not folder.is_dir():
            raise CliError(
                f"cannot open the database {shown_url(url)}: the directory {folder} does not exist"
            )


def shown_url(url: str) -> str:
    """The database URL as it may be shown: without its password."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def _is_new_sqlite_file(url: str) -> bool:
    """A SQLite database that does not exist yet, or is an empty file."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return False
    if parsed.database in (None, "", ":memory:"):
        return True
    path = Path(parsed.database).expanduser()
    return not path.exists() or path.stat().st_size == 0


# -- identity -------------------------------------------------------------------------------


def parse_actor(value: str) -> Actor:
    """``ACCOUNT:USER:ROLE`` as an `Actor`; a `typer.BadParameter` that says why otherwise."""
    parts = [part.strip() for part in value.rsplit(":", 2)]
    if len(parts) != 3:
        raise typer.BadParameter(f"expected ACCOUNT:USER:ROLE, got {value!r}")
    account, user, role = parts
    try:
        chosen = Role(role.lower())
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise typer.BadParameter(f"the role must be one of {roles}, got {role!r}") from None
    try:
        return Actor(account, user, chosen)
    except InvalidInput as error:
        raise typer.BadParameter(f"{error.message} (expected ACCOUNT:USER:ROLE)") from None


# -- the application ------------------------------------------------------------------------


class Workbench:
    """The application on one event loop, for the length of one command."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._runner = asyncio.Runner()
        self._app: Application | None = None

    @property
    def app(self) -> Application:
        if self._app is None:
            raise RuntimeError("the workbench is not open")
        return self._app

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the workbench's loop, to completion."""
        return self._runner.run(coroutine)

    def __enter__(self) -> Self:
        try:
            self._app = self._open()
        except BaseException:
            self._runner.close()
            raise
        startup.started()  # the modules a command needs are loaded
        return self

    def _open(self) -> Application:
        """The application, on a database whose schema is this version's (`ensure_schema`)."""
        factory = _OPEN_APPLICATION.get()
        if factory is not None:  # a test's or an embedding program's: its own database
            self.run(ensure_schema(self.settings))
            return factory(self.settings)
        from resolutionflow_app import open_application, open_storage

        # The schema is checked on the storage the application then works on: one engine
        # and one connection set up, not a second pair for the check.
        storage = open_storage(self.settings)
        try:
            self.run(ensure_schema(self.settings, storage.database))
            return open_application(self.settings, storage=storage)
        except BaseException:
            self.run(storage.dispose())
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._app is not None:
                self.run(self._app.close())
        finally:
            self._runner.close()


_OPEN_APPLICATION: ContextVar[Callable[[Settings], Application] | None] = ContextVar(
    "open_application", default=None
)


@contextlib.contextmanager
def opened_by(factory: Callable[[Settings], Application] | None) -> Iterator[None]:
    """For the length of one command line, its applications are built by ``factory`` (the
    composition root's `open_application` when None)."""
    token = _OPEN_APPLICATION.set(factory)
    try:
        yield
    finally:
        _OPEN_APPLICATION.reset(token)


def call(settings: Settings, work: Callable[[Application], Coroutine[Any, Any, T]]) -> T:
    """Open the application, run ``work`` with it, close it."""
    with Workbench(settings) as bench:
        return bench.run(work(bench.app))


async def ensure_schema(settings: Settings, database: Database | None = None) -> None:
    """Refuse to work on a database whose schema is not this version's.

    A new SQLite file (the embedded default) gets the schema on first use: zero set-up on
    one machine. Anything else is left to ``resolutionflow db upgrade``. The common case
    is read through ``database`` when given (the application's, left open).
    """
    from resolutionflow_sqlalchemy.schema_version import is_current

    url = settings.database_url
    new_file = _is_new_sqlite_file(url)  # before `current`, which creates the file
    # The common case without Alembic (half a second to import); any other answer is
    # Alembic's to give.
    if not new_file and await is_current(url, database):
        return
    from resolutionflow_sqlalchemy import migrations

    current = await migrations.current(url)
    newest = migrations.heads()
    if current in newest:
        return
    if current is None and new_file:
        await migrations.upgrade(url)
        notice = f"Created the database schema in {shown_url(url)} (revision {newest[0]})."
        console(stderr=True).print(Text(notice, style="dim"), soft_wrap=True)
        return
    wanted = ", ".join(newest)
    if current is None:
        raise CliError(
            f"the database {shown_url(url)} has no schema yet: run 'resolutionflow db upgrade'"
        )
    raise CliError(
        f"the database {shown_url(url)} is at revision {current}, this version of "
        f"resolutionflow works on {wanted}: run 'resolutionflow db upgrade'"
    )
