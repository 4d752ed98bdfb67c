"""The Autotask adapter against a stub of Autotask's REST API (a zone's ATServicesRest)."""

from __future__ import annotations

import pytest

from resolutionflow_core.errors import TicketNotFound
from resolutionflow_core.tickets import NoteKind, PSANote
from resolutionflow_psa import (
    AutotaskPSA,
    AutotaskSettings,
    PSAAuthenticationFailed,
    PSAConfigurationError,
    PSARequestRejected,
    PSAResponseInvalid,
    StatusChangeIgnored,
    UnknownStatus,
)
from tests.integration.psa.conftest import LOOPBACK, Clock, Waits, autotask_settings
from tests.integration.psa.stub import Fault, StubServer, unavailable
from tests.integration.psa.stubs import AutotaskStub

TICKET = "7001"


async def test_get_ticket_sends_the_api_user_headers_and_names_everything(
    autotask: AutotaskPSA, at_stub: AutotaskStub
) -> None:
    ticket = await autotask.get_ticket(TICKET)

    assert ticket.summary == "Printer on the 2nd floor is offline"
    assert (ticket.company, ticket.contact) == ("Contoso Ltd", "Jane Doe")
    assert (ticket.board, ticket.status) == ("Level I Support", "New")
    assert ticket.extra == {
        "ticket_number": "T20261102.0001",
        "status_id": "1",
        "queue_id": "29682833",
        "company_id": "175",
        "contact_id": "30682",
    }
    first = at_stub.requests[0]
    assert (first.method, first.path) == ("GET", "/ATServicesRest/V1.0/Tickets/7001")
    assert first.headers["apiintegrationcode"] == "AT-INTEGRATION-CODE"
    assert first.headers["username"] == "api-user@acme.example"
    assert first.headers["secret"] == "at-secret"
    assert first.headers["content-type"] == "application/json"
    assert {r.path for r in at_stub.requests} == {
        "/ATServicesRest/V1.0/Tickets/7001",
        "/ATServicesRest/V1.0/Companies/175",
        "/ATServicesRest/V1.0/Contacts/30682",
        "/ATServicesRest/V1.0/Tickets/entityInformation/fields",
    }


async def test_the_picklists_are_read_once_for_a_while(
    autotask: AutotaskPSA, at_stub: AutotaskStub, clock: Clock
) -> None:
    await autotask.get_ticket(TICKET)
    await autotask.get_ticket(TICKET)
    assert len(at_stub.sent("GET", "entityInformation")) == 1
    clock.now += 601
    await autotask.get_ticket(TICKET)
    assert len(at_stub.sent("GET", "entityInformation")) == 2


async def test_wrong_credentials_raise_the_authentication_error(
    server: StubServer, at_stub: AutotaskStub
) -> None:
    settings = autotask_settings(server, secret="wrong")
    async with AutotaskPSA(settings, guard=LOOPBACK) as psa:
        with pytest.raises(PSAAuthenticationFailed):
            await psa.get_ticket(TICKET)
    assert len(at_stub.requests) == 1


async def test_an_unknown_ticket_answered_with_a_null_item_is_ticket_not_found(
    autotask: AutotaskPSA,
) -> None:
    with pytest.raises(TicketNotFound):
        await autotask.get_ticket("404")


@pytest.mark.parametrize(
    ("kind", "publish", "title"),
    [
        (NoteKind.DETAIL, 1, "Update"),
        (NoteKind.INTERNAL, 2, "Escalation (internal)"),
        (NoteKind.RESOLUTION, 1, "Resolution"),
    ],
)
async def test_a_note_is_published_by_its_kind(
    autotask: AutotaskPSA, at_stub: AutotaskStub, kind: NoteKind, publish: int, title: str
) -> None:
    note_id = await autotask.post_note(TICKET, PSANote(kind, "Cleared the queue.", "rf:s3:2"))

    (request,) = at_stub.sent("POST", "/Notes$")
    assert request.path == "/ATServicesRest/V1.0/Tickets/7001/Notes"
    assert request.body == {
        "ticketID": 7001,
        "title": title,
        "description": "Cleared the queue.\n\n[resolutionflow:rf:s3:2]",
        "noteType": 3,  # "Task Notes", read from the picklist; 1 is "Task Summary"
        "publish": publish,
    }
    assert note_id == str(at_stub.notes[0]["id"])


async def test_publish_and_note_type_are_settings(
    server: StubServer, at_stub: AutotaskStub
) -> None:
    settings = autotask_settings(
        server,
        publish={NoteKind.DETAIL: 1, NoteKind.INTERNAL: 4, NoteKind.RESOLUTION: 1},
        note_types={NoteKind.DETAIL: 1, NoteKind.INTERNAL: 3, NoteKind.RESOLUTION: 1},
    )
    async with AutotaskPSA(settings, guard=LOOPBACK) as psa:
        await psa.post_note(TICKET, PSANote(NoteKind.INTERNAL, "x", "rf:s3:3"))
    assert (at_stub.notes[0]["publish"], at_stub.notes[0]["noteType"]) == (4, 3)


async def test_the_note_type_is_read_once_from_the_ticket_notes_picklist(
    autotask: AutotaskPSA, at_stub: AutotaskStub
) -> None:
    await autotask.post_note(TICKET, PSANote(NoteKind.DETAIL, "one", "rf:s3:4"))
    await autotask.post_note(TICKET, PSANote(NoteKind.INTERNAL, "two", "rf:s3:5"))

    assert [note["noteType"] for note in at_stub.notes] == [3, 3]
    assert len(at_stub.sent("GET", "/TicketNotes/entityInformation/fields$")) == 1


async def test_without_a_notes_type_the_first_that_is_no_summary_is_used(
    autotask: AutotaskPSA, at_stub: AutotaskStub
) -> None:
    at_stub.note_types = [
        {"value": "1", "label": "Task Summary", "isActive": True},
        {"value": "7", "label": "Ticket Detail", "isActive": True},
    ]
    await autotask.post_note(TICKET, PSANote(NoteKind.DETAIL, "one", "rf:s3:4"))
    assert at_stub.notes[0]["noteType"] == 7


async def test_a_validation_error_answered_with_500_is_rejected_at_once(
    server: StubServer, at_stub: AutotaskStub, waits: Waits
) -> None:
    settings = autotask_settings(
        server, note_types={NoteKind.DETAIL: 99, NoteKind.INTERNAL: 3, NoteKind.RESOLUTION: 3}
    )
    async with AutotaskPSA(settings, guard=LOOPBACK, sleep=waits) as psa:
        with pytest.raises(PSARequestRejected) as rejected:
            await psa.post_note(TICKET, PSANote(NoteKind.DETAIL, "x", "rf:s3:6"))

    assert rejected.value.status_code == 500
    assert rejected.value.retryable is False
    assert "Value does not exist for the noteType picklist" in str(rejected.value)
    assert len(at_stub.sent("POST", "/Notes$")) == 1, "not retried"
    assert at_stub.sent("GET", "/Notes$") == [], "no marker scan: nothing can have been saved"
    assert waits == []


async def test_a_500_without_errors_is_still_an_outage_retried(
    autotask: AutotaskPSA, at_stub: AutotaskStub
) -> None:
    at_stub.fail("PATCH", "/Tickets$", Fault(500, {"message": "Internal server error"}))
    await autotask.change_status(TICKET, "In Progress")
    assert len(at_stub.sent("PATCH")) == 2


async def test_a_long_note_is_cut_to_autotask_limits_keeping_its_marker(
    server: StubServer, at_stub: AutotaskStub
) -> None:
    settings = autotask_settings(
        server,
        titles={NoteKind.DETAIL: "T" * 300, NoteKind.INTERNAL: "i", NoteKind.RESOLUTION: "r"},
    )
    text = "line of the transcript\n" * 2000  # 46,000 characters
    async with AutotaskPSA(settings, guard=LOOPBACK) as psa:
        note_id = await psa.post_note(TICKET, PSANote(NoteKind.DETAIL, text, "rf:s3:7"))
        assert await psa.find_note(TICKET, "rf:s3:7") == note_id

    (note,) = at_stub.notes
    assert len(note["description"]) == 32000
    assert note["description"].startswith("line of the transcript\n")
    assert note["description"].endswith("\n\n[resolutionflow:rf:s3:7]")
    assert "more characters cut: Autotask keeps 32,000]" in note["description"]
    assert len(note["title"]) == 250
    assert note["title"].endswith("…")


def test_a_publish_value_that_is_not_a_picklist_value_is_refused() -> None:
    with pytest.raises(PSAConfigurationError, match="publish"):
        AutotaskSettings.for_zone(
            5,
            integration_code="code",
            username="user",
            secret="secret",
            publish={NoteKind.DETAIL: 0, NoteKind.INTERNAL: 2, NoteKind.RESOLUTION: 1},
        )


async def test_find_note_follows_the_next_page_urls(
    autotask: AutotaskPSA, at_stub: AutotaskStub
) -> None:
    at_stub.notes_page_size = 2
    ids = [
        await autotask.post_note(TICKET, PSANote(NoteKind.DETAIL, f"n{i}", f"rf:s3:{i}"))
        for i in range(5)
    ]

    assert await autotask.find_note(TICKET, "rf:s3:4") == ids[4]
    assert await autotask.find_note(TICKET, "rf:s3:9") is None
    pages = [r.query.get("pageNumber") for r in at_stub.sent("GET", "/Notes$")]
    assert pages == [None, "2", "3"] * 2
    kinds = {note.kind for note in await autotask.list_notes(TICKET)}
    assert kinds == {None}  # publish 1 is shared by detail and resolution notes


async def test_a_next_page_on_another_host_is_not_followed(
    autotask: AutotaskPSA, at_stub: AutotaskStub
) -> None:
    at_stub.fail(
        "GET",
        "/Notes$",
        Fault(
            200,
            {"items": [], "pageDetails": {"nextPageUrl": "http://169.254.169.254/V1.0/x"}},
        ),
    )
    with pytest.raises(PSAResponseInvalid, match="refusing to follow"):
        await autotask.find_note(TICKET, "rf:s3:1")


async def test_a_status_change_is_a_patch_verified_by_reading_back(
    autotask: AutotaskPSA, at_stub: AutotaskStub
) -> None:
    await autotask.change_status(TICKET, "Complete")

    (patch,) = at_stub.sent("PATCH")
    assert patch.path == "/ATServicesRest/V1.0/Tickets"
    assert patch.body == {"id": 7001, "status": 5}
    assert at_stub.tickets[7001]["status"] == 5


async def test_a_status_change_autotask_ignores_is_an_error(
    autotask: AutotaskPSA, at_stub: AutotaskStub
) -> None:
    at_stub.ignore_status_changes = True
    with pytest.raises(StatusChangeIgnored, match=r"Complete \(id 5\).*New \(id 1\)"):
        await autotask.change_status(TICKET, "5")


async def test_an_inactive_or_unknown_status_is_refused_with_the_choices(
    autotask: AutotaskPSA, at_stub: AutotaskStub
) -> None:
    with pytest.raises(UnknownStatus, match="New, Complete, In Progress, Escalated"):
        await autotask.change_status(TICKET, "Waiting Vendor")
    assert at_stub.sent("PATCH") == []


async def test_a_status_patch_that_fails_with_a_5xx_is_retried(
    autotask: AutotaskPSA, at_stub: AutotaskStub, waits: Waits
) -> None:
    at_stub.fail("PATCH", "/Tickets$", unavailable(503), unavailable(502))
    await autotask.change_status(TICKET, "In Progress")
    assert len(at_stub.sent("PATCH")) == 3
    assert len(waits) == 2
    assert at_stub.tickets[7001]["status"] == 8


def test_settings_for_a_zone() -> None:
    settings = AutotaskSettings.for_zone(
        5, integration_code="code", username="user", secret="secret"
    )
    assert settings.base_url == "https://webservices5.autotask.net/ATServicesRest"
    assert settings.api_url == "https://webservices5.autotask.net/ATServicesRest/V1.0"
    assert "secret" not in repr(settings)
    assert "code" not in repr(settings)


async def test_discovery_lists_the_note_types_and_publish_values_and_those_used(
    autotask: AutotaskPSA, at_stub: AutotaskStub
) -> None:
    discovery = await autotask.discover()

    assert discovery.facts["note_type.detail"] == "3 Task Notes"
    assert discovery.facts["note_type.internal"] == "3 Task Notes"
    assert discovery.facts["publish.internal"] == "2 Internal Only"
    assert discovery.facts["publish.resolution"] == "1 All Autotask Users"
    assert discovery.choices["note_types"] == [
        "1 Task Summary",
        "2 Task Detail",
        "3 Task Notes",
        "13 Workflow Rule Note",
    ]
    assert discovery.choices["publish"] == [
        "1 All Autotask Users",
        "2 Internal Only",
        "4 Internal & Co-Managed",
    ]


async def test_discovery_without_a_note_type_to_use_says_to_choose_one(
    autotask: AutotaskPSA, at_stub: AutotaskStub
) -> None:
    at_stub.note_types = [{"value": "1", "label": "Task Summary", "isActive": True}]
    with pytest.raises(PSAConfigurationError, match=r"no ticket note type .*1 Task Summary"):
        await autotask.discover()
