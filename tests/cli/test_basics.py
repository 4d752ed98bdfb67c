"""The command itself: version, help with an example for every command, completion."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from resolutionflow_cli.main import placed_options
from resolutionflow_core import __version__
from tests.cli.conftest import Cli

COMMANDS = [
    ["serve"],
    ["db", "upgrade"],
    ["db", "downgrade"],
    ["db", "current"],
    ["keys", "create"],
    ["keys", "list"],
    ["keys", "revoke"],
    ["sessions", "list"],
    ["sessions", "show"],
    ["sessions", "new"],
    ["chat"],
    ["guide"],
    ["resolve"],
    ["escalate"],
    ["pause"],
    ["resume"],
    ["abandon"],
    ["claim"],
    ["status-update"],
    ["ticket", "link"],
    ["psa", "connect"],
    ["psa", "show"],
    ["psa", "test"],
    ["psa", "disconnect"],
    ["secret-key"],
    ["secret-key", "rotate"],
    ["outbox", "run"],
    ["migrate", "assistant-chats"],
]


def test_version_prints_the_installed_version(cli: Cli) -> None:
    assert cli.ok("--version").stdout.strip() == f"resolutionflow {__version__}"


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_explains_itself_with_an_example(cli: Cli, command: list[str]) -> None:
    shown = cli.ok(*command, "--help").stdout
    assert f"resolutionflow {' '.join(command)}" in shown
    assert "Example:" in shown


def test_the_root_help_lists_every_command_identity_and_exit_codes(cli: Cli) -> None:
    shown = cli.ok("--help").stdout
    for name in {command[0] for command in COMMANDS}:
        assert name in shown
    assert "default:owner:owner" in shown
    assert "3 not found" in shown


def test_acting_commands_take_an_identity_and_data_commands_json(cli: Cli) -> None:
    for command in COMMANDS:
        shown = cli.ok(*command, "--help").stdout
        if command[0] in ("chat", "guide", "resolve", "claim", "sessions", "ticket", "psa"):
            assert "--as" in shown, command
        if command not in (["serve"], ["chat"], ["guide"], ["psa", "disconnect"], ["secret-key"]):
            assert "--json" in shown, command


def test_without_a_command_it_shows_the_help(cli: Cli) -> None:
    result = cli()
    assert result.exit_code == 2
    assert "Usage" in result.output
    assert "sessions" in result.output


def test_shell_completion_completes_commands_and_choices(cli: Cli) -> None:
    script = cli.ok("--show-completion", "bash").stdout
    assert "_RESOLUTIONFLOW_COMPLETE=complete_bash" in script
    env = {"_RESOLUTIONFLOW_COMPLETE": "complete_bash"}
    commands = cli(env={**env, "COMP_WORDS": "resolutionflow ses", "COMP_CWORD": "1"})
    assert commands.stdout.split() == ["sessions"]
    types = cli(
        env={**env, "COMP_WORDS": "resolutionflow sessions list --type ", "COMP_CWORD": "4"}
    )
    assert types.stdout.split() == ["guided", "chat"]


def test_as_works_before_the_command_too(cli: Cli) -> None:
    before = cli.json("--as", "acme:bob:engineer", "sessions", "new", "VPN drops")
    after = cli.json("sessions", "new", "VPN drops", "--as", "acme:carol:engineer")
    equals = cli.json("--as=acme:dave:engineer", "sessions", "new", "VPN drops")

    assert (before["owner_id"], after["owner_id"], equals["owner_id"]) == ("bob", "carol", "dave")
    in_acme = cli.json("sessions", "list", "--as", "acme:olga:owner")["items"]
    assert {row["id"] for row in in_acme} == {before["id"], after["id"], equals["id"]}


def test_database_url_works_after_the_command_too(
    cli: Cli, tmp_path: Path, migrated_database: Path
) -> None:
    other = tmp_path / "other.sqlite3"
    shutil.copyfile(migrated_database, other)
    other_url = f"sqlite:///{other}"

    made = cli.json("sessions", "new", "Printer offline", "--database-url", other_url)
    listed_after = cli.json("sessions", "list", f"--database-url={other_url}")
    listed_before = cli.json("--database-url", other_url, "sessions", "list")

    assert [row["id"] for row in listed_after["items"]] == [made["id"]]
    assert [row["id"] for row in listed_before["items"]] == [made["id"]]
    assert cli.json("sessions", "list")["items"] == []  # the default database is untouched


@pytest.mark.parametrize(
    ("given", "placed"),
    [
        (["--as", "a:u:r", "pause", "ID"], ["pause", "ID", "--as", "a:u:r"]),
        (["pause", "ID", "--database-url", "U"], ["--database-url", "U", "pause", "ID"]),
        (
            ["--database-url=U", "--as=a:u:r", "sessions", "list"],
            ["--database-url=U", "sessions", "list", "--as=a:u:r"],
        ),
        (
            ["chat", "ID", "--", "--database-url", "x"],
            ["chat", "ID", "--", "--database-url", "x"],
        ),
        (["--version"], ["--version"]),
    ],
)
def test_options_are_moved_where_click_expects_them(given: list[str], placed: list[str]) -> None:
    assert placed_options(list(given)) == placed
