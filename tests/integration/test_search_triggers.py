"""SQLite's triggers for the messages: the storage's appends are indexed from ``last_append``
(migration 0014), an appended history from its appended text (0013's design), and every other
change of the history still leaves the index equal to a rebuild, whichever design is on."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

import pytest
import sqlalchemy as sa

from resolutionflow_sqlalchemy.search import IndexCheck, check_index, reindex
from resolutionflow_sqlalchemy.search_schema import (
    APPENDED,
    MessagesDesign,
    update_trigger_statements,
)
from resolutionflow_sqlalchemy.tables import metadata


def appended(old: str, new: str) -> bool:
    """`APPENDED` for these two texts, as the trigger's WHEN evaluates it."""
    expression = APPENDED.replace("old.conversation_messages", ":old").replace(
        "new.conversation_messages", ":new"
    )
    with sqlite3.connect(":memory:") as db:
        return bool(db.execute(f"SELECT {expression}", {"old": old, "new": new}).fetchone()[0])


def json_insert(history: str, *added: object) -> str:
    """What the storage's append writes: ``json_insert(history, '$[#]', json(?), …)``."""
    pairs = ", ".join("'$[#]', json(?)" for _ in added)
    with sqlite3.connect(":memory:") as db:
        row = db.execute(
            f"SELECT json_insert(?, {pairs})", [history, *(json.dumps(a) for a in added)]
        ).fetchone()
    return str(row[0])


MESSAGE = {"role": "user", "content": 'Caf\u00e9 "quoted" [b]bold[/b], 1.50', "n": 1.50}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('[{"a":1}]', '[{"a":1},{"b":2}]', True),
        ('[{"a":1}]', '[{"a":1},{"b":2},{"c":"]"}]', True),
        ('[{"a":1},{"b":2}]', '[{"a":1}]', False),  # fewer messages
        ('[{"a":1}]', '[{"a":2},{"b":2}]', False),  # an old message changed
        ('[{"a":1}]', '[{"a":1}]', False),  # unchanged
        ("[]", '[{"a":1}]', False),  # nothing before: the whole history, parsed
        ("[ ]", '[ ,{"a":1}]', False),
        ('[{"a":1}] ', '[{"a":1}] ,{"b":2}]', False),  # old does not end with "]"
        ('[{"a":12}]', '[{"a":123}]', False),
    ],
)
def test_an_append_is_told_from_the_bytes(old: str, new: str, expected: bool) -> None:
    assert appended(old, new) is expected


def test_the_storages_json_insert_appends_are_recognised_once_the_history_is_minified() -> None:
    python_json = json.dumps([MESSAGE])  # as the storage inserts a session: spaces after ":"
    first = json_insert(python_json, MESSAGE)
    assert not appended(python_json, first)  # the first append re-renders: parsed
    second = json_insert(first, MESSAGE, {"role": "assistant", "content": "\u2028ok"})
    assert appended(first, second)
    assert appended(second, json_insert(second, MESSAGE))


@pytest.fixture
def db(tmp_path: Path) -> sqlite3.Connection:
    url = f"sqlite:///{tmp_path / 'triggers.db'}"
    engine = sa.create_engine(url)
    metadata.create_all(engine)
    engine.dispose()
    return sqlite3.connect(tmp_path / "triggers.db", isolation_level=None)


def _clean(path: str, check: Callable[[sa.Connection], IndexCheck] = check_index) -> bool:
    """Whether the index equals a rebuild, after ``check`` (`check_index`, or `reindex`)."""
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as connection:
            return check(connection).clean
    finally:
        engine.dispose()


def _message(text: str) -> dict[str, str]:
    return {"role": "user", "content": text, "created_at": "2026-12-02T17:00:00+00:00"}


def insert_chat(db: sqlite3.Connection) -> str:
    """A chat of one message ("first words") at version 1; its id."""
    session_id = uuid4().hex
    db.execute(
        "INSERT INTO ai_sessions (id, account_id, user_id, session_type, intake_type, "
        "intake_content, conversation_messages, status, created_at, updated_at, "
        "last_activity_at, version) VALUES (?, 'acme', 'alice', 'chat', 'free_text', '{}', ?, "
        "'active', '2026-12-02 17:00:00.000000', '2026-12-02 17:00:00.000000', "
        "'2026-12-02 17:00:00.000000', 1)",
        [session_id, json.dumps([_message("first words")])],
    )
    return session_id


@pytest.mark.parametrize("design", ["declared", "bytes", "parsed"])
def test_every_change_of_the_history_leaves_the_index_equal_to_a_rebuild(
    db: sqlite3.Connection, design: MessagesDesign
) -> None:
    for statement in update_trigger_statements("sqlite", design):
        db.execute(statement)
    path = db.execute("PRAGMA database_list").fetchone()[2]
    session_id = insert_chat(db)
    # Every write bumps the version, as the storage's compare-and-set needs.
    append = (
        "UPDATE ai_sessions SET version = version + 1, conversation_messages = json_insert("
        "conversation_messages, '$[#]', json(?), '$[#]', json(?)) WHERE id = ?"
    )
    declared = (  # as the storage appends (0014 on): the same messages to last_append too
        "UPDATE ai_sessions SET version = version + 1, conversation_messages = json_insert("
        "conversation_messages, '$[#]', json(?1), '$[#]', json(?2)), last_append = "
        "json_array(version + 1, json_array(json(?1), json(?2))) WHERE id = ?3"
    )
    replace = "UPDATE ai_sessions SET version = version + 1, conversation_messages = ? WHERE id = ?"

    def history() -> list[dict[str, str]]:
        row = db.execute(
            "SELECT conversation_messages FROM ai_sessions WHERE id = ?", [session_id]
        ).fetchone()
        return list(json.loads(row[0]))

    def words() -> list[str]:
        return [
            row[0]
            for row in db.execute(
                "SELECT body FROM ai_sessions_search_parts WHERE part_id & 1048575 BETWEEN 1 "
                "AND 524286 ORDER BY part_id"
            )
        ]

    steps: list[tuple[str, list[object]]] = [
        (append, [json.dumps(_message("second")), json.dumps(_message("third")), session_id]),
        (declared, [json.dumps(_message("fourth")), json.dumps(_message("fifth")), session_id]),
        (append, [json.dumps(_message("sixth")), json.dumps(_message("seventh")), session_id]),
        (declared, [json.dumps(_message("eighth")), json.dumps(_message("ninth")), session_id]),
    ]
    for statement, params in steps:
        db.execute(statement, params)
        assert _clean(path)
    assert words() == [
        "first words",
        *("second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth"),
    ]

    shorter = history()[:3]
    shorter[2] = _message("third, edited")
    db.execute(replace, [json.dumps(shorter, separators=(",", ":")), session_id])
    assert _clean(path)
    assert words() == ["first words", "second", "third, edited"]

    db.execute(replace, ["[]", session_id])
    assert _clean(path)
    assert words() == []

    db.execute(declared, [json.dumps(_message("again")), json.dumps(_message("more")), session_id])
    db.execute(append, [json.dumps(_message("and")), json.dumps(_message("more")), session_id])
    db.execute(declared, [json.dumps(_message("once")), json.dumps(_message("more")), session_id])
    assert _clean(path)
    assert words() == ["again", "more", "and", "more", "once", "more"]


def test_a_change_of_the_history_that_keeps_the_version_of_a_declared_append_needs_a_reindex(
    db: sqlite3.Connection,
) -> None:
    """The limit of the ``declared`` triggers, as docs/search.md states it: a writer that
    changes the history without bumping the version, right after an append the storage
    declared at that version, is taken for that append; `reindex` repairs the index."""
    path = db.execute("PRAGMA database_list").fetchone()[2]
    session_id = insert_chat(db)
    db.execute(
        "UPDATE ai_sessions SET version = 2, conversation_messages = json_insert("
        "conversation_messages, '$[#]', json(?1)), last_append = json_array(2, "
        "json_array(json(?1))) WHERE id = ?2",
        [json.dumps(_message("declared")), session_id],
    )
    assert _clean(path)
    db.execute(
        "UPDATE ai_sessions SET conversation_messages = ? WHERE id = ?",
        [json.dumps([_message("rewritten")]), session_id],
    )
    assert not _clean(path)
    assert _clean(path, reindex)
    assert _clean(path)


def test_the_storage_writes_histories_compactly_and_declares_its_appends(
    migrated_database: Path, tmp_path: Path
) -> None:
    """The storage writes JSON as ``json_insert`` renders it (no white space), so an append
    leaves the old text as it was (0013's design tells it from the bytes), and it writes what
    it appends to ``last_append``, which the index's trigger reads."""
    import asyncio
    import shutil
    from datetime import UTC, datetime, timedelta

    from resolutionflow_core.session import MessageRole
    from resolutionflow_sqlalchemy.storage import SqlStorage
    from tests.sessions import chat_session

    path = tmp_path / "db.sqlite3"
    shutil.copyfile(migrated_database, path)
    session = chat_session('Caf\u00e9 "VPN" drops', now=datetime(2026, 11, 2, 9, 0, tzinfo=UTC))

    def history() -> str:
        with sqlite3.connect(path) as raw:
            row = raw.execute(
                "SELECT conversation_messages FROM ai_sessions WHERE id = ?", [session.id.hex]
            ).fetchone()
        return str(row[0])

    async def run() -> tuple[str, str]:
        storage = SqlStorage.from_url(f"sqlite:///{path}")
        try:
            async with storage.unit_of_work() as uow:
                await uow.sessions.add(session)
                await uow.commit()
            first = history()
            async with storage.unit_of_work() as uow:
                loaded = await uow.sessions.get(session.id, account_id=session.account_id)
                when = loaded.last_activity_at + timedelta(seconds=1)
                loaded.add_message(MessageRole.ASSISTANT, "Reconnect it.", now=when, by=None)
                await uow.commit()
            return first, history()
        finally:
            await storage.dispose()

    first, second = asyncio.run(run())
    assert first == json.dumps(json.loads(first), separators=(",", ":"))
    assert second.startswith(first[:-1] + ",")
    assert appended(first, second)
    with sqlite3.connect(path) as raw:
        bodies = [r[0] for r in raw.execute("SELECT body FROM ai_sessions_search_parts")]
        last, version = raw.execute("SELECT last_append, version FROM ai_sessions").fetchone()
    assert "Reconnect it." in bodies
    assert json.loads(last) == [version, [json.loads(second)[-1]]]  # the version, what it added


@pytest.mark.postgres
async def test_every_change_of_the_history_leaves_the_postgres_index_equal_to_a_rebuild(
    postgres_server: object,
) -> None:
    """PostgreSQL's triggers (0016 on): an append the storage declares in ``last_append`` is
    indexed from there, any other change of the history from the new history."""
    from resolutionflow_sqlalchemy import create_engine
    from tests.databases import drop_postgres, start_postgres

    server = start_postgres()
    engine = create_engine(server.database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)

        async def run(statement: str, **params: object) -> None:
            async with engine.begin() as connection:
                await connection.execute(sa.text(statement), params)

        async def clean_words() -> list[str]:
            async with engine.begin() as connection:
                assert (await connection.run_sync(check_index)).clean
                rows = await connection.execute(
                    sa.text(
                        "SELECT body FROM ai_sessions_search_parts WHERE part BETWEEN 1 "
                        "AND 524286 ORDER BY part"
                    )
                )
                return [str(row[0]) for row in rows]

        session_id = uuid4()
        await run(
            "INSERT INTO ai_sessions (id, account_id, user_id, session_type, intake_type, "
            "intake_content, conversation_messages, status, created_at, updated_at, "
            "last_activity_at, version) VALUES (:id, 'acme', 'alice', 'chat', 'free_text', "
            "'{}', CAST(:m AS jsonb), 'active', now(), now(), now(), 1)",
            id=session_id,
            m=json.dumps([_message("first words")]),
        )
        append = (  # every write bumps the version, as the storage's compare-and-set needs
            "UPDATE ai_sessions SET version = version + 1, conversation_messages = "
            "conversation_messages || CAST(:m AS jsonb) WHERE id = :id"
        )
        declared = (  # as the storage appends: the same messages to last_append too
            "UPDATE ai_sessions SET version = version + 1, conversation_messages = "
            "conversation_messages || CAST(:m AS jsonb), last_append = CAST(jsonb_build_array("
            "version + 1, CAST(:m AS jsonb)) AS text) WHERE id = :id"
        )
        replace = (
            "UPDATE ai_sessions SET version = version + 1, conversation_messages = "
            "CAST(:m AS jsonb) WHERE id = :id"
        )

        def two(a: str, b: str) -> str:
            return json.dumps([_message(a), _message(b)])

        for statement, words in [
            (append, ("second", "third")),
            (declared, ("fourth", "fifth")),
            (append, ("sixth", "seventh")),
            (declared, ("eighth", "ninth")),
        ]:
            await run(statement, m=two(*words), id=session_id)
            await clean_words()
        assert await clean_words() == [
            "first words",
            *("second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth"),
        ]

        shorter = [_message("first words"), _message("second"), _message("third, edited")]
        await run(replace, m=json.dumps(shorter), id=session_id)
        assert await clean_words() == ["first words", "second", "third, edited"]
        await run(replace, m="[]", id=session_id)
        assert await clean_words() == []
        await run(declared, m=two("again", "more"), id=session_id)
        await run(append, m=two("and", "more"), id=session_id)
        await run(declared, m=two("once", "more"), id=session_id)
        assert await clean_words() == ["again", "more", "and", "more", "once", "more"]
    finally:
        await engine.dispose()
        drop_postgres(server)
