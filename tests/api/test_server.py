"""`resolutionflow_api.server`: what `run` does before it serves (in process)."""

from __future__ import annotations

import asyncio
import io
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from resolutionflow_api import server
from resolutionflow_app import Settings, StartupError
from resolutionflow_core.access import Actor, Role
from resolutionflow_sqlalchemy import SqlStorage, migrations
from resolutionflow_sqlalchemy.keys import SqlKeyStore


def _settings(tmp_path: Path, **values: object) -> Settings:
    values = {"llm": "offline", **values}
    return Settings(database_url=f"sqlite:///{tmp_path / 'serve.sqlite3'}", **values)  # type: ignore[arg-type]


async def _actor_of(url: str, secret: str) -> Actor | None:
    storage = SqlStorage.from_url(url)
    try:
        return await SqlKeyStore(storage.database).authenticate(secret)
    finally:
        await storage.dispose()


async def test_the_first_start_migrates_and_prints_an_owner_key_once(tmp_path: Path) -> None:
    settings = _settings(tmp_path, port=8123)
    first, second = io.StringIO(), io.StringIO()

    new_key = await server.prepare(settings, first)
    again = await server.prepare(settings, second)

    assert new_key is not None
    assert again is None
    assert await migrations.current(settings.database_url) == migrations.heads()[0]
    printed = first.getvalue()
    assert printed.count(new_key.secret) == 2  # the key, and the curl example
    assert "http://127.0.0.1:8123/api/v1/ai-sessions" in printed
    assert "http://127.0.0.1:8123/schema" in printed
    assert second.getvalue() == ""
    assert await _actor_of(settings.database_url, new_key.secret) == Actor(
        "default", "owner", Role.OWNER
    )


async def test_no_key_is_created_while_any_key_exists_even_revoked(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    await migrations.upgrade(settings.database_url)
    storage = SqlStorage.from_url(settings.database_url)
    keys = SqlKeyStore(storage.database)
    made = await keys.create(Actor("acme", "ops", Role.OWNER), "ops", now=datetime.now(UTC))
    await keys.revoke(made.key.id, now=datetime.now(UTC))
    await storage.dispose()

    assert await server.prepare(settings, io.StringIO()) is None


async def test_an_anthropic_llm_without_a_key_is_a_startup_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)

    with pytest.raises(StartupError, match="ANTHROPIC_API_KEY"):
        await server.prepare(_settings(tmp_path, llm="anthropic"), io.StringIO())

    assert not (tmp_path / "serve.sqlite3").exists(), "nothing was touched"


def test_run_raises_the_startup_error_before_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)

    with pytest.raises(StartupError):
        server.run(_settings(tmp_path, llm="anthropic"))


async def test_an_unreachable_database_is_a_startup_error_without_the_password() -> None:
    settings = Settings(database_url="postgresql://app:s3cret@127.0.0.1:9/nowhere", llm="offline")

    with pytest.raises(StartupError) as raised:
        await asyncio.wait_for(server.prepare(settings, io.StringIO()), 30)

    assert "s3cret" not in str(raised.value)
    assert "127.0.0.1:9/nowhere" in str(raised.value)


def test_settings_reach_the_worker_processes_through_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RESOLUTIONFLOW_")}
    monkeypatch.setattr(os, "environ", clean)
    settings = _settings(tmp_path, port=9001, workers=3, migrate_on_start=False)

    server.export(settings)

    assert Settings() == settings
    assert os.environ["RESOLUTIONFLOW_MIGRATE_ON_START"] == "false"
