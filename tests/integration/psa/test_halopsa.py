"""The HaloPSA adapter against a stub of Halo's OAuth token endpoint and REST API."""

from __future__ import annotations

import pytest

from resolutionflow_core.errors import TicketNotFound
from resolutionflow_core.tickets import NoteKind, PSANote
from resolutionflow_psa import (
    HaloPSA,
    HaloPSASettings,
    PSAAuthenticationFailed,
    PSAConfigurationError,
    PSARequestRejected,
    PSAUnavailable,
    StatusChangeIgnored,
    UnknownStatus,
)
from tests.integration.psa.conftest import LOOPBACK, Clock, Waits, halo_settings
from tests.integration.psa.stub import Fault, StubServer, rate_limited, unavailable
from tests.integration.psa.stubs import HaloStub

TICKET = "1234"


async def test_a_client_credentials_token_authenticates_the_ticket_read(
    halo: HaloPSA, halo_stub: HaloStub
) -> None:
    ticket = await halo.get_ticket(TICKET)

    assert ticket.provider == "halopsa"
    assert ticket.summary == "Outlook cannot connect to Exchange"
    assert (ticket.company, ticket.contact) == ("Contoso Ltd", "Jane Doe")
    assert (ticket.board, ticket.status) == ("1st Line Support", "New")
    assert ticket.extra["status_id"] == "1"
    assert ticket.extra["site_name"] == "Head Office"

    authinfo, token_request, ticket_request, status_request = halo_stub.requests
    assert (authinfo.method, authinfo.path) == ("GET", "/api/authinfo")
    assert "authorization" not in authinfo.headers
    assert (token_request.method, token_request.path) == ("POST", "/auth/token")
    assert token_request.query == {"tenant": "acme"}
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert token_request.body == {
        "grant_type": "client_credentials",
        "client_id": "halo-client",
        "client_secret": "halo-secret",
        "scope": "all",
    }
    assert (ticket_request.method, ticket_request.path) == ("GET", "/api/Tickets/1234")
    assert ticket_request.headers["authorization"] == "Bearer halo-token-1"
    assert status_request.path == "/api/Status"


async def test_the_token_is_cached_until_shortly_before_it_expires(
    halo: HaloPSA, halo_stub: HaloStub, clock: Clock
) -> None:
    await halo.get_ticket(TICKET)
    clock.now += 3600 - 61  # the token lives 3600 s; it is renewed 60 s before
    await halo.get_ticket(TICKET)
    assert halo_stub.issued == ["halo-token-1"]

    clock.now += 2
    await halo.get_ticket(TICKET)

    assert halo_stub.issued == ["halo-token-1", "halo-token-2"]
    assert halo_stub.requests[-1].headers["authorization"] == "Bearer halo-token-2"


async def test_a_401_renews_the_token_once_and_repeats_the_request(
    halo: HaloPSA, halo_stub: HaloStub
) -> None:
    await halo.get_ticket(TICKET)
    halo_stub.revoke_tokens()

    ticket = await halo.get_ticket(TICKET)

    assert ticket.summary == "Outlook cannot connect to Exchange"
    assert halo_stub.issued == ["halo-token-1", "halo-token-2"]
    refused, repeated = halo_stub.sent("GET", "/api/Tickets/")[1:]
    assert refused.headers["authorization"] == "Bearer halo-token-1"
    assert repeated.headers["authorization"] == "Bearer halo-token-2"


async def test_a_token_that_keeps_being_refused_is_an_authentication_error(
    halo: HaloPSA, halo_stub: HaloStub
) -> None:
    halo_stub.fail("GET", "/api/Tickets/", *[Fault(401, {"message": "Unauthorized"})] * 3)

    with pytest.raises(PSAAuthenticationFailed):
        await halo.get_ticket(TICKET)

    assert len(halo_stub.sent("GET", "/api/Tickets/")) == 2
    assert len(halo_stub.issued) == 2


async def test_a_wrong_client_secret_is_an_authentication_error_without_retries(
    server: StubServer, halo_stub: HaloStub, waits: Waits
) -> None:
    settings = halo_settings(server, client_secret="nope")
    async with HaloPSA(settings, guard=LOOPBACK, sleep=waits) as psa:
        with pytest.raises(PSAAuthenticationFailed, match="invalid_client"):
            await psa.get_ticket(TICKET)
    assert [r.path for r in halo_stub.requests] == ["/api/authinfo", "/auth/token"]
    assert waits == []
    assert "nope" not in repr(settings)


async def test_the_token_endpoint_is_retried_when_it_is_unavailable(
    halo: HaloPSA, halo_stub: HaloStub, waits: Waits
) -> None:
    halo_stub.fail("POST", "/auth/token", unavailable(503))
    await halo.get_ticket(TICKET)
    assert len(halo_stub.sent("POST", "/auth/token")) == 2
    assert len(waits) == 1


async def test_a_token_endpoint_that_stays_down_costs_one_request_per_attempt(
    halo: HaloPSA, halo_stub: HaloStub, waits: Waits
) -> None:
    halo_stub.fail("POST", "/auth/token", *[unavailable(503)] * 10)

    with pytest.raises(PSAUnavailable, match="/auth/token"):
        await halo.post_note(TICKET, PSANote(NoteKind.DETAIL, "x", "rf:s2:1"))

    assert len(halo_stub.sent("POST", "/auth/token")) == 4
    assert halo_stub.sent("GET", "/api/Actions") == []  # nothing was posted to look for
    assert len(waits) == 3


async def test_an_unknown_ticket_is_ticket_not_found(halo: HaloPSA) -> None:
    with pytest.raises(TicketNotFound):
        await halo.get_ticket("999")


@pytest.mark.parametrize(
    ("kind", "outcome", "hidden"),
    [
        (NoteKind.DETAIL, "Public Note", False),
        (NoteKind.INTERNAL, "Private Note", True),
        (NoteKind.RESOLUTION, "Public Note", False),
    ],
)
async def test_a_note_is_an_action_posted_as_an_array(
    halo: HaloPSA, halo_stub: HaloStub, kind: NoteKind, outcome: str, hidden: bool
) -> None:
    note_id = await halo.post_note(TICKET, PSANote(kind, "Rebuilt the OST.", "rf:s2:5"))

    (request,) = halo_stub.sent("POST", "/api/Actions")
    assert request.body == [
        {
            "ticket_id": 1234,
            "note": "Rebuilt the OST.\n\n[resolutionflow:rf:s2:5]",
            "outcome": outcome,
            "hiddenfromuser": hidden,
        }
    ]
    assert note_id == str(halo_stub.actions[0]["id"])


async def test_find_note_lists_the_tickets_actions(halo: HaloPSA, halo_stub: HaloStub) -> None:
    note_id = await halo.post_note(TICKET, PSANote(NoteKind.INTERNAL, "Escalating.", "rf:s2:6"))

    assert await halo.find_note(TICKET, "rf:s2:6") == note_id
    assert await halo.find_note(TICKET, "rf:s2:7") is None
    assert halo_stub.sent("GET", "/api/Actions")[-1].query == {
        "ticket_id": "1234",
        "pageinate": "true",
        "page_size": "100",
        "page_no": "1",
    }
    (note,) = await halo.list_notes(TICKET)
    assert note.kind is NoteKind.INTERNAL


async def test_find_note_reads_the_html_of_an_action(halo: HaloPSA, halo_stub: HaloStub) -> None:
    halo_stub.actions.append(
        {
            "id": 42,
            "ticket_id": 1234,
            "outcome": "Note",
            "note_html": "<p>Done.</p><p>[resolutionflow:rf:s2:8]</p>",
        }
    )
    assert await halo.find_note(TICKET, "rf:s2:8") == "42"


async def test_a_status_change_is_posted_as_an_array_and_verified(
    halo: HaloPSA, halo_stub: HaloStub
) -> None:
    await halo.change_status(TICKET, "On Hold")

    (update,) = halo_stub.sent("POST", "/api/Tickets$")
    assert update.body == [{"id": 1234, "status_id": 4}]
    assert halo_stub.tickets[1234]["status_id"] == 4
    assert halo_stub.sent("GET", "/api/Tickets/1234")[-1].received_at > update.received_at


async def test_a_status_change_halo_ignores_is_an_error(halo: HaloPSA, halo_stub: HaloStub) -> None:
    halo_stub.ignore_status_changes = True
    with pytest.raises(StatusChangeIgnored, match="status change was ignored"):
        await halo.change_status(TICKET, "Closed")


async def test_an_unknown_status_is_refused(halo: HaloPSA, halo_stub: HaloStub) -> None:
    with pytest.raises(UnknownStatus, match="New, In Progress, On Hold, Closed"):
        await halo.change_status(TICKET, "Resolved")
    assert halo_stub.sent("POST", "/api/Tickets$") == []


async def test_a_429_is_retried_after_its_retry_after(
    halo: HaloPSA, halo_stub: HaloStub, waits: Waits
) -> None:
    halo_stub.fail("GET", "/api/Tickets/", rate_limited("3"))
    await halo.get_ticket(TICKET)
    assert waits == [3.0]
    assert len(halo_stub.sent("GET", "/api/Tickets/")) == 2


async def test_the_authorisation_server_is_the_one_authinfo_names(
    halo: HaloPSA, halo_stub: HaloStub, server: StubServer
) -> None:
    halo_stub.auth_path = "/identity/auth"  # e.g. an on-premises instance's own server

    ticket = await halo.get_ticket(TICKET)

    assert ticket.summary == "Outlook cannot connect to Exchange"
    (token_request,) = halo_stub.sent("POST", "token")
    assert token_request.path == "/identity/auth/token"
    assert token_request.query == {"tenant": "acme"}
    facts = (await halo.discover()).facts
    assert facts["auth_server"] == f"{server.url}/identity/auth"
    assert facts["auth_server_from"] == "authinfo"
    assert len(halo_stub.sent("GET", "/api/authinfo")) == 1, "looked up once"


async def test_authinfo_gives_the_tenant_when_none_is_configured(
    server: StubServer, halo_stub: HaloStub, clock: Clock
) -> None:
    settings = halo_settings(server, tenant=None)
    async with HaloPSA(settings, guard=LOOPBACK, clock=clock) as psa:
        await psa.get_ticket(TICKET)
        assert (await psa.discover()).facts["tenant"] == "acme"
    assert halo_stub.sent("POST", "/auth/token")[0].query == {"tenant": "acme"}


async def test_without_authinfo_the_common_auth_server_is_used(
    halo: HaloPSA, halo_stub: HaloStub
) -> None:
    halo_stub.authinfo = False  # answered 404
    await halo.get_ticket(TICKET)
    assert len(halo_stub.sent("POST", "/auth/token")) == 1
    assert (await halo.discover()).facts["auth_server_from"] == "default"


async def test_a_configured_auth_server_is_not_looked_up(
    server: StubServer, halo_stub: HaloStub
) -> None:
    settings = halo_settings(server, auth_url=f"{server.url}/auth")
    async with HaloPSA(settings, guard=LOOPBACK) as psa:
        await psa.get_ticket(TICKET)
    assert halo_stub.sent("GET", "/api/authinfo") == []


async def test_outcomes_are_chosen_among_the_instances_own(
    halo: HaloPSA, halo_stub: HaloStub
) -> None:
    halo_stub.outcomes.append({"id": 9, "outcome": "Resolution", "hidefromuser": False})

    discovery = await halo.discover()

    assert discovery.choices["outcomes"] == [
        "Private Note",
        "Public Note",
        "Email User",
        "Phone Call",
        "Resolution",
    ]
    assert [discovery.facts[f"outcome.{kind}"] for kind in NoteKind] == [
        "Public Note",
        "Private Note",
        "Resolution",
    ]
    await halo.post_note(TICKET, PSANote(NoteKind.RESOLUTION, "Fixed.", "rf:s2:20"))
    assert halo_stub.actions[0]["outcome"] == "Resolution"


async def test_a_configured_outcome_the_instance_lacks_is_refused_before_posting(
    server: StubServer, halo_stub: HaloStub
) -> None:
    settings = halo_settings(server, outcomes={NoteKind.DETAIL: "Note"})
    async with HaloPSA(settings, guard=LOOPBACK) as psa:
        with pytest.raises(PSAConfigurationError, match=r"no outcome 'Note' for detail notes"):
            await psa.post_note(TICKET, PSANote(NoteKind.DETAIL, "x", "rf:s2:21"))
        with pytest.raises(PSAConfigurationError, match="Private Note, Public Note"):
            await psa.discover()
    assert halo_stub.sent("POST", "/api/Actions") == []


async def test_an_instance_without_a_usable_outcome_asks_for_one(
    halo: HaloPSA, halo_stub: HaloStub
) -> None:
    halo_stub.outcomes = [{"id": 3, "outcome": "Email User"}]
    with pytest.raises(PSAConfigurationError, match="choose the outcome for detail notes"):
        await halo.discover()


async def test_halo_refuses_an_action_with_an_unknown_outcome_without_retries(
    server: StubServer, halo_stub: HaloStub, waits: Waits
) -> None:
    settings = halo_settings(server, outcomes={NoteKind.DETAIL: "Phone Call"})
    async with HaloPSA(settings, guard=LOOPBACK, sleep=waits) as psa:
        await psa.outcomes()
        halo_stub.outcomes.pop()  # removed on the instance after it was checked
        with pytest.raises(PSARequestRejected, match="An Outcome must be entered") as refused:
            await psa.post_note(TICKET, PSANote(NoteKind.DETAIL, "x", "rf:s2:22"))
    assert refused.value.retryable is False
    assert len(halo_stub.sent("POST", "/api/Actions")) == 1


async def test_find_note_pages_through_a_long_tickets_actions(
    halo: HaloPSA, halo_stub: HaloStub
) -> None:
    for number in range(230):
        halo_stub.actions.append(
            {"id": 10_000 + number, "ticket_id": 1234, "outcome": "Phone Call", "note": "call"}
        )
    note_id = await halo.post_note(TICKET, PSANote(NoteKind.DETAIL, "Latest.", "rf:s2:23"))

    assert await halo.find_note(TICKET, "rf:s2:23") == note_id
    pages = [r.query["page_no"] for r in halo_stub.sent("GET", "/api/Actions")]
    assert pages == ["1", "2", "3"]
    assert len(await halo.list_notes(TICKET)) == 231


def test_settings_default_the_auth_server_and_the_api_root() -> None:
    settings = HaloPSASettings(
        base_url="https://acme.halopsa.com/", client_id="c", client_secret="s"
    )
    assert settings.api_url == "https://acme.halopsa.com/api"
    assert settings.token_url == "https://acme.halopsa.com/auth/token"
    own = HaloPSASettings(
        base_url="https://acme.halopsa.com/api",
        auth_url="https://auth.acme.example/auth/",
        client_id="c",
        client_secret="s",
    )
    assert (own.api_url, own.token_url) == (
        "https://acme.halopsa.com/api",
        "https://auth.acme.example/auth/token",
    )
