"""The ``resolutionflow`` command: the root of the command tree and `main`.

Every refusal reaches `OneLineErrors.main` and leaves as one line on stderr with an exit
code from `resolutionflow_cli.errors`: Typer's own usage errors too, and the domain errors
the commands let through. Only a bug shows a traceback (without local variables: a
local might hold a secret).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from resolutionflow_cli.commands import (
    chat,
    db,
    guide,
    keys,
    lifecycle,
    migrate,
    outbox,
    psa,
    secret_key,
    serve,
    sessions,
    ticket,
    users,
)
from resolutionflow_cli.errors import ExitCode, one_line, refusal
from resolutionflow_cli.output import print_refusal
from resolutionflow_cli.runtime import CliState, opened_by

HELP = """\
ResolutionFlow sessions from the terminal: guided troubleshooting and chat with the
assistant, their lifecycle, API keys and the database, working directly on the configured
database (RESOLUTIONFLOW_DATABASE_URL, by default ./resolutionflow.sqlite3).

Commands that act on sessions run as --as ACCOUNT:USER:ROLE (or RESOLUTIONFLOW_ACTOR),
by default default:owner:owner. --as and --database-url work before or after the command.
Exit codes: 0 done, 1 refused, 2 usage or configuration, 3 not found, 4 unavailable
(database, LLM, PSA), 130 interrupted.

Example: `resolutionflow sessions new --type guided "The office printer is offline"`
"""


class OneLineErrors(TyperGroup):
    """Runs the command tree and turns every refusal into one line and an exit code."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        args = placed_options(list(sys.argv[1:] if args is None else args))
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        try:
            result = super().main(
                args, prog_name, complete_var, False, windows_expand_args, **extra
            )
        except typer.Abort:
            print_refusal("aborted", ExitCode.REFUSED)
            sys.exit(ExitCode.REFUSED)
        except typer.TyperException as error:
            sys.exit(_usage_error(error))
        except Exception as error:
            mapped = refusal(error)
            if mapped is None:
                raise
            code, message = mapped
            print_refusal(message, code)
            sys.exit(code)
        sys.exit(result if isinstance(result, int) else ExitCode.OK)


ROOT_OPTIONS = ("--database-url",)
"""Options of the root command (before the command name for Click)."""

COMMAND_OPTIONS = ("--as",)
"""Options of the commands (after the command name for Click)."""

_ROOT_FLAGS = frozenset({"--version", "-h", "--help"})


def placed_options(args: list[str]) -> list[str]:
    """``args`` with ``--database-url`` and ``--as`` moved where Click expects them, so both
    work before and after the command (``resolutionflow --as a:u:r pause ID`` and
    ``resolutionflow pause ID --database-url URL`` mean what they say). Nothing after
    ``--`` is touched."""
    hoisted: list[str] = []  # --as given before the command
    index = 0
    while index < len(args):
        token = args[index]
        name, has_value = _option(token)
        if name in ROOT_OPTIONS:
            index += 1 if has_value else 2
        elif name in COMMAND_OPTIONS:
            taken = 1 if has_value else 2
            hoisted += args[index : index + taken]
            del args[index : index + taken]
        elif token in _ROOT_FLAGS:
            index += 1
        else:
            break  # the command name
    head, rest = args[:index], args[index:]
    end = rest.index("--") if "--" in rest else len(rest)
    moved: list[str] = []  # --database-url given after the command
    tail: list[str] = []
    position = 0
    while position < end:
        token = rest[position]
        name, has_value = _option(token)
        if name in ROOT_OPTIONS:
            taken = 1 if has_value else 2
            moved += rest[position : position + taken]
            position += taken
        else:
            tail.append(token)
            position += 1
    return [*moved, *head, *tail, *hoisted, *rest[end:]]


def _option(token: str) -> tuple[str, bool]:
    """The option a token names, and whether it carries its value (``--name=value``)."""
    name, equals, _ = token.partition("=")
    return name, bool(equals)


def _usage_error(error: typer.TyperException) -> int:
    """Typer's usage errors (a missing option, a bad value) as one line; exit code 2."""
    code = int(getattr(error, "exit_code", ExitCode.USAGE))
    ctx = getattr(error, "ctx", None)
    if type(error).__name__ == "NoArgsIsHelpError":
        return code  # a group run without a subcommand: Typer has printed its help
    message = one_line(error.format_message()) if hasattr(error, "format_message") else ""
    if ctx is not None:
        message = f"{message} (see '{ctx.command_path} --help')"
    print_refusal(message or type(error).__name__, ExitCode.USAGE)
    return code


def _version(value: bool) -> None:
    if value:
        typer.echo(f"resolutionflow {_installed_version()}")
        raise typer.Exit()


def _installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("resolutionflow")
    except PackageNotFoundError:
        from resolutionflow_core import __version__

        return __version__


app = typer.Typer(
    name="resolutionflow",
    cls=OneLineErrors,
    help=HELP,
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(
    ctx: typer.Context,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            metavar="URL",
            envvar="RESOLUTIONFLOW_DATABASE_URL",
            show_envvar=True,
            help="sqlite:///path/file.sqlite3 or postgresql://user:password@host/db "
            "(before or after the command) [default: sqlite:///resolutionflow.sqlite3]",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    given = ctx.obj if isinstance(ctx.obj, CliState) else CliState()
    ctx.obj = dataclasses.replace(given, database_url=database_url)
    ctx.with_resource(opened_by(given.open_application))


SESSIONS = "Sessions"
LIFECYCLE = "Lifecycle"
OPERATORS = "Operators"

app.add_typer(sessions.app, name="sessions", rich_help_panel=SESSIONS)
app.command("chat", rich_help_panel=SESSIONS)(chat.chat)
app.command("guide", rich_help_panel=SESSIONS)(guide.guide)
app.add_typer(ticket.app, name="ticket", rich_help_panel=SESSIONS)
app.command("resolve", rich_help_panel=LIFECYCLE)(lifecycle.resolve)
app.command("escalate", rich_help_panel=LIFECYCLE)(lifecycle.escalate)
app.command("pause", rich_help_panel=LIFECYCLE)(lifecycle.pause)
app.command("resume", rich_help_panel=LIFECYCLE)(lifecycle.resume)
app.command("abandon", rich_help_panel=LIFECYCLE)(lifecycle.abandon)
app.command("claim", rich_help_panel=LIFECYCLE)(lifecycle.claim)
app.command("status-update", rich_help_panel=LIFECYCLE)(lifecycle.status_update)
app.command("serve", rich_help_panel=OPERATORS)(serve.serve)
app.add_typer(db.app, name="db", rich_help_panel=OPERATORS)
app.add_typer(keys.app, name="keys", rich_help_panel=OPERATORS)
app.add_typer(users.app, name="users", rich_help_panel=OPERATORS)
app.add_typer(psa.app, name="psa", rich_help_panel=OPERATORS)
app.add_typer(secret_key.app, name="secret-key", rich_help_panel=OPERATORS)
app.add_typer(outbox.app, name="outbox", rich_help_panel=OPERATORS)
app.add_typer(migrate.app, name="migrate", rich_help_panel=OPERATORS)


def main() -> None:
    """The console script ``resolutionflow``."""
    app()
