"""A chat turn's fixed costs, each against its alternative in the same process (CPU time).

Small costs (tens of µs) are invisible in `service_turn.py`'s whole-turn ratios on a shared
machine; here each one is measured alone, both sides in interleaved rounds, medians of the
rounds' CPU time per operation:

- **the UPDATE of a turn** (SQLite, 10 and 200 messages): every scalar column set (as before
  the fifth pass) against only the changed ones, with the parameters' processing, each in
  ``BEGIN IMMEDIATE`` … ``ROLLBACK`` so every round updates the same row;
- **a write transaction's own cost** (SQLite, empty work, the thread hop included): on a
  connection checked out of the pool each time (as before) against the write thread's kept
  connection (`ThreadedDatabase`);
- **Litestar's dependency batch**: three dependencies of one handler resolved in an anyio
  task group (what Litestar does for two or more at the same depth) against one after the
  other.

    uv run python bench/turn_costs.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from _common import create_schema, open_storage
from anyio import create_task_group
from sqlalchemy.dialects import sqlite as sqlite_dialect
from storage_chat_turn import START, history_session, open_sqlite

from resolutionflow_core.chat import MessageRole
from resolutionflow_core.session import ProblemDomain
from resolutionflow_sqlalchemy.engine import WRITE, DriverStatement, ThreadedDatabase
from resolutionflow_sqlalchemy.mapping import session_values
from resolutionflow_sqlalchemy.storage import (
    _SCALARS,
    _load,
    _Loaded,
    _update_params,
    _update_statement,
)


def interleaved(sides: dict[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    """Median over ``rounds`` of each side's µs per operation, the sides alternating."""
    samples: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(rounds):
        for name, run in sides.items():
            samples[name].append(run())
    return {name: statistics.median(values) for name, values in samples.items()}


async def update_shapes(directory: Path, size: int, rounds: int) -> dict[str, float]:
    url = f"sqlite:///{directory / f'update-{size}.db'}"
    await create_schema(url)
    storage = open_storage(url)
    session = history_session(size)
    session.describe("Outlook keeps prompting", ProblemDomain.EMAIL, now=START)
    async with storage.unit_of_work() as uow:
        await uow.sessions.add(session)
        await uow.commit()
    loaded_session = await storage.database.read(
        lambda conn: _load(conn, session.id, session.account_id)
    )
    await storage.dispose()
    assert loaded_session is not None
    loaded = _Loaded.of(loaded_session)
    loaded_session.add_message(MessageRole.USER, "It still asks", now=START, by="bench")
    params, added, columns = _update_params(loaded_session, loaded, "sqlite")
    every = {**params, **{name: session_values(loaded_session)[name] for name in _SCALARS}}
    dialect = sqlite_dialect.dialect()
    shapes = {
        f"UPDATE, all {len(_SCALARS)} scalar columns": (
            DriverStatement(_update_statement("sqlite", added, tuple(_SCALARS)), dialect),
            every,
        ),
        f"UPDATE, the {len(columns)} changed ones": (
            DriverStatement(_update_statement("sqlite", added, columns), dialect),
            params,
        ),
    }
    conn = open_sqlite(directory / f"update-{size}.db")
    n = 200

    def side(statement: DriverStatement, values: dict[str, object]) -> Callable[[], float]:
        def run() -> float:
            started = time.thread_time()
            for _ in range(n):
                conn.execute("BEGIN IMMEDIATE")
                if conn.execute(statement.sql, statement.parameters(values)).rowcount != 1:
                    raise AssertionError("the UPDATE missed its row")
                conn.execute("ROLLBACK")
            return (time.thread_time() - started) / n * 1e6

        return run

    try:
        return interleaved({name: side(*shape) for name, shape in shapes.items()}, rounds)
    finally:
        conn.close()


async def write_transactions(directory: Path, rounds: int) -> dict[str, float]:
    url = f"sqlite:///{directory / 'writes.db'}"
    await create_schema(url)
    storage = open_storage(url)
    database = storage.database
    assert isinstance(database, ThreadedDatabase)
    loop = asyncio.get_running_loop()
    n = 200

    def checked_out_each_time() -> None:  # the write path before the fifth pass
        with database.engine.connect() as conn:
            conn = conn.execution_options(**{WRITE: True})
            with conn.begin():
                pass

    async def run(write: Callable[[], Awaitable[object]]) -> float:
        started = time.process_time()
        for _ in range(n):
            await write()
        return (time.process_time() - started) / n * 1e6

    pool = database._writes
    names = ("pool checkout per transaction", "the write thread's kept connection")
    samples: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(rounds):
        samples[names[0]].append(
            await run(lambda: loop.run_in_executor(pool, checked_out_each_time))
        )
        samples[names[1]].append(await run(lambda: database.write(lambda conn: None)))
    await storage.dispose()
    return {name: statistics.median(values) for name, values in samples.items()}


async def dependency_batches(rounds: int) -> dict[str, float]:
    async def dependency() -> int:
        return 1

    n = 2000

    async def task_group() -> float:
        started = time.process_time()
        for _ in range(n):
            async with create_task_group() as group:
                for _ in range(3):
                    group.start_soon(dependency)
        return (time.process_time() - started) / n * 1e6

    async def in_turn() -> float:
        started = time.process_time()
        for _ in range(n):
            for _ in range(3):
                await dependency()
        return (time.process_time() - started) / n * 1e6

    samples: dict[str, list[float]] = {"3 in a task group": [], "3 one after the other": []}
    for _ in range(rounds):
        samples["3 in a task group"].append(await task_group())
        samples["3 one after the other"].append(await in_turn())
    return {name: statistics.median(values) for name, values in samples.items()}


async def main_async(rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="rf-bench-") as tmp:
        directory = Path(tmp)
        for size in (10, 200):
            for name, us in (await update_shapes(directory, size, rounds)).items():
                print(f"{size:>4} messages  {name:<40} {us:8.0f} µs thread CPU")
        for name, us in (await write_transactions(directory, rounds)).items():
            print(f"empty write  {name:<43} {us:8.0f} µs process CPU")
    for name, us in (await dependency_batches(rounds)).items():
        print(f"dependencies {name:<43} {us:8.0f} µs process CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    try:
        asyncio.run(main_async(args.rounds))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
