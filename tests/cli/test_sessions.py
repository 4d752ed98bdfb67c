"""``resolutionflow sessions``: start, list (filters, pages, the type column), show."""

from __future__ import annotations

import json
import re
import shlex
from datetime import UTC, datetime, timedelta

import pytest

from tests.cli.conftest import Cli

ANSI = re.compile(r"\x1b\[[0-9;]*m")
CYAN = re.compile(r"\x1b\[[0-9;]*\b36m◆ Guided")
VIOLET = re.compile(r"\x1b\[[0-9;]*38;5;177m● Chat")


@pytest.mark.parametrize(
    ("kind", "problem", "shown_lines", "continue_with"),
    [
        (
            "chat",
            "Outlook asks for the password",
            [
                "● Chat",
                "Outlook asks for the password",
                "[offline assistant] Problem area: email / Outlook",
                "Questions",
                "1. Does it affect one mailbox or several?",
            ],
            "chat",
        ),
        (
            "guided",
            "The office printer is offline",
            [
                "◆ Guided",
                "Step 1 · Question",
                "25% discovery",
                "Is it one user or everyone printing",
            ],
            "guide",
        ),
    ],
)
def test_new_shows_the_first_turn_and_how_to_continue(
    cli: Cli, kind: str, problem: str, shown_lines: list[str], continue_with: str
) -> None:
    """A chat shows the assistant's reply with its questions; a guided session its first
    step, its confidence and tier. Both say the command that continues them."""
    shown = cli.ok("sessions", "new", "--type", kind, problem).stdout
    for line in shown_lines:
        assert line in shown
    assert "[QUESTIONS]" not in shown  # the marker block is parsed, not shown
    assert re.search(rf"Continue with: resolutionflow {continue_with} [0-9a-f-]{{36}}", shown)


def test_new_json_is_the_whole_session(cli: Cli) -> None:
    chat = cli.json("sessions", "new", "Outlook asks for the password")
    assert chat["session_type"] == "chat"
    assert chat["status"] == "active"
    assert [m["role"] for m in chat["messages"]] == ["user", "assistant"]
    reply = chat["messages"][1]
    assert reply["content"].count("[QUESTIONS]") == 1
    assert reply["questions"][0]["text"] == "Does it affect one mailbox or several?"
    assert "[QUESTIONS]" not in reply["text"]
    guided = cli.json("sessions", "new", "--type", "guided", "VPN drops every ten minutes")
    assert guided["session_type"] == "guided"
    assert guided["confidence_tier"] == "discovery"
    (step,) = guided["steps"]
    assert step["kind"] == "question"
    assert step["confidence"] == 0.35  # the intake already says it drops
    assert step["response"] is None


def test_new_reads_the_problem_from_stdin(cli: Cli) -> None:
    log = "Event 7031: the Print Spooler service terminated unexpectedly\n"
    piped = cli.ok("sessions", "new", "--type", "guided", "-", "--json", input=log).stdout
    assert json.loads(piped)["intake_content"] == {"text": log.strip()}
    line = cli.refused(2, "sessions", "new", "-", input="  \n")
    assert line == "resolutionflow: error: the problem text must not be empty"


def test_list_marks_each_type_apart_newest_activity_first(cli: Cli) -> None:
    chat = cli.new_chat()
    guided = cli.new_guided()
    shown = cli.ok("sessions", "list").stdout
    rows = [line for line in shown.splitlines() if line.strip()]
    assert rows[0].split() == [
        *("ID", "TYPE", "STATUS", "TITLE", "OWNER", "STEPS", "CONFIDENCE"),
        *("LAST", "ACTIVITY", "TICKET"),
    ]
    assert rows[1].startswith(guided)
    assert "◆ Guided" in rows[1]
    assert "25% discovery" in rows[1]
    assert rows[2].startswith(chat)
    assert "● Chat" in rows[2]
    assert "Outlook keeps asking for the password" in rows[2]
    assert not ANSI.search(shown), "no colour when the output is not a terminal"


def test_list_colours_guided_cyan_and_chat_violet_on_a_terminal(cli: Cli) -> None:
    cli.new_chat()
    cli.new_guided()
    terminal = {"FORCE_COLOR": "1", "TERM": "xterm-256color", "COLUMNS": "200"}
    coloured = cli.ok("sessions", "list", env=terminal).stdout
    assert CYAN.search(coloured)
    assert VIOLET.search(coloured)
    plain = cli.ok("sessions", "list", env={**terminal, "NO_COLOR": "1"}).stdout
    assert not CYAN.search(plain)
    assert not VIOLET.search(plain)
    assert "◆ Guided" in plain  # the marks tell the types apart without colour


def test_list_filters_like_the_api(cli: Cli) -> None:
    chat = cli.new_chat()
    guided = cli.new_guided()
    bob = cli.new_chat("VPN drops", "--as", "default:bob:engineer")
    cli.ok("pause", chat)

    def ids(*filters: str) -> set[str]:
        return {row["id"] for row in cli.json("sessions", "list", *filters)["items"]}

    assert ids() == {chat, guided, bob}
    assert ids("--type", "chat") == {chat, bob}
    assert ids("--type", "guided") == {guided}
    assert ids("--type", "guided", "--type", "chat") == {chat, guided, bob}
    assert ids("--status", "paused") == {chat}
    assert ids("--status", "active", "--type", "chat") == {bob}
    assert ids("--owner", "bob") == {bob}
    today = datetime.now(UTC).date()
    assert ids("--from", today.isoformat()) == {chat, guided, bob}
    assert ids("--to", (today - timedelta(days=1)).isoformat()) == set()
    assert ids("--from", (today + timedelta(days=1)).isoformat()) == set()
    assert ids("--to", f"{today.isoformat()}T23:59:59+00:00") == {chat, guided, bob}
    # An engineer sees their own sessions only (and escalated ones).
    assert {
        row["id"] for row in cli.json("sessions", "list", "--as", "default:bob:engineer")["items"]
    } == {bob}


def test_list_keeps_ids_whole_on_a_narrow_terminal(cli: Cli) -> None:
    session_id = cli.new_guided("A problem with a rather long description of what goes wrong")
    narrow = cli.ok("sessions", "list", env={"COLUMNS": "80"}).stdout
    header, row = narrow.splitlines()[:2]
    assert header.split() == ["ID", "TYPE", "STATUS", "TITLE"]
    assert row.startswith(f"{session_id}  ◆ Guided  active")
    assert row.rstrip().endswith("…")
    assert max(len(line) for line in narrow.splitlines()) <= 80


def test_list_pages_with_a_cursor(cli: Cli) -> None:
    made = [cli.new_guided(f"Problem number {n}") for n in range(5)]
    seen: list[str] = []
    page = cli.json("sessions", "list", "--limit", "2")
    while True:
        seen.extend(row["id"] for row in page["items"])
        if page["next_cursor"] is None:
            break
        page = cli.json("sessions", "list", "--limit", "2", "--cursor", page["next_cursor"])
    assert seen == list(reversed(made))
    shown = cli.ok("sessions", "list", "--limit", "2").stdout
    assert "More: resolutionflow sessions list --limit 2 --cursor " in shown


def test_the_more_hint_repeats_the_filters_and_its_page_stays_filtered(cli: Cli) -> None:
    guided = [cli.new_guided(f"Guided problem {n}") for n in range(3)]
    cli.new_chat()
    shown = cli.ok("sessions", "list", "--type", "guided", "--limit", "2").stdout
    (hint,) = [line for line in shown.splitlines() if line.startswith("More: ")]
    command = shlex.split(hint.removeprefix("More: "))

    expected = [
        "resolutionflow",
        "sessions",
        "list",
        "--type",
        "guided",
        "--limit",
        "2",
        "--cursor",
    ]
    assert command[:8] == expected
    rest = cli.json(*command[1:])
    assert [row["id"] for row in rest["items"]] == [guided[0]]
    assert rest["next_cursor"] is None


def test_a_cursor_used_with_other_filters_is_a_clear_error(cli: Cli) -> None:
    for n in range(3):
        cli.new_guided(f"Guided problem {n}")
    cursor = cli.json("sessions", "list", "--type", "guided", "--limit", "2")["next_cursor"]

    line = cli.refused(1, "sessions", "list", "--limit", "2", "--cursor", cursor)

    assert "cursor: belongs to a query with other filters" in line


def test_list_says_when_nothing_matches(cli: Cli) -> None:
    assert cli.ok("sessions", "list").stdout.strip() == "No sessions match."
    assert cli.json("sessions", "list") == {"items": [], "next_cursor": None}


def test_show_chat_has_its_messages_with_parsed_markers(cli: Cli) -> None:
    session_id = cli.new_chat()
    shown = cli.ok("sessions", "show", session_id).stdout
    assert "● Chat" in shown
    assert f"ID          {session_id}" in shown
    assert "active" in shown
    assert "not linked" in shown
    assert "Conversation (2 messages)" in shown
    assert "Outlook keeps asking for the password" in shown
    assert "Questions" in shown
    assert "2. Does the same mailbox work in Outlook on the web (OWA)?" in shown
    assert "[QUESTIONS]" not in shown
    assert "[/QUESTIONS]" not in shown


def test_show_guided_has_its_steps_options_answers_and_confidence(cli: Cli) -> None:
    session_id = cli.new_guided()
    cli.ok("guide", session_id, input="everyone\nyes, it prints\n/quit\n")
    shown = cli.ok("sessions", "show", session_id).stdout
    assert "◆ Guided" in shown
    assert "Steps (3)" in shown
    assert "Step 1 · Question" in shown
    assert "Answer: everyone" in shown
    assert "Step 3 · Action" in shown
    assert "1. Done, it worked" in shown
    assert "65% exploring" in shown
    assert "offline-printing" in shown
    session = cli.session(session_id)
    assert [step["response"] for step in session["steps"]] == ["everyone", "yes, it prints", None]
    assert session["steps"][2]["options"][0] == {"label": "Done, it worked", "description": None}
    assert session["psa_deliveries"] == []


def test_show_has_the_psa_link_and_the_delivery_of_its_notes(cli: Cli, psa: object) -> None:
    session_id = cli.new_guided()
    cli.ok("ticket", "link", session_id, "T-100")
    cli.ok("resolve", session_id, "--summary", "Cleared the stuck job")
    shown = cli.ok("sessions", "show", session_id).stdout
    assert "memory #T-100 — Printer on floor 2 offline (Acme Ltd)" in shown
    assert "PSA deliveries" in shown
    assert re.search(r"resolution\s+memory #T-100\s+pending\s+0\s+next try", shown)
    (delivery,) = cli.session(session_id)["psa_deliveries"]
    assert delivery["note_kind"] == "resolution"
    assert delivery["ticket_id"] == "T-100"
    assert delivery["state"] == "pending"
    assert delivery["attempts"] == 0


def test_stored_text_cannot_drive_the_terminal(cli: Cli) -> None:
    """Escape sequences and control characters in what people or the assistant wrote are
    not passed to the terminal (they could recolour, retitle, or write the clipboard)."""
    hostile = "Printer \x1b]52;c;ZXZpbA==\x07 offline \x1b[2J\rgone"
    session_id = cli.new_chat(hostile)
    outputs = [
        cli.ok("sessions", "list").stdout,
        cli.ok("sessions", "show", session_id).stdout,
        cli.ok("chat", session_id, input=f"again {hostile}\n/quit\n").stdout,
    ]
    for shown in outputs:
        assert "\x1b" not in shown
        assert "\x07" not in shown
        assert "\r" not in shown
        assert "Printer ]52;c;ZXZpbA== offline [2J" in shown
    stored = cli.session(session_id)["messages"][0]["content"]
    assert stored == hostile.strip()  # stored as written; only the display is cleaned
