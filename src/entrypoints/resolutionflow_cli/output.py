"""Where the command line writes: rich consoles for people, plain JSON for programs.

Colours come only on a terminal: rich detects one, and honours ``NO_COLOR``,
``FORCE_COLOR`` and ``TERM=dumb``. Consoles are made per command (never at import), so
they write to whatever ``sys.stdout`` / ``sys.stderr`` are at that moment.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any

from rich.console import Console, RenderableType
from rich.text import Text

from resolutionflow_cli.errors import ExitCode

PIPE_WIDTH = 160
"""Width of text written to a pipe or file (rich would assume 80)."""

PIPE_TABLE_WIDTH = 400
"""Width tables may take in a pipe or file: a row stays one line, whatever it holds."""


def console(*, stderr: bool = False) -> Console:
    """A console on stdout (or stderr) with the terminal's width, or a wide one in a pipe."""
    made = Console(stderr=stderr, highlight=False)
    if not made.is_terminal and "COLUMNS" not in os.environ:
        made.width = PIPE_WIDTH
    return made


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""Control characters but newline and tab: escape sequences, carriage returns, bells."""


def clean(text: str) -> str:
    """``text`` without control characters, so stored text cannot drive the terminal."""
    return _CONTROL.sub("", text)


def print_json(data: Any) -> None:
    """``data`` as indented JSON on stdout, never styled or wrapped."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


_LABELS = {
    ExitCode.REFUSED: "refused",
    ExitCode.USAGE: "error",
    ExitCode.NOT_FOUND: "not found",
    ExitCode.UNAVAILABLE: "unavailable",
    ExitCode.INTERRUPTED: "interrupted",
}


def print_refusal(message: str, code: ExitCode) -> None:
    """The one-line message of a refusal, on stderr."""
    err = console(stderr=True)
    label = _LABELS.get(code, "error")
    line = Text.assemble(
        ("resolutionflow", "bold"), ": ", (label, "bold red"), ": ", clean(message)
    )
    err.print(line, soft_wrap=True)


def table_width(out: Console) -> int:
    """The width a table may take: the terminal's, or in a pipe as wide as its rows need."""
    if out.is_terminal or "COLUMNS" in os.environ:
        return out.width
    return PIPE_TABLE_WIDTH


def print_table(out: Console, table: RenderableType) -> None:
    """A table at `table_width`, so in a pipe a row stays one line."""
    width = out.width
    out.width = table_width(out)
    try:
        out.print(table)
    finally:
        out.width = width
