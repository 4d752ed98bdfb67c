"""The installed ``resolutionflow`` console script, in a subprocess, on a SQLite file and on
PostgreSQL: what an operator runs, with the environment as the only configuration."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import CLEARED_ENV, Cli
from tests.databases import PostgresServer, _run_admin

SCRIPT = Path(sys.executable).with_name("resolutionflow")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

pytestmark = [
    pytest.mark.skipif(not SCRIPT.exists(), reason=f"no console script at {SCRIPT}"),
    pytest.mark.process,
]


@dataclass
class Installed:
    """Runs the console script with a given database."""

    database_url: str | None
    """``None``: the default, a file in the current directory."""
    cwd: Path

    @property
    def env(self) -> dict[str, str]:
        hidden = {*CLEARED_ENV, "RESOLUTIONFLOW_DATABASE_URL"}
        env = {k: v for k, v in os.environ.items() if k not in hidden}
        env["RESOLUTIONFLOW_LLM"] = "offline"
        if self.database_url is not None:
            env["RESOLUTIONFLOW_DATABASE_URL"] = self.database_url
        return env

    def run(
        self, *args: str, input: str | None = None, code: int = 0
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(SCRIPT), *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.cwd,
            timeout=60,
            check=False,
        )
        assert done.returncode == code, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stdout + done.stderr
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)


def _work_a_chat_and_a_guided_session(cli: Installed) -> None:
    """Start both kinds, list them, chat through stdin, a refusal, the result."""
    chat = cli.json("sessions", "new", "--type", "chat", "Outlook keeps asking for the password")
    guided = cli.json("sessions", "new", "--type", "guided", "The office printer is offline")
    listed = cli.run("sessions", "list").stdout
    assert re.search(rf"{guided['id']}\s+◆ Guided\s+active", listed)
    assert re.search(rf"{chat['id']}\s+● Chat\s+active", listed)
    assert not ANSI.search(listed), "no colour in a pipe"

    script = "It is one mailbox\n/update ticket_note quick\n/resolve Re-created the profile\n"
    talked = cli.run("chat", chat["id"], input=script).stdout
    assert 'you › It is one mailbox\nassistant\n[offline assistant] Thanks, noted: "It is' in talked
    assert "Suggested actions" in talked
    assert "[ACTIONS]" not in talked
    assert "Status update · ticket_note · quick" in talked
    assert "Resolved: the session is now resolved." in talked

    refused = cli.run("pause", chat["id"], code=1)
    assert refused.stdout == ""
    assert refused.stderr == (
        "resolutionflow: refused: cannot pause a session that is resolved: "
        "a resolved session is closed and never changes again\n"
    )
    shown = cli.json("sessions", "show", chat["id"])
    assert shown["status"] == "resolved"
    assert shown["resolution_summary"] == "Re-created the profile"
    assert [m["role"] for m in shown["messages"]] == ["user", "assistant"] * 2


def test_the_console_script_on_the_default_sqlite_file(tmp_path: Path) -> None:
    """No configuration at all: ./resolutionflow.sqlite3, created with its schema on first use."""
    cli = Installed(None, tmp_path)
    assert cli.run("--version").stdout.startswith("resolutionflow ")
    first = cli.run("sessions", "list")
    assert first.stdout == "No sessions match.\n"
    assert "Created the database schema in sqlite:///resolutionflow.sqlite3" in first.stderr
    assert (tmp_path / "resolutionflow.sqlite3").exists()
    _work_a_chat_and_a_guided_session(cli)


@pytest.fixture
def postgres_database(postgres_server: PostgresServer) -> Iterator[str]:
    """A database of its own on the test server, its URL with a password (which the server
    may ignore, trusting local connections: the point is that it is never shown)."""
    name = f"rf_cli_{uuid.uuid4().hex[:10]}"
    _run_admin(f'CREATE DATABASE "{name}"')
    base, _, _ = postgres_server.admin_url.rpartition("/")
    if "@" in base and ":" not in base.split("//", 1)[1].split("@", 1)[0]:
        base = base.replace("@", ":pa55word@", 1)
    try:
        yield f"{base}/{name}"
    finally:
        _run_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgres
def test_the_console_script_on_postgresql(postgres_database: str, tmp_path: Path) -> None:
    cli = Installed(postgres_database, tmp_path)
    line = cli.run("sessions", "list", code=2).stderr
    assert line.endswith("has no schema yet: run 'resolutionflow db upgrade'\n")
    upgraded = cli.json("db", "upgrade")
    current = cli.run("db", "current").stdout
    assert upgraded["to"] in current
    assert "up to date" in current
    for shown in (line, json.dumps(upgraded), current):
        assert "pa55word" not in shown
    _work_a_chat_and_a_guided_session(cli)


def _read_until(fd: int, seen: list[str], wanted: str, times: int = 1) -> None:
    """Read the terminal until it has shown ``wanted`` ``times`` (ANSI codes aside)."""
    deadline = time.monotonic() + 30
    while ANSI.sub("", "".join(seen)).count(wanted) < times:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"{wanted!r} not shown; the terminal showed:\n{''.join(seen)}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the program ended and closed the terminal
            chunk = b""
        assert chunk, f"{wanted!r} not shown before the end:\n{''.join(seen)}"
        seen.append(chunk.decode("utf-8", "replace"))


def test_chat_in_a_real_terminal(tmp_path: Path, cli: Cli) -> None:
    """On a terminal (a pty): colours, the prompt, typed lines, the streamed reply, /resolve."""
    installed = Installed(cli.database_url, tmp_path)
    chat = {"id": cli.new_chat("Outlook keeps asking for the password")}
    leader, follower = pty.openpty()
    env = {**installed.env, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
    process = subprocess.Popen(
        [str(SCRIPT), "chat", chat["id"]],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        cwd=tmp_path,
        close_fds=True,
    )
    os.close(follower)
    seen: list[str] = []
    try:
        _read_until(leader, seen, "you › ")
        os.write(leader, b"It is one mailbox\n")
        _read_until(leader, seen, "you › ", times=2)  # the reply came, the prompt is back
        os.write(leader, b"/resolve Re-created the profile\n")
        _read_until(leader, seen, "Resolution note")
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        os.close(leader)
    shown = "".join(seen)
    plain = ANSI.sub("", shown)
    assert "\x1b[" in shown, "colours on a terminal"
    assert "38;5;177m" in shown or "35m" in shown  # the violet chat mark
    assert "you › It is one mailbox" in plain  # typed, echoed by the terminal
    assert "Suggested actions" in plain
    assert '[offline assistant] Thanks, noted: "It is one mailbox"' in plain
    assert "Resolved: the session is now resolved." in plain
    assert cli.session(chat["id"])["status"] == "resolved"
