"""Reliability under faults: real servers, real databases, on loopback only."""

from tests.api.conftest import migrated_database

__all__ = ["migrated_database"]
