"""The in-memory PSA: holds tickets, records notes and status changes, fails on demand."""

from __future__ import annotations

import pytest

from resolutionflow_core.access import Actor, Role
from resolutionflow_core.errors import PSAError, PSANotConfigured, TicketNotFound
from resolutionflow_core.ports import PSAClient, PSAConnections
from resolutionflow_core.services import SessionService
from resolutionflow_core.tickets import NoteKind, PSANote, Ticket
from resolutionflow_memory.llm import OfflineLLM
from resolutionflow_memory.psa import InMemoryPSA, InMemoryPSAConnections, StatusChange
from resolutionflow_memory.storage import InMemoryStorage

TICKET = Ticket(
    provider="memory",
    ticket_id="4711",
    summary="Outlook keeps asking for the password",
    company="Contoso",
    status="New",
)


def note(marker: str = "rf-1", kind: NoteKind = NoteKind.RESOLUTION) -> PSANote:
    return PSANote(kind=kind, text="Resolution note — recreated the Outlook profile", marker=marker)


async def test_the_in_memory_psa_implements_the_psa_ports() -> None:
    client: PSAClient = InMemoryPSA()  # mypy checks the Protocols here
    connections: PSAConnections = InMemoryPSAConnections({"acme": client})
    assert client.provider == "memory"
    assert await connections.client_for("acme") is client


async def test_a_held_ticket_is_returned_and_an_unknown_one_is_not_found() -> None:
    psa = InMemoryPSA([TICKET])

    assert await psa.get_ticket("4711") == TICKET
    with pytest.raises(TicketNotFound) as raised:
        await psa.get_ticket("9999")
    assert (raised.value.provider, raised.value.ticket_id) == ("memory", "9999")


async def test_notes_are_recorded_in_order_with_their_own_ids() -> None:
    psa = InMemoryPSA([TICKET, Ticket("memory", "4712", "Printer offline")])

    first = await psa.post_note("4711", note("rf-1"))
    second = await psa.post_note("4712", note("rf-2", NoteKind.INTERNAL))

    assert (first, second) == ("note-1", "note-2")
    assert [(n.note_id, n.ticket_id, n.note.kind) for n in psa.notes] == [
        ("note-1", "4711", NoteKind.RESOLUTION),
        ("note-2", "4712", NoteKind.INTERNAL),
    ]
    assert [n.note_id for n in psa.notes_on("4712")] == ["note-2"]


async def test_a_note_posted_twice_is_on_the_ticket_twice_as_on_a_real_psa() -> None:
    psa = InMemoryPSA([TICKET])

    first = await psa.post_note("4711", note("rf-1"))
    again = await psa.post_note("4711", note("rf-1"))

    assert again != first
    assert [n.note.marker for n in psa.notes_on("4711")] == ["rf-1", "rf-1"]


async def test_a_note_on_an_unknown_ticket_is_refused_and_not_recorded() -> None:
    psa = InMemoryPSA()

    with pytest.raises(TicketNotFound):
        await psa.post_note("4711", note())
    assert psa.notes == ()


async def test_a_status_change_is_recorded_and_read_back_on_the_ticket() -> None:
    psa = InMemoryPSA([TICKET])

    await psa.change_status("4711", "Completed")
    await psa.change_status("4711", "Closed")

    assert (await psa.get_ticket("4711")).status == "Closed"
    assert psa.status_changes == (
        StatusChange("4711", "New", "Completed"),
        StatusChange("4711", "Completed", "Closed"),
    )


async def test_a_status_change_on_an_unknown_ticket_or_to_nothing_is_refused() -> None:
    psa = InMemoryPSA([TICKET])

    with pytest.raises(TicketNotFound):
        await psa.change_status("9999", "Closed")
    with pytest.raises(PSAError):
        await psa.change_status("4711", "  ")
    assert psa.status_changes == ()
    assert (await psa.get_ticket("4711")).status == "New"


async def test_injected_failures_hit_the_next_calls_and_change_nothing() -> None:
    psa = InMemoryPSA([TICKET])
    psa.fail_next_calls(3)

    with pytest.raises(PSAError):
        await psa.get_ticket("4711")
    with pytest.raises(PSAError):
        await psa.post_note("4711", note())
    with pytest.raises(PSAError):
        await psa.change_status("4711", "Closed")
    assert psa.notes == ()
    assert psa.status_changes == ()
    assert await psa.post_note("4711", note()) == "note-1"


async def test_an_injected_error_is_raised_as_given() -> None:
    psa = InMemoryPSA([TICKET])
    psa.fail_next_calls(1, TicketNotFound("memory", "4711"))

    with pytest.raises(TicketNotFound):
        await psa.get_ticket("4711")
    assert await psa.get_ticket("4711") == TICKET


async def test_a_failure_after_the_write_keeps_the_note_like_a_lost_response() -> None:
    psa = InMemoryPSA([TICKET])
    psa.fail_next_calls(1, after_write=True)

    with pytest.raises(PSAError):
        await psa.post_note("4711", note("rf-1"))

    assert [n.note.marker for n in psa.notes_on("4711")] == ["rf-1"]


async def test_a_status_change_can_land_although_the_call_fails() -> None:
    psa = InMemoryPSA([TICKET])
    psa.fail_next_calls(1, after_write=True)

    with pytest.raises(PSAError):
        await psa.change_status("4711", "Closed")

    assert (await psa.get_ticket("4711")).status == "Closed"


async def test_each_account_gets_its_own_connection_and_others_have_none() -> None:
    acme, globex = InMemoryPSA([TICKET]), InMemoryPSA(provider="connectwise")
    connections = InMemoryPSAConnections({"acme": acme})
    connections.connect("globex", globex)

    assert await connections.client_for("acme") is acme
    assert (await connections.client_for("globex")).provider == "connectwise"
    with pytest.raises(PSANotConfigured) as raised:
        await connections.client_for("initech")
    assert raised.value.account_id == "initech"


async def test_a_disconnected_account_has_no_connection_any_more() -> None:
    connections = InMemoryPSAConnections({"acme": InMemoryPSA()})

    connections.disconnect("acme")

    with pytest.raises(PSANotConfigured):
        await connections.client_for("acme")


async def test_linking_a_ticket_through_the_service_snapshots_it_from_the_in_memory_psa() -> None:
    psa = InMemoryPSA([TICKET])
    service = SessionService(
        uow=InMemoryStorage().unit_of_work,
        llm=OfflineLLM(),
        psa=InMemoryPSAConnections({"acme": psa}),
    )
    actor = Actor("acme", "eve", Role.ENGINEER)
    turn = await service.start_chat(actor, "Outlook keeps asking for the password")

    session = await service.link_ticket(actor, turn.session.id, " 4711 ")

    assert session.psa_link is not None
    assert (session.psa_link.provider, session.psa_link.ticket_id) == ("memory", "4711")
    assert session.psa_link.snapshot["company"] == "Contoso"
    with pytest.raises(TicketNotFound):
        await service.link_ticket(actor, turn.session.id, "9999")
