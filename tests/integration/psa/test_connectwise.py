"""The ConnectWise PSA adapter against a stub of ConnectWise's REST API 3.0 on 127.0.0.1."""

from __future__ import annotations

import base64
import socket

import pytest

from resolutionflow_core.errors import PSAError, TicketNotFound
from resolutionflow_core.tickets import NoteKind, PSANote
from resolutionflow_psa import (
    ConnectWisePSA,
    ConnectWiseSettings,
    PSAAuthenticationFailed,
    PSAConfigurationError,
    PSANotFound,
    PSARateLimited,
    PSARequestRejected,
    PSAUnavailable,
    RetryPolicy,
    StatusChangeIgnored,
    UnknownStatus,
)
from resolutionflow_psa import connectwise as cw_module
from tests.integration.psa.conftest import LOOPBACK, Waits, connectwise_settings, half
from tests.integration.psa.stub import (
    CLIENT_TIMEOUT,
    Fault,
    StubServer,
    rate_limited,
    timeout,
    unavailable,
)
from tests.integration.psa.stubs import CW_ACCEPT, ConnectWiseStub

TICKET = "4711"
NOTE = PSANote(NoteKind.RESOLUTION, "Replaced the VPN client; stable for an hour.", "rf:s1:3")


async def test_get_ticket_sends_the_connectwise_credentials_and_maps_the_ticket(
    connectwise: ConnectWisePSA, cw_stub: ConnectWiseStub
) -> None:
    ticket = await connectwise.get_ticket(TICKET)

    assert ticket.provider == "connectwise"
    assert ticket.ticket_id == TICKET
    assert ticket.summary == "VPN drops every ten minutes"
    assert (ticket.company, ticket.contact) == ("Contoso Ltd", "Jane Doe")
    assert (ticket.board, ticket.status) == ("Service Desk", "New")
    assert ticket.extra == {
        "board_id": "1",
        "status_id": "11",
        "company_id": "250",
        "company_identifier": "Contoso",
        "contact_id": "31",
    }
    (request,) = cw_stub.requests
    assert (request.method, request.path) == ("GET", "/v4_6_release/apis/3.0/service/tickets/4711")
    scheme, encoded = request.headers["authorization"].split(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == "acme+pub-key:priv-key"
    assert request.headers["clientid"] == "3c7a1f5e-client"
    assert request.headers["accept"] == CW_ACCEPT


async def test_the_accept_version_is_a_setting(
    server: StubServer, cw_stub: ConnectWiseStub
) -> None:
    settings = connectwise_settings(server, api_version="2024.1")
    async with ConnectWisePSA(settings, guard=LOOPBACK) as psa:
        await psa.get_ticket(TICKET)
    assert cw_stub.requests[0].headers["accept"].endswith("version=2024.1")


async def test_wrong_credentials_raise_the_authentication_error_without_retrying(
    server: StubServer, cw_stub: ConnectWiseStub
) -> None:
    settings = connectwise_settings(server, private_key="wrong")
    async with ConnectWisePSA(settings, guard=LOOPBACK) as psa:
        with pytest.raises(PSAAuthenticationFailed) as raised:
            await psa.get_ticket(TICKET)
    assert raised.value.status_code == 401
    assert isinstance(raised.value, PSAError)
    assert "wrong" not in str(raised.value)
    assert len(cw_stub.requests) == 1


async def test_a_403_is_an_authentication_error_too(
    connectwise: ConnectWisePSA, cw_stub: ConnectWiseStub
) -> None:
    cw_stub.fail("GET", "/service/tickets/", Fault(403, {"message": "member may not"}))
    with pytest.raises(PSAAuthenticationFailed, match="403 member may not"):
        await connectwise.get_ticket(TICKET)


async def test_an_unknown_ticket_is_ticket_not_found_and_is_not_retried(
    connectwise: ConnectWisePSA, cw_stub: ConnectWiseStub
) -> None:
    with pytest.raises(TicketNotFound) as raised:
        await connectwise.get_ticket("999")
    assert (raised.value.provider, raised.value.ticket_id) == ("connectwise", "999")
    assert len(cw_stub.requests) == 1


@pytest.mark.parametrize("ticket_id", ["", "abc", "12/../34", "-5", "0", "١٢"])
async def test_an_id_that_cannot_be_a_ticket_is_not_found_without_a_request(
    connectwise: ConnectWisePSA, cw_stub: ConnectWiseStub, ticket_id: str
) -> None:
    with pytest.raises(TicketNotFound):
        await connectwise.get_ticket(ticket_id)
    assert cw_stub.requests == []


# -- notes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "flag"),
    [
        (NoteKind.DETAIL, "detailDescriptionFlag"),
        (NoteKind.INTERNAL, "internalAnalysisFlag"),
        (NoteKind.RESOLUTION, "resolutionFlag"),
    ],
)
async def test_a_note_sets_exactly_the_flag_of_its_kind(
    connectwise: ConnectWisePSA, cw_stub: ConnectWiseStub, kind: NoteKind, flag: str
) -> None:
    note_id = await connectwise.post_note(TICKET, PSANote(kind, "Checked the logs.", "rf:s1:1"))

    (request,) = cw_stub.sent("POST", "/notes$")
    assert request.path == "/v4_6_release/apis/3.0/service/tickets/4711/notes"
    assert request.body == {
        "text": "Checked the logs.\n\n[resolutionflow:rf:s1:1]",
        "detailDescriptionFlag": flag == "detailDescriptionFlag",
        "internalAnalysisFlag": flag == "internalAnalysisFlag",
        "resolutionFlag": flag == "resolutionFlag",
    }
    assert note_id == str(cw_stub.notes[4711][0]["id"])


async def test_find_note_finds_the_marker_of_a_posted_note(
    connectwise: ConnectWisePSA, cw_stub: ConnectWiseStub
) -> None:
    await connectwise.post_note(TICKET, PSANote(NoteKind.DETAIL, "First.", "rf:s1:1"))
    note_id = await connectwise.post_note(TICKET, NOTE)

    assert await connectwise.find_note(TICKET, "rf:s1:3") == note_id
    assert await connectwise.find_note(TICKET, "rf:s1:4") is None
    assert await connectwise.find_note(TICKET, "rf:s1") is None  # no prefix match
    (kind,) = [n.kind for n in await connectwise.list_notes(TICKET) if n.note_id == note_id]
    assert kind is NoteKind.RESOLUTION


async def test_notes_are_read_page_by_page(
    connectwise: ConnectWisePSA, cw_stub: ConnectWiseStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cw_module, "PAGE_SIZE", 2)
    for number in range(5):
        await connectwise.post_note(TICKET, PSANote(NoteKind.DETAIL, f"n{number}", f"m{number}"))

    found = await connectwise.find_note(TICKET, "m4")

    assert found == str(cw_stub.notes[4711][4]["id"])
    pages = [r.query for r in cw_stub.sent("GET", "/notes$")]
    assert pages == [{"page": str(p), "pageSize": "2"} for p in (1, 2, 3)]


async def test_a_note_on_an_unknown_ticket_is_ticket_not_found(
    connectwise: ConnectWisePSA,
) -> None:
    with pytest.raises(TicketNotFound):
        await connectwise.post_note("999", NOTE)


async def test_a_note_whose_answer_is_lost_is_found_by_its_marker_not_posted_twice(
    connectwise: ConnectWisePSA, cw_stub: ConnectWiseStub, waits: Waits
) -> None:
    cw_stub.fail("POST", "/notes$", timeout(after_handling=True))

    note_id = await connectwise.post_note(TICKET, NOTE)

    assert len(cw_stub.notes[4711]) == 1
    assert note_id == str(cw_stub.notes[4711][0]["id"])
    assert len(cw_stub.sent("POST", "/notes$")) == 1
    assert len(cw_stub.sent("GET", "/notes$")) == 1
    assert len(waits) == 1


async def test_a_note_refused_with_a_5xx_is_looked_for_then_posted_again(
    connectwise: ConnectWisePSA, cw_stub: ConnectWiseStub
) -> None:
    cw_stub.fail("POST", "/notes$", unavailable(503))

    note_id = await connectwise.post_note(TICKET, NOTE)

    assert [n["id"] for n in cw_stub.notes[4711]] == [int(note_id)]
    assert len(cw_stub.sent("POST", "/notes$")) == 2
    assert len(cw_stub.sent("GET", "/notes$")) == 1


async def test_a_5xx_after_the_note_was_saved_still_makes_one_note(
    connectwise: ConnectWisePSA, cw_stub: ConnectWiseStub
) -> None:
    cw_stub.fail("POST", "/notes$", Fault(502, {"message": "Bad gateway"}, after_handling=True))

    note_id = await connectwise.post_note(TICKET, NOTE)

    assert [n["id"] for n in cw_stub.notes[4711]] == [int(note_id)]
    assert len(cw_stub.sent("POST", "/notes$")) == 1


async def test_a_rate_limited_note_is_posted_again_without_looking_first(
    connectwise: ConnectWisePSA, cw_stub: ConnectWiseStub, waits: Waits
) -> None:
    cw_stub.fail("POST", "/notes$", rate_limited("1"))

    await connectwise.post_note(TICKET, NOTE)

    assert waits == [1.0]
    assert len(cw_stub.notes[4711]) == 1
    assert cw_stub.sent("GET", "/notes$") == []


# -- statuses ----------------------------------------------------------------------------------


async def test_list_statuses_reads_the_board(connectwise: ConnectWisePSA) -> None:
    statuses = await connectwise.list_statuses(1)
    assert [(s.status_id, s.name, s.closed) for s in statuses] == [
        ("11", "New", False),
        ("12", "In Progress", False),
        ("13", "Waiting on Client", False),
        ("19", ">Closed", True),
    ]


async def test_an_unknown_board_is_not_found(connectwise: ConnectWisePSA) -> None:
    with pytest.raises(PSANotFound):
        await connectwise.list_statuses(77)


async def test_a_status_name_becomes_a_json_patch_of_the_status_id_verified_by_reading_back(
    connectwise: ConnectWisePSA, cw_stub: ConnectWiseStub
) -> None:
    await connectwise.change_status(TICKET, "waiting on client")

    (patch,) = cw_stub.sent("PATCH")
    assert patch.path == "/v4_6_release/apis/3.0/service/tickets/4711"
    assert patch.body == [{"op": "replace", "path": "/status/id", "value": 13}]
    assert patch.headers["content-type"] == "application/json"
    assert [r.path.rsplit("/", 2)[-2:] for r in cw_stub.requests] == [
        ["tickets", "4711"],
        ["1", "statuses"],
        ["tickets", "4711"],
        ["tickets", "4711"],
    ]
    assert (await connectwise.get_ticket(TICKET)).status == "Waiting on Client"


async def test_a_status_can_be_given_by_id(
    connectwise: ConnectWisePSA, cw_stub: ConnectWiseStub
) -> None:
    await connectwise.change_status(TICKET, "19")
    assert cw_stub.tickets[4711]["status"]["name"] == ">Closed"


async def test_a_status_change_connectwise_ignores_is_an_error_not_a_success(
    connectwise: ConnectWisePSA, cw_stub: ConnectWiseStub
) -> None:
    cw_stub.ignore_status_changes = True

    with pytest.raises(StatusChangeIgnored, match="status change was ignored") as raised:
        await connectwise.change_status(TICKET, "In Progress")

    assert isinstance(raised.value, PSAError)
    assert "In Progress (id 12)" in str(raised.value)
    assert "New (id 11)" in str(raised.value)


async def test_a_status_not_on_the_board_is_refused_before_any_change(
    connectwise: ConnectWisePSA, cw_stub: ConnectWiseStub
) -> None:
    with pytest.raises(UnknownStatus, match="Resolved"):
        await connectwise.change_status(TICKET, "Resolved")
    assert cw_stub.sent("PATCH") == []


async def test_the_status_the_ticket_already_has_needs_no_change(
    connectwise: ConnectWisePSA, cw_stub: ConnectWiseStub
) -> None:
    await connectwise.change_status(TICKET, "New")
    assert cw_stub.sent("PATCH") == []


async def test_a_failed_status_patch_is_retried_because_it_is_idempotent(
    connectwise: ConnectWisePSA, cw_stub: ConnectWiseStub
) -> None:
    cw_stub.fail("PATCH", "/service/tickets/", Fault(504, after_handling=True))
    await connectwise.change_status(TICKET, "In Progress")
    assert len(cw_stub.sent("PATCH")) == 2
    assert cw_stub.tickets[4711]["status"]["id"] == 12


# -- retries -----------------------------------------------------------------------------------


async def test_a_429_is_retried_after_its_retry_after(
    connectwise: ConnectWisePSA, cw_stub: ConnectWiseStub, waits: Waits
) -> None:
    cw_stub.fail("GET", "/service/tickets/", rate_limited("2"), rate_limited("0"))

    ticket = await connectwise.get_ticket(TICKET)

    assert ticket.summary == "VPN drops every ten minutes"
    assert len(cw_stub.requests) == 3
    assert waits == [2.0, 0.0]


async def test_a_retry_after_given_as_a_date_is_honoured(
    connectwise: ConnectWisePSA, cw_stub: ConnectWiseStub, waits: Waits
) -> None:
    cw_stub.fail("GET", "/service/tickets/", rate_limited("Wed, 21 Oct 2015 07:28:00 GMT"))
    await connectwise.get_ticket(TICKET)
    assert waits == [0.0]  # a date in the past: at once


async def test_a_retry_after_longer_than_the_limit_fails_at_once_saying_how_long(
    connectwise: ConnectWisePSA, cw_stub: ConnectWiseStub, waits: Waits
) -> None:
    cw_stub.fail("GET", "/service/tickets/", rate_limited("120"))

    with pytest.raises(PSARateLimited) as raised:
        await connectwise.get_ticket(TICKET)

    assert raised.value.retry_after == 120.0
    assert len(cw_stub.requests) == 1
    assert waits == []


async def test_a_503_is_retried_with_growing_capped_backoff(
    connectwise: ConnectWisePSA, cw_stub: ConnectWiseStub, waits: Waits
) -> None:
    cw_stub.fail("GET", "/service/tickets/", unavailable(), unavailable(), unavailable())

    await connectwise.get_ticket(TICKET)

    assert len(cw_stub.requests) == 4
    # base 0.01 s doubling, capped at 0.04 s, half of each wait random (fixed at 0.5 here)
    assert waits == pytest.approx([0.0075, 0.015, 0.03])


async def test_a_psa_that_stays_unavailable_fails_after_the_last_attempt(
    connectwise: ConnectWisePSA, cw_stub: ConnectWiseStub, waits: Waits
) -> None:
    cw_stub.fail("GET", "/service/tickets/", *[unavailable(500)] * 6)

    with pytest.raises(PSAUnavailable) as raised:
        await connectwise.get_ticket(TICKET)

    assert raised.value.status_code == 500
    assert len(cw_stub.requests) == 4
    assert len(waits) == 3


async def test_a_timeout_is_retried(
    connectwise: ConnectWisePSA, cw_stub: ConnectWiseStub, waits: Waits
) -> None:
    cw_stub.fail("GET", "/service/tickets/", timeout())

    ticket = await connectwise.get_ticket(TICKET)

    assert ticket.status == "New"
    assert len(cw_stub.sent("GET", "/service/tickets/")) == 2
    assert len(waits) == 1


@pytest.mark.parametrize("status", [400, 404, 409, 422])
async def test_other_4xx_answers_are_not_retried(
    connectwise: ConnectWisePSA, cw_stub: ConnectWiseStub, waits: Waits, status: int
) -> None:
    cw_stub.fail("GET", "/service/boards/", Fault(status, {"code": "X", "message": "no"}))

    with pytest.raises(PSARequestRejected) as raised:
        await connectwise.list_statuses(1)

    assert raised.value.status_code == status
    assert len(cw_stub.requests) == 1
    assert waits == []


async def test_a_redirect_is_not_followed(
    connectwise: ConnectWisePSA, cw_stub: ConnectWiseStub
) -> None:
    cw_stub.fail(
        "GET", "/service/tickets/", Fault(302, headers={"location": "http://169.254.169.254/"})
    )
    with pytest.raises(PSARequestRejected, match="redirects are not followed"):
        await connectwise.get_ticket(TICKET)
    assert len(cw_stub.requests) == 1


async def test_a_refused_connection_is_unavailable_after_the_retries(waits: Waits) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = ConnectWiseSettings(
        base_url=f"http://127.0.0.1:{port}/v4_6_release/apis/3.0",
        company="acme",
        public_key="pub",
        private_key="priv",
        client_id="cid",
        timeout=5.0,  # a refused connect fails at once; a short timeout only risks a flake
        retry=RetryPolicy(attempts=4, base_delay=0.0, max_delay=0.0),
    )
    async with ConnectWisePSA(settings, guard=LOOPBACK, sleep=waits, chance=half) as psa:
        with pytest.raises(PSAUnavailable, match="could not connect"):
            await psa.get_ticket(TICKET)
    assert len(waits) == 3


def test_settings_for_a_site_build_the_rest_root() -> None:
    credentials = {
        "company": "acme",
        "public_key": "pub",
        "private_key": "priv",
        "client_id": "cid",
    }
    settings = ConnectWiseSettings.for_site("api-na.myconnectwise.net", **credentials)
    assert settings.base_url == "https://api-na.myconnectwise.net/v4_6_release/apis/3.0"
    assert settings.codebase_lookup is True
    assert "priv" not in repr(settings)
    fixed = ConnectWiseSettings.for_site(
        "https://cw.acme.example/", codebase="v2024_2/", **credentials
    )
    assert fixed.base_url == "https://cw.acme.example/v2024_2/apis/3.0"
    assert fixed.codebase_lookup is False


@pytest.mark.parametrize("codebase", ["../admin", "v1/../../x", "a b", ""])
def test_a_codebase_that_is_not_one_path_segment_is_refused(codebase: str) -> None:
    with pytest.raises(PSAConfigurationError):
        ConnectWiseSettings.for_site(
            "api-na.myconnectwise.net",
            codebase=codebase or " ",
            company="acme",
            public_key="pub",
            private_key="priv",
            client_id="cid",
        )


def site_settings(server: StubServer) -> ConnectWiseSettings:
    return ConnectWiseSettings.for_site(
        server.url,
        company="acme",
        public_key="pub-key",
        private_key="priv-key",
        client_id="3c7a1f5e-client",
        timeout=CLIENT_TIMEOUT,
        retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02),
    )


async def test_the_codebase_is_looked_up_before_the_first_request(
    server: StubServer, cw_stub: ConnectWiseStub
) -> None:
    cw_stub.codebase = "v2025_1"
    async with ConnectWisePSA(site_settings(server), guard=LOOPBACK) as psa:
        ticket = await psa.get_ticket(TICKET)
        assert psa.base_url == f"{server.url}/v2025_1/apis/3.0"

    assert ticket.summary == "VPN drops every ten minutes"
    lookup, read = cw_stub.requests
    assert (lookup.method, lookup.path) == ("GET", "/login/companyinfo/acme")
    assert "authorization" not in lookup.headers
    assert read.path == "/v2025_1/apis/3.0/service/tickets/4711"


async def test_a_404_after_the_site_moved_looks_the_codebase_up_again(
    server: StubServer, cw_stub: ConnectWiseStub
) -> None:
    async with ConnectWisePSA(site_settings(server), guard=LOOPBACK) as psa:
        await psa.get_ticket(TICKET)
        cw_stub.codebase = "v2025_2"  # the site was upgraded overnight

        note_id = await psa.post_note(TICKET, NOTE)

        assert psa.base_url == f"{server.url}/v2025_2/apis/3.0"
        with pytest.raises(TicketNotFound):
            await psa.get_ticket("999")  # a real 404 stays one: looked up, same codebase
    assert note_id == str(cw_stub.notes[4711][0]["id"])
    posts = [r.path for r in cw_stub.sent("POST")]
    assert posts == [
        "/v4_6_release/apis/3.0/service/tickets/4711/notes",
        "/v2025_2/apis/3.0/service/tickets/4711/notes",
    ]
    assert len(cw_stub.sent("GET", "/login/companyinfo/")) == 3


async def test_discovery_reports_the_codebase_and_whether_the_site_is_cloud(
    server: StubServer, cw_stub: ConnectWiseStub
) -> None:
    cw_stub.codebase, cw_stub.is_cloud = "v2025_1", False
    async with ConnectWisePSA(site_settings(server), guard=LOOPBACK) as psa:
        facts = (await psa.discover()).facts
    assert facts["codebase"] == "v2025_1"
    assert facts["codebase_from"] == "companyinfo"
    assert (facts["cloud"], facts["version"], facts["site"]) == (
        "no",
        "v2025.1",
        "na.myconnectwise.net",
    )


async def test_a_fixed_url_is_kept_and_a_different_codebase_is_reported(
    connectwise: ConnectWisePSA, cw_stub: ConnectWiseStub
) -> None:
    facts = (await connectwise.discover()).facts
    assert (facts["codebase"], facts["codebase_from"]) == ("v4_6_release", "configured")
    assert "codebase_warning" not in facts
    cw_stub.codebase = "v2025_1"
    facts = (await connectwise.discover()).facts
    assert (
        facts["codebase_warning"] == "the site is on v2025_1, the configured URL uses v4_6_release"
    )
    assert connectwise.base_url.endswith("/v4_6_release/apis/3.0")
