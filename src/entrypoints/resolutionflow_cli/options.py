"""Options and arguments shared by the commands."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import typer

from resolutionflow_cli.runtime import ACTOR_ENV, DEFAULT_ACTOR, parse_actor
from resolutionflow_core.access import Actor

ActorOption = Annotated[
    Actor,
    typer.Option(
        "--as",
        parser=parse_actor,
        envvar=ACTOR_ENV,
        metavar="ACCOUNT:USER:ROLE",
        help="Who acts: account, user and role (owner, admin, engineer, viewer). "
        "Before or after the command.",
        show_default=True,
    ),
]

JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print JSON (for scripts) instead of tables and text."),
]

SessionId = Annotated[
    UUID,
    typer.Argument(metavar="ID", help="The session's id (see 'resolutionflow sessions list')."),
]

AS_DEFAULT: Actor = DEFAULT_ACTOR  # type: ignore[assignment]
"""The default of `ActorOption`: Typer parses it like a typed ``--as``."""
