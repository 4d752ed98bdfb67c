"""``resolutionflow sessions search`` and ``db reindex``, and "Solved before" on a new session."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.cli.conftest import Cli


def test_search_finds_with_filters_in_a_table_and_as_json(cli: Cli) -> None:
    vpn = cli.new_chat("The VPN tunnel to the branch drops hourly")
    printer = cli.new_guided("Branch printer offline")
    cli.new_chat("Mailbox is full")

    hits = cli.json("sessions", "search", "branch")
    assert sorted(item["id"] for item in hits["items"]) == sorted([vpn, printer])
    assert all("«branch»" in item["match"].lower() for item in hits["items"])

    guided = cli.json("sessions", "search", "branch", "--type", "guided")
    assert [item["id"] for item in guided["items"]] == [printer]

    shown = cli.ok("sessions", "search", "vpn -printer").stdout
    assert vpn in shown
    assert printer not in shown
    assert "Where they match" in shown
    assert "«" not in shown

    assert "No session matches." in cli.ok("sessions", "search", "kerberos").stdout
    line = cli.refused(1, "sessions", "search", "the")
    assert "q: has no word to look for" in line


def test_a_new_session_shows_what_was_solved_before(cli: Cli) -> None:
    old = cli.new_chat("Outlook keeps asking for the password after the migration")
    cli.ok(
        "resolve", old, "--summary", "Rebuilt the Outlook profile", "--root-cause", "stale token"
    )

    new = cli.json("sessions", "new", "Outlook asks for the password again")
    assert [s["id"] for s in new["similar_sessions"]] == [old]
    assert new["similar_sessions"][0]["resolution_summary"] == "Rebuilt the Outlook profile"

    shown = cli.ok("sessions", "new", "Outlook password prompt loops").stdout
    assert "Solved before" in shown
    assert "Rebuilt the Outlook profile" in shown


def test_db_reindex_repairs_an_index_that_lost_an_entry(cli: Cli) -> None:
    session_id = cli.new_chat("Scanner to email stopped after the relay change")
    assert cli.json("db", "reindex", "--check")["clean"] is True

    path = Path(cli.database_url.removeprefix("sqlite:///"))
    with sqlite3.connect(path) as db:  # an operator's manual edit, behind the triggers' back
        db.execute("DELETE FROM ai_sessions_search")  # the session's key in the index
    assert cli.json("sessions", "search", "relay")["items"] == []
    checked = cli("db", "reindex", "--check", "--json")
    assert checked.exit_code == 1
    assert json.loads(checked.stdout)["stale"] == [session_id]

    repaired = cli.json("db", "reindex")
    assert repaired["clean"] is True
    assert repaired["indexed"] == repaired["sessions"] == 1
    assert [i["id"] for i in cli.json("sessions", "search", "relay")["items"]] == [session_id]
