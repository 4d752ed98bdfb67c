"""Whether a database's schema is at this version's revision, without importing Alembic.

Alembic costs about half a second to import, and a command-line tool checks the schema on
every run. This module reads the shipped revision scripts as text (each states its
``revision`` and ``down_revision`` plainly) and the ``alembic_version`` table with a plain
query. It only ever answers "up to date"; anything else (a script it cannot read, another
revision, no schema) is for `resolutionflow_sqlalchemy.migrations` to decide, with Alembic.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import sqlalchemy as sa

from resolutionflow_sqlalchemy.engine import Database, open_database

VERSIONS_DIR = Path(__file__).resolve().parent / "migrations" / "versions"

_REVISION = re.compile(r"^revision(?:\s*:\s*str)?\s*=\s*[\"']([^\"']+)[\"']\s*$", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision(?:\s*:[^=\n]+)?\s*=\s*(.+)$", re.MULTILINE)
_QUOTED = re.compile(r"[\"']([^\"']+)[\"']")


@cache
def shipped_heads() -> frozenset[str] | None:
    """The newest revision(s) of the shipped scripts, or None if a script does not state its
    revision and parent(s) in the plain form (the caller then asks Alembic)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted(VERSIONS_DIR.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        found = _REVISION.findall(text)
        down = _DOWN_REVISION.findall(text)
        if len(found) != 1 or len(down) != 1:
            return None
        revisions.add(found[0])
        parents.update(_QUOTED.findall(down[0]))
    heads = frozenset(revisions - parents)
    return heads or None


async def current_revision(url: str, database: Database | None = None) -> str | None:
    """The one revision recorded in the database at ``url``; None if there is none (or more
    than one: branches are for Alembic to judge). Read through ``database`` when given (the
    caller's, left open), else through one opened for the question."""
    if database is not None:
        return await database.read(_recorded_revision)
    # The adapter's own engine kind (on SQLite the blocking driver in a thread, which does
    # not import SQLAlchemy's asyncio extension and ORM), not Alembic's async one.
    database = open_database(url)  # disposed below: its pool closes with it
    try:
        return await database.read(_recorded_revision)
    finally:
        await database.dispose()


def _recorded_revision(connection: sa.Connection) -> str | None:
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    rows = connection.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    return str(rows[0][0]) if len(rows) == 1 else None


async def is_current(url: str, database: Database | None = None) -> bool:
    """True only when the database at ``url`` is at the newest shipped revision (read
    through ``database`` when given, as `current_revision`)."""
    heads = shipped_heads()
    return heads is not None and len(heads) == 1 and await current_revision(url, database) in heads
