"""Fault injection through the delivery relay, with the real adapters and the real storage.

Sessions linked to a ticket are resolved, escalated or share a ``ticket_note`` update, in
SQL storage (SQLite, and PostgreSQL); the relay (`DeliveryRelay` over `SqlDeliveryQueue`
and `ConfiguredPSAConnections`, sealed credentials and all) delivers their notes to a PSA
stub on 127.0.0.1 that fails in the ways PSAs do: 5xx, timeouts, 429 with Retry-After, an
answer lost after the note was created, a status change silently ignored. Whatever the
faults, once the PSA recovers each due note is on the ticket exactly once (counted by its
marker on the stub) and no delivery is left pending or failed. The relay's clock is the
test's, so backoff waits pass at once; the adapters' retry waits are not slept either.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from resolutionflow_app.psa import ConfiguredPSAConnections, Sealer
from resolutionflow_core.delivery import DeliveryRelay, DeliveryState, RelayReport
from resolutionflow_core.session import Session
from resolutionflow_core.tickets import NoteKind, PSALink
from resolutionflow_core.updates import Audience, StatusUpdateDraft, UpdateLength
from resolutionflow_psa import RetryPolicy, Tuning
from resolutionflow_psa.marker import carries_marker
from resolutionflow_sqlalchemy import SqlStorage
from resolutionflow_sqlalchemy.connections import SqlPSAConnectionStore
from resolutionflow_sqlalchemy.delivery import SqlDeliveryQueue
from tests.databases import SQL_DATABASES, empty_storage, url_for
from tests.integration.psa.conftest import CLIENT_TIMEOUT, half
from tests.integration.psa.stub import Fault, StubServer, rate_limited, timeout, unavailable
from tests.integration.psa.stubs import CW_PREFIX, ConnectWiseStub, HaloStub

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ACCOUNT = "acme"
FAST_RETRY = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02, max_retry_after=60.0)
"""The adapters retry once themselves; faults that outlast that are the relay's to retry."""
STEP = timedelta(hours=3)
"""How far the relay's clock moves between passes: past any backoff or Retry-After here."""


async def _no_wait(_seconds: float) -> None:
    return None


FAST: Tuning = {"timeout": CLIENT_TIMEOUT, "retry": FAST_RETRY, "sleep": _no_wait, "chance": half}
"""The providers' adapters as configured, with the tests' short timeout and no sleeping."""


class ManualClock:
    def __init__(self) -> None:
        self.current = T0

    def now(self) -> datetime:
        return self.current


@dataclass
class World:
    """SQL storage, the account's PSA connection to a stub, and relays over them."""

    url: str
    storage: SqlStorage
    key: str
    clock: ManualClock = field(default_factory=ManualClock)
    _opened: list[SqlStorage] = field(default_factory=list)
    _connections: list[ConfiguredPSAConnections] = field(default_factory=list)

    def connections(self, storage: SqlStorage | None = None) -> ConfiguredPSAConnections:
        store = SqlPSAConnectionStore((storage or self.storage).database)
        opened = ConfiguredPSAConnections(store, Sealer(self.key), allow_loopback=True, tuning=FAST)
        self._connections.append(opened)
        return opened

    def relay(self, *, separate_engine: bool = False, **options: Any) -> DeliveryRelay:
        storage = self.storage
        if separate_engine:
            storage = SqlStorage.from_url(self.url)
            self._opened.append(storage)
        queue = SqlDeliveryQueue(storage.database)
        return DeliveryRelay(queue, self.connections(storage), self.clock, **options)

    async def connect(
        self, provider: str, settings: dict[str, Any], credentials: dict[str, str]
    ) -> None:
        await self.connections().connect(ACCOUNT, provider, settings, credentials, now=T0)

    async def close(self) -> None:
        for connections in self._connections:
            await connections.aclose()
        for storage in [*self._opened, self.storage]:
            await storage.dispose()

    # -- sessions whose notes are due ------------------------------------------------------

    async def sessions(self, provider: str, ticket_id: str, count: int = 1) -> list[uuid.UUID]:
        """Per ``count``: one resolved, one escalated, one open sharing a ticket note."""
        made = []
        for n in range(count):
            for change in ("resolve", "escalate", "ticket_note"):
                session = Session.start_chat(
                    session_id=uuid.uuid4(),
                    account_id=ACCOUNT,
                    user_id="alice",
                    first_message=f"VPN drops ({change} {n})",
                    now=T0,
                )
                link = PSALink(provider, ticket_id, {"summary": "VPN drops"}, T0)
                session.link_ticket(link, by="alice")
                if change == "resolve":
                    session.resolve(f"New VPN profile {n}", now=T0, by="alice")
                elif change == "escalate":
                    session.escalate(f"Needs the firewall team {n}", now=T0, by="alice")
                else:
                    draft = StatusUpdateDraft(
                        audience=Audience.TICKET_NOTE,
                        length=UpdateLength.QUICK,
                        body=f"Still on it {n}",
                    )
                    session.share_status_update(draft, now=T0, by="alice")
                async with self.storage.unit_of_work() as uow:
                    await uow.sessions.add(session)
                    await uow.commit()
                made.append(session.id)
        return made

    async def markers(self, sessions: list[uuid.UUID]) -> dict[str, tuple[str, str | None]]:
        """marker → (state, psa_note_id) of every delivery of these sessions."""
        queue = SqlDeliveryQueue(self.storage.database)
        found = {}
        for session_id in sessions:
            for delivery in await queue.for_session(session_id):
                found[delivery.due.note.marker] = (delivery.state.value, delivery.psa_note_id)
        return found

    async def drain(
        self,
        relays: list[DeliveryRelay],
        sessions: list[uuid.UUID],
        *,
        heal: Callable[[], None] | None = None,
        heal_after: int = 2,
        rounds: int = 30,
    ) -> list[RelayReport]:
        """Passes of the relays (at once), the clock moving on between them, until none of
        the sessions' deliveries is pending; ``heal`` the PSA after ``heal_after`` passes."""
        reports: list[RelayReport] = []
        for round_ in range(rounds):
            if heal is not None and round_ == heal_after:
                heal()
            reports += await asyncio.gather(*(relay.run_once(limit=4) for relay in relays))
            states = {state for state, _ in (await self.markers(sessions)).values()}
            if DeliveryState.PENDING.value not in states:
                return reports
            self.clock.current += STEP
        raise AssertionError(f"still pending after {rounds} passes: {reports}")


@pytest.fixture(params=SQL_DATABASES)
async def world(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[World]:
    url = url_for(request, tmp_path / "relay.db")
    storage = await empty_storage(url)
    opened = World(url, storage, Sealer.new_key())
    try:
        yield opened
    finally:
        await opened.close()


# -- ConnectWise ----------------------------------------------------------------------------

CW_TICKET = 4711
CW_NOTES = r"/service/tickets/\d+/notes$"


async def connect_connectwise(world: World, server: StubServer) -> None:
    await world.connect(
        "connectwise",
        {
            "base_url": f"{server.url}{CW_PREFIX}",
            "company": "acme",
            "public_key": "pub-key",
            "client_id": "3c7a1f5e-client",
            "statuses": {"resolved": ">Closed", "escalated": "Waiting on Client"},
        },
        {"private_key": "priv-key"},
    )


def _server_errors(stub: ConnectWiseStub) -> None:
    stub.fail("POST", CW_NOTES, unavailable(503), unavailable(500), unavailable(503))
    stub.fail("GET", CW_NOTES, unavailable(502), unavailable(503))


def _timeouts(stub: ConnectWiseStub) -> None:
    """No answer in time: twice the note is not written, once it is (the answer is late)."""
    unanswered = timeout(status=504)
    stub.fail("POST", CW_NOTES, unanswered, unanswered, timeout(after_handling=True))
    stub.fail("GET", CW_NOTES, unanswered)


def _rate_limited(stub: ConnectWiseStub) -> None:
    stub.fail("POST", CW_NOTES, rate_limited("30"), rate_limited("30"), rate_limited("7200"))
    stub.fail("GET", r"/service/tickets/\d+$", rate_limited("7200"))


def _answers_lost(stub: ConnectWiseStub) -> None:
    """Each of the first notes is created, but its answer is lost (a 502, or none in time),
    and looking for it fails at first too: the relay's next attempt must find it."""
    lost_502 = Fault(502, {"message": "Bad gateway"}, after_handling=True)
    stub.fail("POST", CW_NOTES, lost_502, timeout(after_handling=True), lost_502)
    stub.fail("GET", CW_NOTES, *[unavailable(503)] * 4)


def _status_ignored(stub: ConnectWiseStub) -> None:
    stub.ignore_status_changes = True


FAULTS: dict[str, Callable[[ConnectWiseStub], None]] = {
    "5xx": _server_errors,
    "timeouts": _timeouts,
    "429 with retry-after": _rate_limited,
    "answer lost after the note was created": _answers_lost,
    "status change ignored": _status_ignored,
}


@pytest.mark.parametrize("fault", FAULTS)
async def test_connectwise_each_due_note_lands_exactly_once(
    world: World, server: StubServer, cw_stub: ConnectWiseStub, fault: str
) -> None:
    await connect_connectwise(world, server)
    sessions = await world.sessions("connectwise", str(CW_TICKET))
    FAULTS[fault](cw_stub)

    def heal() -> None:
        cw_stub.ignore_status_changes = False

    reports = await world.drain([world.relay()], sessions, heal=heal)

    assert sum(report.retrying for report in reports) > 0, "the fault never struck"
    assert sum(report.failed for report in reports) == 0
    _assert_exactly_once(await world.markers(sessions), cw_stub.notes[CW_TICKET], "text")
    if fault == "status change ignored":
        assert cw_stub.tickets[CW_TICKET]["status"]["name"] in (">Closed", "Waiting on Client")


async def test_connectwise_a_long_outage_fails_then_a_retry_delivers_once(
    world: World, server: StubServer, cw_stub: ConnectWiseStub
) -> None:
    """The retries run out (failed, with the last error); put back, each lands once."""
    await connect_connectwise(world, server)
    sessions = await world.sessions("connectwise", str(CW_TICKET))
    lost = Fault(502, {"message": "Bad gateway"}, after_handling=True)
    cw_stub.fail("POST", CW_NOTES, *[lost] * 3, *[unavailable(503)] * 20)
    cw_stub.fail("GET", CW_NOTES, *[unavailable(503)] * 40)
    relay = world.relay(max_attempts=3)

    await world.drain([relay], sessions)
    stuck = await world.markers(sessions)
    assert {state for state, _ in stuck.values()} == {"failed"}
    queue = SqlDeliveryQueue(world.storage.database)
    (one,) = await queue.for_session(sessions[0])
    assert one.last_error is not None
    assert "PSAUnavailable" in one.last_error

    cw_stub._faults.clear()  # the PSA recovers
    for session_id in sessions:
        await queue.retry_failed(now=world.clock.now(), session_id=session_id)
    await world.drain([relay], sessions)
    _assert_exactly_once(await world.markers(sessions), cw_stub.notes[CW_TICKET], "text")


@pytest.mark.postgres
@pytest.mark.parametrize("world", [pytest.param("postgresql")], indirect=True)
async def test_several_relays_on_postgresql_never_deliver_a_row_twice(
    world: World, server: StubServer, cw_stub: ConnectWiseStub
) -> None:
    await connect_connectwise(world, server)
    for number in range(4712, 4716):  # more tickets, so the relays' posts interleave
        cw_stub.tickets[number] = {**cw_stub.tickets[CW_TICKET], "id": number}
        cw_stub.notes[number] = []
    sessions = []
    for number in range(CW_TICKET, 4716):
        sessions += await world.sessions("connectwise", str(number), count=2)
    cw_stub.fail("POST", CW_NOTES, *[unavailable(503)] * 6)
    relays = [world.relay(separate_engine=True) for _ in range(4)]

    await world.drain(relays, sessions)

    posted = [note for notes in cw_stub.notes.values() for note in notes]
    _assert_exactly_once(await world.markers(sessions), posted, "text")
    assert len(posted) == len(sessions) == 30
    # Every attempt the stub saw was of a row one relay held: no row was ever posted twice.
    tries = cw_stub.sent("POST", CW_NOTES)
    assert len(tries) == len(sessions) + 6


# -- HaloPSA --------------------------------------------------------------------------------

HALO_TICKET = 1234


@pytest.mark.parametrize("fault", ["5xx", "answer lost after the note was created", "429"])
async def test_halopsa_each_due_note_lands_exactly_once(
    world: World, server: StubServer, halo_stub: HaloStub, fault: str
) -> None:
    await world.connect(
        "halopsa",
        {
            "base_url": server.url,
            "client_id": "halo-client",
            "tenant": "acme",
            "statuses": {"resolved": "Closed"},
        },
        {"client_secret": "halo-secret"},
    )
    sessions = await world.sessions("halopsa", str(HALO_TICKET))
    actions = "/api/Actions$"
    if fault == "5xx":
        halo_stub.fail("POST", actions, unavailable(500), unavailable(503), unavailable(503))
    elif fault == "429":
        halo_stub.fail("POST", actions, rate_limited("45"), rate_limited("45"), rate_limited("45"))
    else:
        lost = Fault(502, {"message": "Bad gateway"}, after_handling=True)
        halo_stub.fail("POST", actions, lost, timeout(after_handling=True), lost)
        halo_stub.fail("GET", actions, *[unavailable(503)] * 4)

    reports = await world.drain([world.relay()], sessions)

    assert sum(report.retrying for report in reports) > 0, "the fault never struck"
    notes = [a for a in halo_stub.actions if a["ticket_id"] == HALO_TICKET]
    _assert_exactly_once(await world.markers(sessions), notes, "note")


async def test_halopsa_an_outcome_removed_on_the_instance_fails_at_once_saying_so(
    world: World, server: StubServer, halo_stub: HaloStub
) -> None:
    await world.connect(
        "halopsa",
        {"base_url": server.url, "client_id": "halo-client", "tenant": "acme"},
        {"client_secret": "halo-secret"},
    )
    stored = await world.connections().show(ACCOUNT)
    assert stored is not None
    assert stored.settings["outcome_detail"] == "Public Note"
    sessions = await world.sessions("halopsa", str(HALO_TICKET))
    halo_stub.outcomes = [o for o in halo_stub.outcomes if o["outcome"] != "Public Note"]

    reports = await world.drain([world.relay()], sessions)

    queue = SqlDeliveryQueue(world.storage.database)
    by_kind = {d.due.note.kind: d for session in sessions for d in await queue.for_session(session)}
    refused = [by_kind[NoteKind.RESOLUTION], by_kind[NoteKind.DETAIL]]
    assert {d.state for d in refused} == {DeliveryState.FAILED}
    assert {d.attempts for d in refused} == {1}, "a refusal is not tried again"
    for delivery in refused:
        assert delivery.last_error is not None
        assert delivery.last_error.startswith("PSAConfigurationError: HaloPSA has no outcome")
        assert "'Public Note'" in delivery.last_error
        assert "(it has: Private Note, Email User, Phone Call)" in delivery.last_error
    assert by_kind[NoteKind.INTERNAL].state is DeliveryState.DELIVERED
    assert sum(report.failed for report in reports) == 2
    assert [a["outcome"] for a in halo_stub.actions] == ["Private Note"]


# -- checks ---------------------------------------------------------------------------------


def _assert_exactly_once(
    deliveries: dict[str, tuple[str, str | None]], notes: list[dict[str, Any]], text: str
) -> None:
    """Every delivery delivered, its marker on exactly one note, the one whose id it kept;
    and no note on the ticket that is not one of them."""
    assert deliveries, "no note was due"
    assert {state for state, _ in deliveries.values()} == {"delivered"}, deliveries
    for marker, (_, note_id) in deliveries.items():
        carrying = [note for note in notes if carries_marker(note.get(text), marker)]
        assert len(carrying) == 1, f"{marker}: on {len(carrying)} notes"
        assert str(carrying[0]["id"]) == note_id
    assert len(notes) == len(deliveries)
