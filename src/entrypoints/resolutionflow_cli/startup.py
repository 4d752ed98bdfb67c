"""Start-up without the cyclic garbage collector walking what start-up builds.

A command starts by importing ~500 modules: ~100,000 objects the collector tracks
(classes, functions, SQLAlchemy's and pydantic's tables) that live as long as the process
and are never garbage. CPython's collector walks them while they are made (the youngest
every 700 new objects, the middle generation every 7,000, now and then all of them) and
once more, all of them, when the interpreter exits: a fifth of `resolutionflow sessions list`
(docs/performance.md). So `main` collects rarely while the command starts (a high
threshold, not never: a command that does not say it has started still collects), and
once it has started (its application open, its server about to run, a migration or a
reindex about to begin) the objects made so far are frozen (`gc.freeze`: kept out of
every later walk) and collection is back to normal. At exit they are frozen again: the
process is ending, its memory goes with it.

Two consequences: objects left in reference cycles at exit are not collected, so their
finalizers (``__del__``) do not run (nothing of the command relies on one: connections are
closed explicitly); and `resolutionflow_cli.main.main` is the console script's entry, not
an API: a program that calls it in-process has its whole heap frozen (use Typer's
``CliRunner`` with ``resolutionflow_cli.main.app``, as the tests do).
"""

from __future__ import annotations

import gc

STARTING_THRESHOLD = 100_000
"""New objects between two collections while a command starts (CPython's default: 700)."""

_usual: tuple[int, int, int] | None = None
"""The collector's thresholds before `starting`; None when not starting."""


def starting() -> None:
    """The command line starts: collect rarely until `started`."""
    global _usual
    if _usual is None:
        _usual = gc.get_threshold()
        gc.set_threshold(STARTING_THRESHOLD, *_usual[1:])


def started() -> None:
    """The command has started: what start-up made is frozen, collection is as before.
    Nothing happens unless `starting` was called (a test running a command in-process)."""
    global _usual
    if _usual is not None:
        gc.freeze()
        gc.set_threshold(*_usual)
        _usual = None


def exiting() -> None:
    """The process ends: nothing left needs collecting (the interpreter would walk every
    object once more on its way out)."""
    started()
    gc.freeze()
