"""Every refusal is one line on stderr saying what was refused and why, with its exit code:
1 refused, 2 usage or configuration, 3 not found, 4 unavailable. Never a traceback."""

from __future__ import annotations

import re

import pytest

from tests.cli.conftest import Cli, Opening, llm_fails

UNKNOWN = "00000000-0000-0000-0000-00000000beef"


def _resolved(cli: Cli) -> str:
    session_id = cli.new_guided()
    cli.ok("resolve", session_id, "--summary", "Replaced the toner")
    return session_id


CASES: list[tuple[str, int, list[str], str]] = [
    ("unknown command", 2, ["sesions"], r"No such command 'sesions'. Did you mean 'sessions'\?"),
    ("missing option", 2, ["resolve", "{id}"], r"Missing option '--summary'"),
    ("malformed id", 2, ["pause", "not-a-uuid"], r"Invalid value for 'ID'"),
    ("malformed identity", 2, ["pause", "{id}", "--as", "alice"], r"expected ACCOUNT:USER:ROLE"),
    ("unknown role", 2, ["pause", "{id}", "--as", "a:b:root"], r"the role must be one of"),
    (
        "unknown choice",
        2,
        ["sessions", "list", "--status", "open"],
        r"Invalid value for '--status'",
    ),
    ("bad date", 2, ["sessions", "list", "--to", "yesterday"], r"expected a date \(2026-11-01\)"),
    ("limit too big", 2, ["sessions", "list", "--limit", "500"], r"--limit"),
    ("foreign cursor", 1, ["sessions", "list", "--cursor", "abc"], r"cursor: is not a cursor"),
    ("unknown session", 3, ["sessions", "show", UNKNOWN], rf"session {UNKNOWN} not found"),
    ("closed session", 1, ["pause", "{resolved}"], r"cannot pause a session that is resolved"),
    ("blank summary", 1, ["resolve", "{id}", "-s", " "], r"resolution_summary: must not be empty"),
    ("blank reason", 1, ["escalate", "{id}", "-r", ""], r"escalation_reason: must not be empty"),
    ("claim own", 1, ["claim", "{id}"], r"cannot claim a session that is active"),
    ("chat in guided", 1, ["chat", "{id}"], r"it is a guided session; answer its steps with"),
    ("guide a chat", 1, ["guide", "{chat}"], r"it is a chat session; chat in it with"),
    ("chat when closed", 1, ["guide", "{resolved}"], r"it is resolved \(a closed session"),
    ("no PSA", 2, ["ticket", "link", "{id}", "T-1"], r"account default has no PSA connection"),
]


@pytest.mark.parametrize(
    ("code", "command", "says"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_a_refusal_is_one_line_and_its_exit_code(
    cli: Cli, code: int, command: list[str], says: str
) -> None:
    makers = {"id": cli.new_guided, "chat": cli.new_chat, "resolved": lambda: _resolved(cli)}
    values = {name: make() for name, make in makers.items() if f"{{{name}}}" in command}
    args = [part.format(**values) for part in command]
    line = cli.refused(code, *args)
    assert re.search(says, line), line


def test_an_llm_failure_says_where_the_input_is_saved(cli: Cli, opening: Opening) -> None:
    llm_fails(opening)
    line = cli.refused(4, "sessions", "new", "Outlook asks for the password")
    saved = re.fullmatch(
        r"resolutionflow: unavailable: offline assistant: injected failure; "
        r"your input is saved in session ([0-9a-f-]{36})",
        line,
    )
    assert saved is not None
    session = cli.session(saved.group(1))
    assert [m["role"] for m in session["messages"]] == ["user"]


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"RESOLUTIONFLOW_PORT": "eighty"}, r"invalid setting RESOLUTIONFLOW_PORT: "),
        ({"RESOLUTIONFLOW_LLM": "gpt"}, r"invalid setting RESOLUTIONFLOW_LLM: "),
        ({"RESOLUTIONFLOW_LLM": "anthropic"}, r"RESOLUTIONFLOW_LLM=anthropic, but .*ANTHROPIC"),
        (
            {"RESOLUTIONFLOW_DATABASE_URL": "mysql://root:hunter2@db/x"},
            r"unsupported database URL 'mysql://root:\*\*\*@db/x'",
        ),
    ],
)
def test_a_bad_configuration_is_one_line_and_exit_2(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], says: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    line = cli.refused(2, "sessions", "list")
    assert re.search(says, line), line
    assert "hunter2" not in line


def test_a_sqlite_file_in_no_directory_is_a_configuration_error(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESOLUTIONFLOW_DATABASE_URL", "sqlite:////nonexistent/dir/x.sqlite3")
    line = cli.refused(2, "sessions", "list")
    assert line == (
        "resolutionflow: error: cannot open the database sqlite:////nonexistent/dir/x.sqlite3: "
        "the directory /nonexistent/dir does not exist"
    )


def test_an_unreachable_database_is_unavailable(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESOLUTIONFLOW_DATABASE_URL", "postgresql://rf:s3cret@127.0.0.1:1/rf")
    line = cli.refused(4, "sessions", "list")
    assert line.startswith("resolutionflow: unavailable: the database cannot be reached"), line
    assert "s3cret" not in line


def test_a_refusal_prints_nothing_on_stdout(cli: Cli) -> None:
    result = cli("sessions", "show", UNKNOWN, "--json")
    assert result.exit_code == 3
    assert result.stdout == ""
