"""``resolutionflow migrate assistant-chats``: the legacy chats become chat sessions."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

import resolutionflow_sqlalchemy
from resolutionflow_sqlalchemy import MigrationInterrupted, MigrationReport, SqlStorage
from resolutionflow_sqlalchemy.tables import assistant_chats
from tests.cli.conftest import Cli

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def _chat(number: int, messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": uuid.UUID(int=number),
        "account_id": "default",
        "user_id": "owner",
        "title": None,
        "messages": messages,
        "created_at": T0 + timedelta(minutes=number),
        "updated_at": T0 + timedelta(minutes=number),
    }


def _seed(database_url: str, chats: list[dict[str, Any]]) -> None:
    async def write() -> None:
        storage = SqlStorage.from_url(database_url)
        try:
            await storage.database.write(
                lambda conn: conn.execute(sa.insert(assistant_chats), chats)
            )
        finally:
            await storage.dispose()

    asyncio.run(write())


@pytest.fixture
def legacy(cli: Cli) -> list[dict[str, Any]]:
    """Twelve legacy chats: ten plain, one with a system message, one with no user message."""
    chats = [
        _chat(
            n,
            [
                {"role": "user", "content": f"Printer {n} jams"},
                {"role": "assistant", "content": "Clear it."},
            ],
        )
        for n in range(1, 11)
    ]
    chats.append(
        _chat(11, [{"role": "user", "content": "VPN drops"}, {"role": "system", "content": "x"}])
    )
    chats.append(_chat(12, [{"role": "assistant", "content": "Hello, how can I help?"}]))
    _seed(cli.database_url, chats)
    return chats


def test_migrates_the_legacy_chats_with_a_summary(cli: Cli, legacy: list[Any]) -> None:
    shown = cli.ok("migrate", "assistant-chats", "--batch-size", "4").stdout
    lines = [" ".join(line.split()) for line in shown.splitlines()]
    assert "Legacy chats 12" in lines
    assert "Migrated now 11" in lines
    assert "Already migrated 0" in lines
    assert "Not migrated 1" in lines
    assert "Messages left out 2" in lines  # the system message, and chat 12's only one
    assert any(line.startswith(f"{uuid.UUID(int=12)}: ") for line in lines)
    assert any(line.startswith(f"{uuid.UUID(int=11)} #1: ") for line in lines)
    sessions = cli.json("sessions", "list", "--type", "chat")["items"]
    assert len(sessions) == 11
    assert {row["display_title"] for row in sessions} >= {"Printer 1 jams", "VPN drops"}


def test_is_safe_to_run_twice(cli: Cli, legacy: list[Any]) -> None:
    first = cli.json("migrate", "assistant-chats")
    assert (first["total"], first["migrated"], first["already_migrated"]) == (12, 11, 0)
    again = cli.json("migrate", "assistant-chats")
    assert (again["total"], again["migrated"], again["already_migrated"]) == (12, 0, 11)
    assert [chat["chat_id"] for chat in again["not_migrated"]] == [str(uuid.UUID(int=12))]
    # Chat 11's left-out message is not repeated; chat 12 is tried (and reported) again.
    assert [m["chat_id"] for m in again["refused_messages"]] == [str(uuid.UUID(int=12))]
    assert len(cli.json("sessions", "list")["items"]) == 11


def test_nothing_to_migrate_is_fine(cli: Cli) -> None:
    report = cli.json("migrate", "assistant-chats")
    assert report == {
        "total": 0,
        "done": 0,
        "migrated": 0,
        "already_migrated": 0,
        "not_migrated": [],
        "refused_messages": [],
    }


def test_an_interrupted_run_says_what_was_done_and_fails(
    cli: Cli, legacy: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def interrupted(*_: Any, **__: Any) -> MigrationReport:
        report = MigrationReport(total=12, migrated=4)
        try:
            raise ConnectionResetError("the server closed the connection")
        except ConnectionResetError as error:
            raise MigrationInterrupted(report) from error

    monkeypatch.setattr(resolutionflow_sqlalchemy, "migrate_assistant_chats", interrupted)
    result = cli("migrate", "assistant-chats")
    assert result.exit_code == 4
    assert "Migrated now 4" in " ".join(result.stdout.split())
    assert result.stderr.splitlines() == [
        "resolutionflow: unavailable: legacy chat migration interrupted after 4 of 12 chats; "
        "run it again to continue (ConnectionResetError: the server closed the connection)"
    ]
    assert "Traceback" not in result.output


def test_a_terminal_shows_a_progress_bar_on_stderr(cli: Cli, legacy: list[Any]) -> None:
    result = cli.ok("migrate", "assistant-chats", "--json", env={"FORCE_COLOR": "1"})
    assert "Migrating assistant chats" in result.stderr
    assert "12/12" in result.stderr
    assert json.loads(result.stdout)["migrated"] == 11  # stdout stays clean JSON
