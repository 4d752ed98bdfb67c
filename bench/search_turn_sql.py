"""SQLite: what the search index's triggers add to a chat turn's ``UPDATE``, SQL alone.

The statement the storage runs for a turn (``json_insert`` of two messages on the history,
the version bumped; from migration 0014 on, the same messages written to ``last_append``
too), on four copies of one database: without the index, and with the triggers for the
messages of migrations 0012 (``parsed``), 0013 (``bytes``) and 0014 (``declared``)
(`search_schema.install_statements(messages=…)`), the copies interleaved, each turn
committed, 15 chats per history size (10, 200 and 1,000 messages, minified JSON as turns
leave it). CPU time of the ``UPDATE`` (the triggers run inside it) and of the ``COMMIT``,
medians. Then the pages each commit writes into the WAL, by table (``dbstat``), without the
index and with it (``declared``): on a chat's first turn since the index was filled, and on
its next. Last, `check_index` on the indexed copies.

    uv run python bench/search_turn_sql.py [--chats 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import sqlalchemy as sa
from _common import create_schema, machine_summary
from history_list import row_values
from search import TURN_SIZES, _sqlite_value, turn_chats

from resolutionflow_sqlalchemy import search_schema
from resolutionflow_sqlalchemy.engine import sqlite_pragmas
from resolutionflow_sqlalchemy.search import check_index
from resolutionflow_sqlalchemy.tables import ai_sessions

UPDATE = (
    "UPDATE ai_sessions SET version = version + 1, conversation_messages = json_insert("
    "conversation_messages, '$[#]', json(?1), '$[#]', json(?2)) WHERE id = ?3"
)
DECLARED = (
    "UPDATE ai_sessions SET version = version + 1, conversation_messages = json_insert("
    "conversation_messages, '$[#]', json(?1), '$[#]', json(?2)), last_append = "
    "json_array(version + 1, json_array(json(?1), json(?2))) WHERE id = ?3"
)
DESIGNS: tuple[search_schema.MessagesDesign, ...] = ("parsed", "bytes", "declared")
WAL_HEADER, WAL_FRAME = 32, 24 + 4096
"""A WAL file's header, and one frame (its header and a page: the databases' 4 KiB pages)."""


def _message(text: str) -> str:
    return json.dumps({"role": "user", "content": text, "created_at": "2026-06-30T17:00:00+00:00"})


def wal_pages(path: Path, chats: list[str]) -> tuple[Counter[str], Counter[str]]:
    """Pages written into the WAL per commit, by table (``dbstat``), over one declared turn on
    each chat and then a second one: the first since the index was filled, the next."""
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in sqlite_pragmas():
        db.execute(pragma)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("PRAGMA wal_autocheckpoint=0")
    tables = dict(db.execute("SELECT pageno, name FROM dbstat").fetchall())
    wal = Path(f"{path}-wal")
    results: list[Counter[str]] = []
    for turn in range(2):
        start = wal.stat().st_size if wal.exists() else 0
        for n, chat in enumerate(chats):
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                DECLARED,
                [_message(f"WAL turn {turn} on pc-{n:03d}"), _message("Reboot it."), chat],
            )
            db.execute("COMMIT")
        counts: Counter[str] = Counter()
        with wal.open("rb") as file:
            file.seek(max(start, WAL_HEADER))
            while frame := file.read(WAL_FRAME):
                if len(frame) < WAL_FRAME:
                    break
                page = int.from_bytes(frame[:4], "big")
                counts[tables.get(page, "new pages")] += 1
        results.append(Counter({k: v / len(chats) for k, v in counts.items()}))
    db.execute("PRAGMA wal_autocheckpoint=1000")
    db.close()
    return results[0], results[1]


def _pages(counts: Counter[str]) -> str:
    parts = ", ".join(f"{k} {v:.1f}" for k, v in counts.most_common())
    return f"{sum(counts.values()):.1f} ({parts})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chats", type=int, default=15)
    args = parser.parse_args()
    print(f"Chat turn UPDATE, SQLite; {machine_summary()}")
    chats = turn_chats(TURN_SIZES, args.chats)
    directory = Path(tempfile.mkdtemp())
    plain = directory / "none.db"
    asyncio.run(create_schema(f"sqlite:///{plain}"))
    conn = sqlite3.connect(plain, isolation_level=None)
    for statement in search_schema.remove_statements("sqlite"):
        conn.execute(statement)
    rows = [row_values(c) for group in chats.values() for c in group]
    names = list(rows[0])
    conn.execute("BEGIN")
    conn.executemany(
        f"INSERT INTO ai_sessions ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
        [[_sqlite_value(n, r[n]) for n in names] for r in rows],
    )
    conn.execute("COMMIT")
    conn.close()
    columns = list(ai_sessions.c.keys())
    paths = {"none": plain}
    for name in DESIGNS:
        paths[name] = directory / f"{name}.db"
        shutil.copyfile(plain, paths[name])
        db = sqlite3.connect(paths[name], isolation_level=None)
        db.execute("BEGIN")
        for statement in search_schema.install_statements("sqlite", columns, messages=name):
            db.execute(statement)
        db.execute("COMMIT")
        db.close()
    conns = {name: sqlite3.connect(path, isolation_level=None) for name, path in paths.items()}
    for db in conns.values():  # as the storage's connections are set up
        for pragma in sqlite_pragmas():
            db.execute(pragma)
    for size, group in chats.items():
        cpu: dict[str, list[float]] = {name: [] for name in conns}
        commit: dict[str, list[float]] = {name: [] for name in conns}
        for n, chat in enumerate(group):
            for turn in range(3):
                for name, db in conns.items():
                    db.execute("BEGIN")
                    started = time.process_time()
                    db.execute(
                        DECLARED if name == "declared" else UPDATE,
                        [
                            _message(f"Tried the fix on pc-{n:03d}, try {turn}"),
                            _message("Check the event log for error 7031."),
                            chat.id.hex,
                        ],
                    )
                    updated = time.process_time()
                    db.execute("COMMIT")
                    cpu[name].append((updated - started) * 1000)
                    commit[name].append((time.process_time() - updated) * 1000)
        none = statistics.median(cpu["none"])
        done = statistics.median(commit["none"])
        added = ", ".join(
            f"{statistics.median(cpu[k]) - none:.2f} ms + "
            f"{statistics.median(commit[k]) - done:.2f} ms ({k})"
            for k in DESIGNS
        )
        print(
            f"{size:>5} messages: UPDATE {none:.2f} ms + COMMIT {done:.2f} ms CPU without "
            f"the index; the index adds {added}"
        )
    for db in conns.values():
        db.close()
    for name in ("none", "declared"):
        first, again = wal_pages(paths[name], [c.id.hex for c in chats[TURN_SIZES[0]]])
        print(
            f"{name}: WAL pages per commit, {TURN_SIZES[0]} messages: "
            f"{_pages(first)} on a chat's first turn since the fill; {_pages(again)} on its next"
        )
    for name in DESIGNS:
        engine = sa.create_engine(f"sqlite:///{paths[name]}")
        with engine.connect() as connection:
            check = check_index(connection)
        engine.dispose()
        print(f"{name}: index equal to a rebuild: {check.clean}")
    shutil.rmtree(directory)


if __name__ == "__main__":
    sys.exit(main())
