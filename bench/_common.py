"""Shared helpers of the storage benchmarks: timing, statistics, tables, PostgreSQL databases.

Not a benchmark itself. The scripts import it as ``_common`` (``bench/`` is on ``sys.path``
when a script in it runs).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from resolutionflow_sqlalchemy import SqlStorage, create_engine
from resolutionflow_sqlalchemy.tables import metadata

PG_ADMIN_URL = os.environ.get(
    "RESOLUTIONFLOW_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
"""The PostgreSQL server's maintenance database; each run creates and drops its own."""


# -- statistics ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stats:
    """Summary of repeated timings, in milliseconds."""

    median: float
    p95: float
    runs: int

    @classmethod
    def of(cls, samples_ms: Sequence[float]) -> Stats:
        if not samples_ms:
            raise ValueError("no samples")
        return cls(statistics.median(samples_ms), percentile(samples_ms, 95), len(samples_ms))


def percentile(samples: Sequence[float], pct: float) -> float:
    """The ``pct``-th percentile by linear interpolation between closest ranks."""
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * pct / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True, slots=True)
class Timing:
    """Wall time and this process's CPU time (all threads) of repeated calls."""

    wall: Stats
    cpu: Stats
    """CPU time is far less sensitive than wall time to other programs on a busy machine;
    it leaves out the database server's own work (PostgreSQL runs in other processes)."""


async def time_interleaved(
    variants: dict[str, Callable[[], Awaitable[object]]],
    *,
    runs: int,
    warmup: int,
    prepare: Callable[[], Awaitable[object]] | None = None,
) -> dict[str, Timing]:
    """Time every variant ``runs`` times after ``warmup`` rounds, round-robin with a rotating
    start, so a machine that gets busier or quieter during the run affects them alike.
    ``prepare`` runs untimed before every call."""
    names = list(variants)
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for index in range(warmup + runs):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            if prepare is not None:
                await prepare()
            cpu_start, start = time.process_time(), time.perf_counter()
            await variants[name]()
            elapsed, cpu_used = time.perf_counter() - start, time.process_time() - cpu_start
            if index >= warmup:
                wall[name].append(elapsed * 1000)
                cpu[name].append(cpu_used * 1000)
    return {name: Timing(Stats.of(wall[name]), Stats.of(cpu[name])) for name in names}


def verdict(ratio: float, goal: float) -> str:
    """``PASS`` if ``ratio`` is within ``goal``, else ``MISS``."""
    return "PASS" if ratio <= goal else "MISS"


def turns_parser(doc: str, *, quick: int, full: int) -> argparse.ArgumentParser:
    """The options every chat-turn benchmark takes, the first line of ``doc`` its description:
    ``--quick`` (``quick`` timed turns instead of ``full``) and ``--runs``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help=f"{quick} timed turns instead of {full}"
    )
    parser.add_argument("--runs", type=int, help="timed turns per variant and size")
    return parser


# -- output ----------------------------------------------------------------------------------


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain-text table: text left-aligned, numbers right-aligned (floats to 2 decimals)."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.2f}"
        return str(value)

    cells = [[cell(v) for v in row] for row in rows]
    numeric = [
        all(isinstance(row[i], int | float) for row in rows) if rows else False
        for i in range(len(headers))
    ]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    print(line(list(headers)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print(line(row))


def machine_summary() -> str:
    """One line about where the figures come from (cores, load, versions)."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{os.cpu_count()} CPUs, load average {load:.2f} at start; "
        f"Python {platform.python_version()}, SQLAlchemy {sa.__version__}, "
        f"SQLite {sqlite3.sqlite_version}"
    )


def note(message: str) -> None:
    """A progress line on stderr, so stdout holds only the results."""
    print(message, file=sys.stderr, flush=True)


# -- the library ----------------------------------------------------------------------------


def open_storage(url: str, *, via_engine: bool = False) -> SqlStorage:
    """The adapter's `SqlStorage` for ``url`` through its public API.

    ``SqlStorage.from_url(url)`` (the product's entry point: SQLite on the blocking driver in
    worker threads, PostgreSQL on asyncpg) when the adapter has it, else, or with
    ``via_engine``, ``SqlStorage(create_engine(url))`` (an asyncio engine: aiosqlite or
    asyncpg).
    """
    from_url = getattr(SqlStorage, "from_url", None)
    if from_url is not None and not via_engine:
        storage: SqlStorage = from_url(url)
        return storage
    return SqlStorage(create_engine(url))


async def create_schema(url: str) -> None:
    """The adapter's tables (``tables.metadata``) on a plain SQLAlchemy engine of our own,
    so the set-up does not depend on how the adapter holds its connections."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url)
        metadata.create_all(engine)
        engine.dispose()
        return
    async_engine = create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://"))
    async with async_engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await async_engine.dispose()


# -- PostgreSQL ------------------------------------------------------------------------------


def _dsn(database: str | None = None) -> str:
    """The admin URL as an asyncpg DSN, optionally pointing at another database."""
    url = PG_ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://")
    if database is None:
        return url
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"


async def _admin(statement: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(_dsn(), timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@asynccontextmanager
async def postgres_database(prefix: str) -> AsyncIterator[str | None]:
    """A fresh database on the server, yielded as a ``postgresql://`` URL, dropped on exit;
    ``None`` (with a message) if the server cannot be reached."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        await _admin(f'CREATE DATABASE "{name}"')
    except Exception as error:  # any failure to reach or use the server means "skip"
        print(f"PostgreSQL skipped: no server at {PG_ADMIN_URL} ({error!r})")
        yield None
        return
    try:
        yield _dsn(name)
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


Rows = list[list[object]]


def rows_on_backends(
    backend: str,
    prefix: str,
    sqlite: Callable[[Path], Rows],
    postgresql: Callable[[Path], Awaitable[Rows]],
) -> Rows:
    """The table rows measured on SQLite, then on PostgreSQL, as ``--backend`` chooses
    (``sqlite``, ``postgresql`` or ``both``); each gets the same fresh temporary directory."""
    rows: Rows = []
    with tempfile.TemporaryDirectory(prefix=prefix) as temporary:
        directory = Path(temporary)
        if backend in ("sqlite", "both"):
            rows.extend(sqlite(directory))
        if backend in ("postgresql", "both"):
            rows.extend(asyncio.run(postgresql(directory)))
    return rows


def asyncpg_dsn(url: str) -> str:
    """A ``postgresql://`` URL as asyncpg takes it (no ``+driver`` suffix)."""
    return url.replace("postgresql+asyncpg://", "postgresql://")
