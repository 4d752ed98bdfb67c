"""SQLite's triggers for the messages (migration 0013): an appended history is indexed from
its appended text alone; every other change of the history still leaves the index equal to a
rebuild."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from uuid import uuid4

import pytest
import sqlalchemy as sa

from resolutionflow_sqlalchemy.search import check_index
from resolutionflow_sqlalchemy.search_schema import APPENDED
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


def _clean(path: str) -> bool:
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            return check_index(connection).clean
    finally:
        engine.dispose()


def _message(text: str) -> dict[str, str]:
    return {"role": "user", "content": text, "created_at": "2026-12-02T17:00:00+00:00"}


def test_every_change_of_the_history_leaves_the_index_equal_to_a_rebuild(
    db: sqlite3.Connection,
) -> None:
    path = db.execute("PRAGMA database_list").fetchone()[2]
    session_id = uuid4().hex
    db.execute(
        "INSERT INTO ai_sessions (id, account_id, user_id, session_type, intake_type, "
        "intake_content, conversation_messages, status, created_at, updated_at, "
        "last_activity_at, version) VALUES (?, 'acme', 'alice', 'chat', 'free_text', '{}', ?, "
        "'active', '2026-12-02 17:00:00.000000', '2026-12-02 17:00:00.000000', "
        "'2026-12-02 17:00:00.000000', 1)",
        [session_id, json.dumps([_message("first words")])],
    )
    append = (
        "UPDATE ai_sessions SET conversation_messages = json_insert(conversation_messages, "
        "'$[#]', json(?), '$[#]', json(?)) WHERE id = ?"
    )
    replace = "UPDATE ai_sessions SET conversation_messages = ? WHERE id = ?"

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
        (append, [json.dumps(_message("fourth")), json.dumps(_message("fifth")), session_id]),
        (append, [json.dumps(_message("sixth")), json.dumps(_message("seventh")), session_id]),
    ]
    for statement, params in steps:
        db.execute(statement, params)
        assert _clean(path)
    assert words() == ["first words", "second", "third", "fourth", "fifth", "sixth", "seventh"]

    shorter = history()[:3]
    shorter[2] = _message("third, edited")
    db.execute(replace, [json.dumps(shorter, separators=(",", ":")), session_id])
    assert _clean(path)
    assert words() == ["first words", "second", "third, edited"]

    db.execute(replace, ["[]", session_id])
    assert _clean(path)
    assert words() == []

    db.execute(append, [json.dumps(_message("again")), json.dumps(_message("more")), session_id])
    db.execute(append, [json.dumps(_message("and")), json.dumps(_message("more")), session_id])
    assert _clean(path)
    assert words() == ["again", "more", "and", "more"]
