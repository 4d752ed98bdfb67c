"""``resolutionflow psa``, ``secret-key`` and ``outbox run``: the account's PSA connection,
its credentials sealed and never shown, and the delivery of the notes due on tickets."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from resolutionflow_app import Application
from resolutionflow_app.psa import PROVIDERS
from resolutionflow_core.delivery import RelayReport
from resolutionflow_memory import InMemoryPSA
from resolutionflow_psa import ConnectWisePSA, ConnectWiseSettings, HostGuard
from tests.cli.conftest import TICKET, Cli, OpenHook
from tests.integration.psa.stub import StubServer
from tests.integration.psa.stubs import CW_CREDENTIALS, ConnectWiseStub

# ConnectWise is not contacted when the connection is saved (HaloPSA is: its outcomes).
CONNECTWISE = (
    "psa",
    "connect",
    "connectwise",
    "--setting",
    "site=api-na.myconnectwise.net",
    "--setting",
    "company=acme",
    "--setting",
    "public_key=pub-key",
    "--setting",
    "client_id=rf-app",
    "--status",
    "resolved=Closed",
)
SECRET = "cw-s3cr3t-private-key"


@pytest.fixture
def secret_key(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> str:
    key = cli.ok("secret-key").stdout.strip()
    monkeypatch.setenv("RESOLUTIONFLOW_SECRET_KEY", key)
    return key


def test_secret_key_makes_a_new_fernet_key_each_time(cli: Cli) -> None:
    first, second = (cli.ok("secret-key").stdout.strip() for _ in range(2))
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}=", first)
    assert first != second


def test_connect_asks_for_the_credential_and_never_shows_it(cli: Cli, secret_key: str) -> None:
    connected = cli.ok(*CONNECTWISE, input=f"{SECRET}\n")
    assert "Connected account default to connectwise." in connected.stdout
    assert "private_key (set, sealed)" in connected.stdout
    assert "resolved → Closed" in connected.stdout
    shown = cli.ok("psa", "show")
    view = cli.json("psa", "show")
    assert view["provider"] == "connectwise"
    assert view["settings"]["site"] == "api-na.myconnectwise.net"
    assert view["credentials_set"] == ["private_key"]
    for output in (connected.output, shown.output, str(view)):
        assert SECRET not in output
        assert secret_key not in output


def test_connect_takes_the_credential_as_an_option_too(cli: Cli, secret_key: str) -> None:
    view = cli.json(*CONNECTWISE, "--credential", f"private_key={SECRET}")
    assert view["credentials_set"] == ["private_key"]
    assert SECRET not in str(view)


def test_connect_without_a_secret_key_says_how_to_make_one(cli: Cli) -> None:
    line = cli.refused(2, *CONNECTWISE, "--credential", f"private_key={SECRET}")
    assert "RESOLUTIONFLOW_SECRET_KEY" in line
    assert "resolutionflow secret-key" in line


def test_connect_refuses_bad_input_and_engineers(cli: Cli, secret_key: str) -> None:
    line = cli.refused(2, "psa", "connect", "freshdesk")
    known = ", ".join(sorted(PROVIDERS))
    assert line == f"resolutionflow: error: unknown PSA 'freshdesk': use one of {known}"
    assert known.startswith("autotask, connectwise, halopsa")
    line = cli.refused(1, "psa", "connect", "halopsa", "--credential", "client_secret=x")
    assert "halopsa needs base_url, client_id" in line
    line = cli.refused(2, "psa", "connect", "halopsa", "--setting", "base_url")
    assert "expected KEY=VALUE" in line
    line = cli.refused(1, *CONNECTWISE, "--as", "default:bob:engineer")
    assert line == (
        "resolutionflow: refused: not allowed to connect a PSA: "
        "only owners and admins manage the PSA connection"
    )


def test_test_reads_a_ticket_through_the_connection(
    cli: Cli, secret_key: str, on_open: Callable[[OpenHook], None]
) -> None:
    cli.ok(*CONNECTWISE, "--credential", f"private_key={SECRET}")
    client = InMemoryPSA([TICKET])

    async def through_memory(account_id: str) -> InMemoryPSA:
        assert account_id == "default"
        return client

    def route(application: Application) -> None:
        application.connections.client_for = through_memory  # type: ignore[method-assign]

    on_open(route)
    shown = cli.ok("psa", "test", "T-100").stdout
    assert shown.strip() == "OK: memory ticket #T-100: Printer on floor 2 offline (Acme Ltd)."
    tested = cli.json("psa", "test", "T-100")
    assert tested["company"] == "Acme Ltd"
    assert tested["discovered"] == {"facts": {}, "choices": {}}  # nothing to look up
    cli.refused(3, "psa", "test", "T-404")


def test_test_shows_what_was_discovered_in_the_psa(
    cli: Cli, secret_key: str, on_open: Callable[[OpenHook], None]
) -> None:
    cli.ok(*CONNECTWISE, "--credential", f"private_key={SECRET}")
    with StubServer().running() as server:
        server.stub = stub = ConnectWiseStub(credentials={**CW_CREDENTIALS, "client_id": "rf-app"})
        stub.codebase = "v2025_1"
        settings = ConnectWiseSettings.for_site(
            server.url,
            company="acme",
            public_key="pub-key",
            private_key="priv-key",
            client_id="rf-app",
            timeout=2.0,
        )

        async def through_stub(account_id: str) -> ConnectWisePSA:
            return ConnectWisePSA(settings, guard=HostGuard(allow_loopback=True))

        def route(application: Application) -> None:
            application.connections.client_for = through_stub  # type: ignore[method-assign]

        on_open(route)
        shown = cli.ok("psa", "test", "4711").stdout
        tested = cli.json("psa", "test", "4711")

    assert "OK: connectwise ticket #4711: VPN drops every ten minutes" in shown
    assert re.search(r"codebase\s+v2025_1", shown)
    assert re.search(r"codebase_from\s+companyinfo", shown)
    assert re.search(r"cloud\s+yes", shown)
    facts = tested["discovered"]["facts"]
    assert (facts["codebase"], facts["cloud"], facts["version"]) == ("v2025_1", "yes", "v2025.1")
    assert facts["api"] == f"{server.url}/v2025_1/apis/3.0"


def test_disconnect_removes_the_connection(cli: Cli, secret_key: str) -> None:
    cli.ok(*CONNECTWISE, "--credential", f"private_key={SECRET}")
    assert "Disconnected account default" in cli.ok("psa", "disconnect", "--yes").stdout
    line = cli.refused(3, "psa", "show")
    assert line == "resolutionflow: not found: account default has no PSA connection"
    cli.refused(3, "psa", "disconnect", "-y")
    cli.refused(2, "psa", "test", "T-100")


def test_outbox_run_once_delivers_the_resolution_note(cli: Cli, psa: InMemoryPSA) -> None:
    session_id = cli.new_guided()
    cli.ok("ticket", "link", session_id, "T-100")
    cli.ok("resolve", session_id, "--summary", "Cleared the stuck job")
    assert cli.json("outbox", "run", "--once") == {"delivered": 1, "retrying": 0, "failed": 0}
    (posted,) = psa.notes_on("T-100")
    assert posted.note.kind.value == "resolution"
    assert "Cleared the stuck job" in posted.note.text
    (delivery,) = cli.session(session_id)["psa_deliveries"]
    assert delivery["state"] == "delivered"
    assert delivery["psa_note_id"] == posted.note_id
    again = cli.ok("outbox", "run", "--once").stdout
    assert again.strip() == "Done: 0 delivered, 0 to retry later, 0 failed."


def test_outbox_run_goes_on_until_stopped(
    cli: Cli, psa: InMemoryPSA, on_open: Callable[[OpenHook], None]
) -> None:
    passes: list[int] = []

    class Relay:
        async def run_once(self, *, limit: int) -> RelayReport:
            passes.append(limit)
            if len(passes) == 3:
                raise KeyboardInterrupt  # Ctrl-C
            return RelayReport(delivered=1)

    def stoppable(application: Application) -> None:
        application.relay = Relay  # type: ignore[method-assign,assignment]

    on_open(stoppable)
    shown = cli.ok("outbox", "run", "--limit", "5", "--interval", "0.1").stdout
    assert passes == [5, 5, 5]
    assert "Delivering due PSA notes; Ctrl-C stops." in shown
    assert re.search(r"\d\d:\d\d:\d\d  1 delivered, 0 to retry, 0 failed", shown)
    assert shown.rstrip().endswith("Stopped: 2 delivered, 0 to retry later, 0 failed.")
