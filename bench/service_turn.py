"""A whole chat turn through the service against the raw floor of the same design.

The library: ``SessionService.send_message`` with the offline LLM (``OfflineLLM``) on
``SqlStorage.from_url(url)``, as the product builds it (SQLite: sqlite3 in worker threads;
PostgreSQL: asyncpg). The floor (``_floor.py``): the minimal raw work for the same stored
result, +2 messages and +2 versions under a compare-and-set, the two outbox rows, the history
read back and decoded; on SQLite in one transaction run in *one* ``asyncio.to_thread`` call
(what an async service must do at least) and, for reference, inline on the event loop; on
PostgreSQL one asyncpg statement. Beside it, the floor of the product's rule: the engineer's
message committed in a transaction of its own before the assistant is asked, then the reply
(two ``to_thread`` calls; two asyncpg statements). The floor does no LLM work: the ratio is
everything the library spends on a turn over what storing that turn must cost.

At 10, 200, 500 and 1,000 messages of history, SQLite (a WAL file, as the adapter sets it up)
and PostgreSQL (``RESOLUTIONFLOW_BENCH_POSTGRES``, skipped if unreachable). Every timed turn
starts from the same history (reset untimed, the WAL checkpointed before the reset's writes);
the variants run in interleaved rounds; medians of wall and CPU time.

    uv run python bench/service_turn.py [--quick] [--runs N] [--sizes 10,500]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import sqlite3
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
from _common import (
    Timing,
    asyncpg_dsn,
    create_schema,
    machine_summary,
    note,
    open_storage,
    postgres_database,
    print_table,
    time_interleaved,
    turns_parser,
    verdict,
)
from _floor import postgres_floor, postgres_floor_store, sqlite_floor, sqlite_floor_store
from storage_chat_turn import (
    ACCOUNT,
    START,
    USER,
    Backend,
    floor_messages,
    history_session,
    next_turn,
    open_sqlite,
    postgres_backend,
    sqlite_backend,
)

from resolutionflow_core.access import Actor, Role
from resolutionflow_core.services import SessionService
from resolutionflow_core.session import ProblemDomain
from resolutionflow_memory.llm import OfflineLLM
from resolutionflow_sqlalchemy import SqlStorage

SIZES = (10, 200, 500, 1000)
GOAL = 2.0
"""Service time over the floor's allowed at every size (issue 13)."""

ACTOR = Actor(ACCOUNT, USER, Role.ENGINEER)


Variant = Callable[[], Awaitable[object]]


async def seed(storage: SqlStorage, sizes: tuple[int, ...]) -> dict[int, uuid.UUID]:
    """One chat session per size, already described (so no turn asks the LLM for a summary,
    which only a session's first reply does)."""
    ids = {}
    for size in sizes:
        session = history_session(size)
        session.describe("Outlook keeps prompting", ProblemDomain.EMAIL, now=START)
        async with storage.unit_of_work() as uow:
            await uow.sessions.add(session)
            await uow.commit()
        ids[size] = session.id
    return ids


async def measure(
    backend: Backend,
    variants: dict[str, Callable[[uuid.UUID, int], Awaitable[object]]],
    session_id: uuid.UUID,
    size: int,
    runs: int,
    warmup: int,
) -> dict[str, Timing]:
    await backend.reset(session_id)
    before = await backend.check(session_id)
    expected = (before[0] + 2, before[1] + 2, before[2] + 2)
    for name, run in variants.items():  # every variant must store the same
        await backend.reset(session_id)
        await run(session_id, before[1])
        after = await backend.check(session_id)
        if after != expected:
            raise AssertionError(f"{backend.name} {name}: wrote {after}, expected {expected}")

    async def prepare() -> None:
        await backend.reset(session_id)
        gc.collect()

    timed: dict[str, Variant] = {
        name: functools.partial(run, session_id, before[1]) for name, run in variants.items()
    }
    results = await time_interleaved(timed, runs=runs, warmup=warmup, prepare=prepare)
    await backend.reset(session_id)
    return results


def rows_for(backend: str, size: int, results: dict[str, Timing]) -> list[list[object]]:
    service = results["service"]
    rows: list[list[object]] = []
    for name, floor in results.items():
        if name == "service":
            continue
        ratio = service.wall.median / floor.wall.median
        goal_applies = "inline" not in name
        rows.append(
            [
                backend,
                size,
                service.wall.median,
                name,
                floor.wall.median,
                f"{ratio:.2f}x",
                verdict(ratio, GOAL) if goal_applies else "-",
                f"{service.cpu.median:.2f} / {floor.cpu.median:.2f}",
                f"{service.cpu.median / floor.cpu.median:.2f}x",
            ]
        )
    return rows


def service_variant(storage: SqlStorage, size: int) -> Callable[[uuid.UUID, int], Awaitable[None]]:
    service = SessionService(uow=storage.unit_of_work, llm=OfflineLLM())
    text = next_turn(size).user_text

    async def run(session_id: uuid.UUID, _version: int) -> None:
        turn = await service.send_message(ACTOR, session_id, text)
        if len(turn.session.conversation_messages) != size + 2:
            raise AssertionError("the turn's session lacks the two new messages")

    return run


FloorRun = Callable[[uuid.UUID, int], Awaitable[None]]


ONE_TX = "1 tx (issue 13)"
TWO_TX = "2 tx (PRODUCT.md)"


def sqlite_floors(
    threaded: sqlite3.Connection, inline: sqlite3.Connection, size: int
) -> tuple[FloorRun, FloorRun, FloorRun]:
    """The SQLite floor in one ``asyncio.to_thread`` call, inline, and in two transactions
    (two ``asyncio.to_thread`` calls: the engineer's message committed first)."""
    added, times = floor_messages(next_turn(size))

    async def floor_thread(sid: uuid.UUID, version: int) -> None:
        history = await asyncio.to_thread(
            sqlite_floor, threaded, sid, ACCOUNT, version, added, times
        )
        if len(history) != size + 2:
            raise AssertionError("floor history length")

    async def floor_inline(sid: uuid.UUID, version: int) -> None:
        sqlite_floor(inline, sid, ACCOUNT, version, added, times)

    async def floor_two(sid: uuid.UUID, version: int) -> None:
        await asyncio.to_thread(
            sqlite_floor_store, threaded, sid, ACCOUNT, version, added[:1], times[:1], size
        )
        history = await asyncio.to_thread(
            sqlite_floor, threaded, sid, ACCOUNT, version + 1, added[1:], times[1:]
        )
        if len(history) != size + 2:
            raise AssertionError("floor history length")

    return floor_thread, floor_inline, floor_two


def postgres_floor_variants(raw: asyncpg.Connection, size: int) -> tuple[FloorRun, FloorRun]:
    """The PostgreSQL floor in one statement, and in two (the engineer's message first)."""
    added, times = floor_messages(next_turn(size))

    async def floor(sid: uuid.UUID, version: int) -> None:
        history = await postgres_floor(raw, sid, ACCOUNT, version, added, times)
        if len(history) != size + 2:
            raise AssertionError("floor history length")

    async def floor_two(sid: uuid.UUID, version: int) -> None:
        await postgres_floor_store(raw, sid, ACCOUNT, version, added[:1], times[:1])
        history = await postgres_floor(raw, sid, ACCOUNT, version + 1, added[1:], times[1:])
        if len(history) != size + 2:
            raise AssertionError("floor history length")

    return floor, floor_two


async def sqlite_run(sizes: tuple[int, ...], runs: int, warmup: int) -> list[list[object]]:
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="rf-bench-") as tmp:
        path = Path(tmp) / "service.db"
        url = f"sqlite:///{path}"
        await create_schema(url)
        storage = open_storage(url)
        ids = await seed(storage, sizes)
        backend = sqlite_backend(path, {"library": storage}, list(ids.values()))
        inline, threaded = open_sqlite(path), open_sqlite(path, any_thread=True)
        try:
            for size in sizes:
                note(f"  sqlite: {size} messages ...")
                floor_thread, floor_inline, floor_two = sqlite_floors(threaded, inline, size)
                variants = {
                    "service": service_variant(storage, size),
                    f"floor sqlite3 to_thread, {ONE_TX}": floor_thread,
                    f"floor sqlite3 to_thread, {TWO_TX}": floor_two,
                    f"floor sqlite3 inline, {ONE_TX}": floor_inline,
                }
                results = await measure(backend, variants, ids[size], size, runs, warmup)
                rows += rows_for("sqlite", size, results)
        finally:
            inline.close()
            threaded.close()
            await backend.close()
    return rows


async def postgres_run(sizes: tuple[int, ...], runs: int, warmup: int) -> list[list[object]]:
    rows: list[list[object]] = []
    async with postgres_database("rf_bench_service") as url:
        if url is None:
            return []
        await create_schema(url)
        storage = open_storage(url)
        ids = await seed(storage, sizes)
        backend = await postgres_backend(url, {"library": storage}, list(ids.values()))
        raw = await asyncpg.connect(asyncpg_dsn(url))
        try:
            for size in sizes:
                note(f"  postgresql: {size} messages ...")
                floor, floor_two = postgres_floor_variants(raw, size)
                variants = {
                    "service": service_variant(storage, size),
                    f"floor asyncpg, {ONE_TX}": floor,
                    f"floor asyncpg, {TWO_TX}": floor_two,
                }
                results = await measure(backend, variants, ids[size], size, runs, warmup)
                rows += rows_for("postgresql", size, results)
        finally:
            await raw.close()
            await backend.close()
    return rows


async def main_async(args: argparse.Namespace) -> None:
    runs = args.runs or (10 if args.quick else 30)
    warmup = 2 if args.quick else 5
    sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else SIZES
    print(f"Whole chat turn (send_message, offline LLM) vs the raw floor, {runs} turns per size")
    print(machine_summary())
    print()
    rows = []
    if args.backend in (None, "sqlite"):
        rows += await sqlite_run(sizes, runs, warmup)
    if args.backend in (None, "postgresql"):
        rows += await postgres_run(sizes, runs, warmup)
    headers = ["backend", "history", "service ms", "floor", "floor ms", "ratio", "<= 2x"]
    headers += ["cpu ms service / floor", "cpu ratio"]
    print_table(headers, rows)
    print(
        "\nms = median wall time of one turn; cpu = this process's CPU time, all threads (not "
        "the PostgreSQL server's).\nThe goal (<= 2x) applies against the to_thread floor on "
        "SQLite and the asyncpg floor on PostgreSQL; inline is the blocking reference.\n"
        f"{ONE_TX}: the turn in one transaction, as issue 13 defines the floor; {TWO_TX}: the "
        "engineer's message committed before the assistant is asked, as the product requires."
    )


def main() -> None:
    parser = turns_parser(__doc__, quick=10, full=30)
    parser.add_argument("--sizes", help="comma-separated history sizes (default 10,200,500,1000)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), help="only this one")
    args = parser.parse_args()
    try:
        asyncio.run(main_async(args))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
