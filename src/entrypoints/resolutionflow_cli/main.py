"""The ``resolutionflow`` command: the root of the command tree and `main`.

Every refusal reaches `OneLineErrors.main` and leaves as one line on stderr with an exit
code from `resolutionflow_cli.errors`: Typer's own usage errors too, and the domain errors
the commands let through. Only a bug shows a traceback (without local variables: a
local might hold a secret).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import Annotated, Any

import typer
import typer.main
from typer.core import TyperGroup

from resolutionflow_cli import startup

# The errors, output and runtime modules are imported where they are used: they load the
# core, rich and asyncio, which `--version` does not need (and a command loads anyway).

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
    """Runs the command tree and turns every refusal into one line and an exit code.

    The commands are loaded when named (`LazyCommands`): a command imports its own module,
    not the whole tree's (the help lists them all, so ``--help`` loads every one)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = LazyCommands(self.commands)

    def list_commands(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        return list(self.commands)  # the names, without loading each command

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
            from resolutionflow_cli.errors import ExitCode
            from resolutionflow_cli.output import print_refusal

            print_refusal("aborted", ExitCode.REFUSED)
            sys.exit(ExitCode.REFUSED)
        except typer.TyperException as error:
            sys.exit(_usage_error(error))
        except Exception as error:
            from resolutionflow_cli.errors import refusal
            from resolutionflow_cli.output import print_refusal

            mapped = refusal(error)
            if mapped is None:
                raise
            code, message = mapped
            print_refusal(message, code)
            sys.exit(code)
        sys.exit(result if isinstance(result, int) else 0)  # 0: ExitCode.OK


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
    from resolutionflow_cli.errors import ExitCode, one_line
    from resolutionflow_cli.output import print_refusal

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
    from resolutionflow_cli.runtime import CliState, opened_by

    given = ctx.obj if isinstance(ctx.obj, CliState) else CliState()
    ctx.obj = dataclasses.replace(given, database_url=database_url)
    ctx.with_resource(opened_by(given.open_application))


SESSIONS = "Sessions"
LIFECYCLE = "Lifecycle"
OPERATORS = "Operators"


@dataclass(frozen=True, slots=True)
class Command:
    """Where a command lives: ``resolutionflow_cli.commands.MODULE``'s ``attribute``, a
    function (one command) or a `typer.Typer` (a group of them), shown under ``panel``."""

    module: str
    attribute: str
    panel: str

    def load(self, name: str) -> Any:
        """The Click command ``name``, built from its module (imported now)."""
        target = getattr(
            import_module(f"resolutionflow_cli.commands.{self.module}"), self.attribute
        )
        holder = typer.Typer(rich_markup_mode=app.rich_markup_mode)
        if isinstance(target, typer.Typer):
            holder.add_typer(target, name=name, rich_help_panel=self.panel)
        else:
            holder.command(name, rich_help_panel=self.panel)(target)
        return typer.main.get_group(holder).commands[name]


COMMANDS: dict[str, Command] = {
    "sessions": Command("sessions", "app", SESSIONS),
    "chat": Command("chat", "chat", SESSIONS),
    "guide": Command("guide", "guide", SESSIONS),
    "ticket": Command("ticket", "app", SESSIONS),
    "resolve": Command("lifecycle", "resolve", LIFECYCLE),
    "escalate": Command("lifecycle", "escalate", LIFECYCLE),
    "pause": Command("lifecycle", "pause", LIFECYCLE),
    "resume": Command("lifecycle", "resume", LIFECYCLE),
    "abandon": Command("lifecycle", "abandon", LIFECYCLE),
    "claim": Command("lifecycle", "claim", LIFECYCLE),
    "status-update": Command("lifecycle", "status_update", LIFECYCLE),
    "serve": Command("serve", "serve", OPERATORS),
    "db": Command("db", "app", OPERATORS),
    "keys": Command("keys", "app", OPERATORS),
    "users": Command("users", "app", OPERATORS),
    "psa": Command("psa", "app", OPERATORS),
    "secret-key": Command("secret_key", "app", OPERATORS),
    "outbox": Command("outbox", "app", OPERATORS),
    "migrate": Command("migrate", "app", OPERATORS),
}
"""The command tree under the root, in the order the help lists it."""


class LazyCommands(MutableMapping[str, Any]):
    """The root's commands by name: every name of `COMMANDS` is listed, and a command is
    built (its module imported) the first time it is looked up."""

    def __init__(self, loaded: Mapping[str, Any]) -> None:
        self._loaded: dict[str, Any] = dict(loaded)

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            if name not in COMMANDS:
                raise KeyError(name)
            self._loaded[name] = COMMANDS[name].load(name)
        return self._loaded[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*self._loaded, *COMMANDS]))

    def __len__(self) -> int:
        return len(dict.fromkeys([*self._loaded, *COMMANDS]))

    def __contains__(self, name: object) -> bool:
        return name in self._loaded or name in COMMANDS


def main() -> None:
    """The console script ``resolutionflow``."""
    startup.starting()
    try:
        app()
    finally:
        startup.exiting()
