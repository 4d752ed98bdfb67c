"""The error a migration raises when going on would lose or corrupt data."""

from __future__ import annotations


class MigrationRefused(RuntimeError):
    """A migration stopped, and rolled back, rather than damage the data it found.

    Every run is one transaction, so the database is left exactly as it was before the run.
    """
