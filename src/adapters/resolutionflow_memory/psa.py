"""An in-memory PSA: tickets held in a dict, notes and status changes recorded for reading back.

Real shipped code for demos and tests, raising the same errors as the HTTP adapters
(`TicketNotFound`, `PSANotConfigured`, `PSAError`). Like a careful PSA adapter, it posts a
note at most once per ticket and marker: a re-post (after a lost response) returns the id of
the note already there, which is what "never posted twice" relies on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from resolutionflow_core.errors import (
    ProviderRejected,
    PSAError,
    PSANotConfigured,
    TicketNotFound,
    Unavailable,
)
from resolutionflow_core.ports import PSAClient
from resolutionflow_core.tickets import PSANote, Ticket

PROVIDER = "memory"


class InjectedPSAFailure(PSAError, Unavailable):
    """The failure a test asked for with `InMemoryPSA.fail_next_calls`: the PSA is, for
    now, unavailable."""

    code = "psa_unavailable"


class StatusRefused(PSAError, ProviderRejected):
    """The in-memory PSA refuses a blank status, as a real one refuses a status it lacks."""

    code = "psa_request_rejected"


@dataclass(frozen=True, slots=True)
class PostedNote:
    """A note as the PSA holds it."""

    note_id: str
    ticket_id: str
    note: PSANote


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One status change of a ticket, from the status it had before."""

    ticket_id: str
    previous: str | None
    status: str


@dataclass(slots=True)
class _Failures:
    """The next ``remaining`` calls raise ``error`` (after writing, with ``after_write``)."""

    remaining: int = 0
    error: PSAError | None = None
    after_write: bool = False

    def take(self) -> PSAError | None:
        if self.remaining <= 0 or self.error is None:
            return None
        self.remaining -= 1
        return self.error.with_traceback(None)  # each raise starts a fresh traceback


class InMemoryPSA:
    """A `PSAClient` whose tickets live in memory."""

    def __init__(self, tickets: Iterable[Ticket] = (), *, provider: str = PROVIDER) -> None:
        self._provider = provider
        self._tickets: dict[str, Ticket] = {}
        self._notes: list[PostedNote] = []
        self._status_changes: list[StatusChange] = []
        self._failures = _Failures()
        for ticket in tickets:
            self.add_ticket(ticket)

    @property
    def provider(self) -> str:
        return self._provider

    # -- set-up and reading back (tests, demos) ------------------------------------------

    def add_ticket(self, ticket: Ticket) -> None:
        """Hold ``ticket`` (replacing one with the same id)."""
        self._tickets[ticket.ticket_id] = ticket

    @property
    def notes(self) -> tuple[PostedNote, ...]:
        """Every note posted, in order."""
        return tuple(self._notes)

    @property
    def status_changes(self) -> tuple[StatusChange, ...]:
        """Every status change made, in order."""
        return tuple(self._status_changes)

    def notes_on(self, ticket_id: str) -> tuple[PostedNote, ...]:
        return tuple(posted for posted in self._notes if posted.ticket_id == ticket_id)

    def fail_next_calls(
        self, count: int, error: PSAError | None = None, *, after_write: bool = False
    ) -> None:
        """Make the next ``count`` calls raise ``error`` (a generic `PSAError` by default).

        With ``after_write`` a failing `post_note` or `change_status` first does its work and
        then raises, like a PSA whose response was lost after it saved the change.
        """
        self._failures = _Failures(
            remaining=count,
            error=error or InjectedPSAFailure(f"{self._provider} PSA: injected failure"),
            after_write=after_write,
        )

    # -- the port -------------------------------------------------------------------------

    async def get_ticket(self, ticket_id: str) -> Ticket:
        self._fail_now()
        return self._ticket(ticket_id)

    async def post_note(self, ticket_id: str, note: PSANote) -> str:
        failure = self._failure_before_write()
        self._ticket(ticket_id)
        note_id = self._post(ticket_id, note)
        if failure is not None:
            raise failure
        return note_id

    async def find_note(self, ticket_id: str, marker: str) -> str | None:
        self._fail_now()
        self._ticket(ticket_id)
        for posted in self._notes:
            if posted.ticket_id == ticket_id and posted.note.marker == marker:
                return posted.note_id
        return None

    async def change_status(self, ticket_id: str, status: str) -> None:
        failure = self._failure_before_write()
        ticket = self._ticket(ticket_id)
        if not status.strip():
            raise StatusRefused(
                f"{self._provider} ticket {ticket_id}: the status must not be empty"
            )
        self._tickets[ticket_id] = dataclasses.replace(ticket, status=status)
        self._status_changes.append(StatusChange(ticket_id, ticket.status, status))
        if failure is not None:
            raise failure

    # -- internals ------------------------------------------------------------------------

    def _ticket(self, ticket_id: str) -> Ticket:
        try:
            return self._tickets[ticket_id]
        except KeyError:
            raise TicketNotFound(self._provider, ticket_id) from None

    def _post(self, ticket_id: str, note: PSANote) -> str:
        # Like a real PSA, posting twice makes two notes: avoiding that is the caller's job
        # (the outbox relay looks for the note's marker first), and tests must see a double.
        note_id = f"note-{len(self._notes) + 1}"
        self._notes.append(PostedNote(note_id, ticket_id, note))
        return note_id

    def _fail_now(self) -> None:
        failure = self._failures.take()
        if failure is not None:
            raise failure

    def _failure_before_write(self) -> PSAError | None:
        """Raise now, or (``after_write``) return the error to raise once the write is done."""
        failure = self._failures.take()
        if failure is not None and not self._failures.after_write:
            raise failure
        return failure


class InMemoryPSAConnections:
    """The `PSAConnections` port over a dict of account id → client."""

    def __init__(self, clients: Mapping[str, PSAClient] | None = None) -> None:
        self._clients: dict[str, PSAClient] = dict(clients or {})
        self._statuses: dict[tuple[str, str], str] = {}

    def connect(
        self, account_id: str, client: PSAClient, *, statuses: Mapping[str, str] | None = None
    ) -> None:
        """Give ``account_id`` this PSA connection (replacing any earlier one), optionally
        with the ticket status to set after a session is resolved or escalated."""
        self._clients[account_id] = client
        for change, status in (statuses or {}).items():
            self._statuses[(account_id, change)] = status

    def disconnect(self, account_id: str) -> None:
        self._clients.pop(account_id, None)
        self._statuses = {k: v for k, v in self._statuses.items() if k[0] != account_id}

    async def status_after(self, account_id: str, change: str) -> str | None:
        return self._statuses.get((account_id, change))

    async def client_for(self, account_id: str) -> PSAClient:
        try:
            return self._clients[account_id]
        except KeyError:
            raise PSANotConfigured(account_id) from None
