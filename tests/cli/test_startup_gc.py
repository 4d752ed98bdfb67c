"""The command line collects rarely while it starts and as usual once the command has
started: the application open (`Workbench`) or the server about to run."""

from __future__ import annotations

import gc
import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from resolutionflow_app import Settings
from resolutionflow_cli import startup
from resolutionflow_cli.commands import serve
from resolutionflow_cli.main import main
from resolutionflow_cli.runtime import Workbench

USUAL = (700, 10, 10)


@pytest.fixture(autouse=True)
def collector() -> Iterator[None]:
    """The test process's collector as CPython starts it, and as it was after the test."""
    before = gc.get_threshold()
    gc.set_threshold(*USUAL)
    yield
    startup._usual = None
    gc.unfreeze()
    gc.set_threshold(*before)


def test_starting_collects_rarely_and_started_restores_the_usual_thresholds() -> None:
    startup.starting()
    assert gc.get_threshold() == (startup.STARTING_THRESHOLD, 10, 10)
    startup.starting()  # once only: the usual thresholds are not forgotten
    startup.started()
    assert gc.get_threshold() == USUAL
    assert gc.get_freeze_count() > 0  # start-up's objects are out of later walks


def test_started_without_starting_changes_nothing() -> None:
    gc.set_threshold(1234, 5, 6)
    startup.started()
    assert (gc.get_threshold(), gc.get_freeze_count()) == ((1234, 5, 6), 0)


def test_the_workbench_open_is_the_end_of_start_up(operator_env: str) -> None:
    startup.starting()
    with Workbench(Settings(database_url=operator_env)):
        assert gc.get_threshold() == USUAL


def test_the_server_runs_with_the_usual_collection(
    operator_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, int, int]] = []
    server = importlib.import_module(serve.SERVER_MODULE)
    monkeypatch.setattr(server, "run", lambda settings: seen.append(gc.get_threshold()))
    monkeypatch.setattr(serve, "check_can_listen", lambda host, port: None)
    monkeypatch.setattr(sys, "argv", ["resolutionflow", "serve", "--port", "8765"])
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 0
    assert seen == [USUAL]


PROBE = """
import gc, json, sys
from resolutionflow_cli.main import main
from resolutionflow_core import services

listed = services.SessionService.list

async def list_and_tell(self, *args, **kwargs):
    print("COLLECTOR:" + json.dumps(gc.get_threshold()), file=sys.stderr)
    return await listed(self, *args, **kwargs)

services.SessionService.list = list_and_tell
sys.argv = ["resolutionflow", "sessions", "list"]
main()
"""


@pytest.mark.process
def test_a_command_does_its_work_with_the_usual_collection(database_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESOLUTIONFLOW_")}
    env["RESOLUTIONFLOW_DATABASE_URL"] = database_url
    env["RESOLUTIONFLOW_LLM"] = "offline"
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("COLLECTOR:")]
    fresh = subprocess.run(
        [sys.executable, "-c", "import gc, json; print(json.dumps(gc.get_threshold()))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(line.removeprefix("COLLECTOR:")) == json.loads(fresh.stdout)


def test_a_reindex_and_a_migration_run_with_the_usual_collection(
    operator_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from resolutionflow_sqlalchemy import migrations, search

    seen: list[tuple[str, tuple[int, int, int]]] = []
    checked, upgraded = search.check_index, migrations.upgrade

    def check_index(connection: Any) -> Any:
        seen.append(("reindex", gc.get_threshold()))
        return checked(connection)

    async def upgrade(url: str, revision: str = "head") -> None:
        seen.append(("upgrade", gc.get_threshold()))
        await upgraded(url, revision)

    monkeypatch.setattr(search, "check_index", check_index)
    monkeypatch.setattr(migrations, "upgrade", upgrade)
    for command in (["db", "reindex", "--check"], ["db", "upgrade"]):
        monkeypatch.setattr(sys, "argv", ["resolutionflow", *command])
        with pytest.raises(SystemExit) as done:
            main()
        assert done.value.code == 0, command
    assert seen == [("reindex", USUAL), ("upgrade", USUAL)]
