"""A stateful machine: random sequences of every `SessionService` operation, on both kinds.

Five actors (two engineers, a viewer and an admin of account A, an engineer of account B)
drive chat and guided sessions through the real service, in-memory storage and the offline
LLM, allowed calls and forbidden ones alike. A plain reference model (`reference_model`)
predicts each outcome; after every step the invariants of docs/domain.md are checked on every
stored session, its outbox, and on what each actor can list.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from uuid import UUID

from hypothesis import event, given
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
)

from resolutionflow_core import (
    Actor,
    Audience,
    ChatTurn,
    DomainError,
    IntakeType,
    LifecycleAction,
    MessageRole,
    Role,
    Session,
    SessionNotFound,
    SessionService,
    SessionStatus,
    SessionType,
    Ticket,
    UpdateLength,
    tier_for,
)
from resolutionflow_core.access import allowed_actions_for
from resolutionflow_memory.llm import OfflineLLM
from resolutionflow_memory.psa import InMemoryPSA, InMemoryPSAConnections
from resolutionflow_memory.storage import InMemoryStorage
from tests.conftest import SequentialIds, StepClock
from tests.unit.reference_model import (
    ACTIVE,
    CHAT,
    ESCALATED,
    GUIDED,
    OPEN,
    TERMINAL,
    Outcome,
    Person,
    ReferenceModel,
    blank,
)

T = TypeVar("T")

ACCOUNT_A, ACCOUNT_B = "acct-a", "acct-b"
ENGINEER_1 = Person(ACCOUNT_A, "eng-1", "engineer")
ENGINEER_2 = Person(ACCOUNT_A, "eng-2", "engineer")
VIEWER = Person(ACCOUNT_A, "viewer-1", "viewer")
ADMIN = Person(ACCOUNT_A, "admin-1", "admin")
ENGINEER_B = Person(ACCOUNT_B, "eng-b", "engineer")
PEOPLE = (ENGINEER_1, ENGINEER_2, VIEWER, ADMIN, ENGINEER_B)
BY_USER = {person.user: person for person in PEOPLE}

TICKETS_A = frozenset({"T-100", "T-200"})
MISSING = UUID(int=10**9)
"""A session id that is never issued."""

OWNER = "the session's owner"
"""Stands for whoever owns the session when the rule runs (so owners act often enough)."""

PROBLEMS = (
    "The VPN drops every hour since the firewall update",
    "Outlook keeps asking for the password",
    "Yes, the printer shows offline in the queue",
    "  ipconfig shows 169.254.x.x  ",
    "Done, it worked",
)
texts = st.one_of(
    st.sampled_from(PROBLEMS), st.sampled_from(["", "   ", "\n\t "]), st.text(max_size=24)
)
people = st.sampled_from(PEOPLE)
creators = st.sampled_from([ENGINEER_1, ENGINEER_2, ADMIN, ENGINEER_B])
people_or_owner = st.one_of(st.just(OWNER), people)
Intake = tuple[IntakeType, dict[str, Any], bool]
VALID_INTAKES: list[Intake] = [
    (IntakeType.FREE_TEXT, {"text": "Users on VLAN 20 cannot reach the file server"}, True),
    (IntakeType.PSA_TICKET, {"ticket_id": "T-100", "summary": "Email bouncing"}, True),
    (IntakeType.LOG_PASTE, {"text": "Event 4625: An account failed to log on"}, True),
    (IntakeType.SCREENSHOT, {"description": "Blue screen, stop code 0x0000007E"}, True),
    (IntakeType.COMBINED, {"text": "Slow logons", "log": "GPO took 90s"}, True),
]
INVALID_INTAKES: list[Intake] = [
    (IntakeType.FREE_TEXT, {"text": "   "}, False),
    (IntakeType.PSA_TICKET, {"summary": "no ticket id"}, False),
    (IntakeType.SCREENSHOT, {}, False),
]
intakes = st.sampled_from(VALID_INTAKES + INVALID_INTAKES)


def actor_of(person: Person) -> Actor:
    return Actor(person.account, person.user, Role(person.role))


def state_of(session: Session) -> dict[str, Any]:
    """Every stored field of a session (not its pending events)."""
    return {
        f.name: getattr(session, f.name) for f in dataclasses.fields(session) if f.name != "events"
    }


FROZEN_EXCEPT = {"version", "updated_at", "psa_link"}
"""What link and share events may change: all a closed (or still escalated) session allows."""


def expected_tier(score: float) -> str:
    if score < 0.4:
        return "discovery"
    if score < 0.8:
        return "exploring"
    return "guided"


STATUS_EVENT = {
    ("active", "paused"): "session.paused",
    ("paused", "active"): "session.resumed",
    ("escalated", "active"): "session.claimed",
    ("active", "resolved"): "session.resolved",
    ("paused", "resolved"): "session.resolved",
    ("active", "escalated"): "session.escalated",
    ("paused", "escalated"): "session.escalated",
    ("active", "abandoned"): "session.abandoned",
    ("paused", "abandoned"): "session.abandoned",
}


class SessionLifecycleMachine(RuleBasedStateMachine):
    sessions = Bundle("sessions")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.storage = InMemoryStorage()
        tickets = [Ticket("memory", ticket_id, f"Ticket {ticket_id}") for ticket_id in TICKETS_A]
        psa = InMemoryPSAConnections({ACCOUNT_A: InMemoryPSA(tickets)})
        self.service = SessionService(
            uow=self.storage.unit_of_work,
            llm=OfflineLLM(),
            psa=psa,
            clock=StepClock(),
            ids=SequentialIds(),
        )
        self.model = ReferenceModel({ACCOUNT_A: TICKETS_A})
        self.seen: dict[UUID, dict[str, Any]] = {}
        self.frozen: dict[UUID, dict[str, Any]] = {}
        self.outbox_read = 0
        self.event_versions: dict[UUID, list[int]] = {}
        self.new_events: dict[UUID, list[str]] = {}
        self.claimed: tuple[UUID, str] | None = None

    def teardown(self) -> None:
        self.loop.close()

    # -- helpers ----------------------------------------------------------------------------

    def run(self, call: Awaitable[T]) -> T:
        return self.loop.run_until_complete(call)

    def who(self, person: Person | str, sid: UUID) -> Person:
        if person == OWNER:
            return BY_USER[self.model.sessions[sid].owner]
        assert isinstance(person, Person)
        return person

    def attempt(
        self,
        what: str,
        expected: Outcome,
        sid: UUID | None,
        call: Callable[[], Awaitable[T]],
    ) -> T | None:
        """Run ``call``; it must succeed or raise exactly ``expected``, changing nothing."""
        event(f"{what.split(':')[0]} -> {expected.__name__ if expected else 'ok'}")
        before = state_of(self.storage.committed(sid)) if sid in self.model.sessions else None
        stored, outbox = len(self.storage), len(self.storage.outbox)
        refused: DomainError | None = None
        try:
            result = self.run(call())
        except DomainError as error:
            refused = error
        if refused is None:
            assert expected is None, f"{what}: should have raised {expected.__name__}"
            return result
        assert expected is not None, f"{what}: refused unexpectedly: {refused!r}"
        assert type(refused) is expected, f"{what}: expected {expected.__name__}, got {refused!r}"
        assert len(self.storage) == stored, f"{what}: refused but stored a session"
        assert len(self.storage.outbox) == outbox, f"{what}: refused but recorded events"
        if before is not None:
            after = state_of(self.storage.committed(sid))  # type: ignore[arg-type]
            assert after == before, f"{what}: refused but changed the session"
        return None

    def _is_a_new_id(self, sid: UUID) -> None:
        """Ids come from `SequentialIds`: each new session's is the highest so far."""
        assert all(sid.int > known.int for known in self.model.sessions), f"{sid} reused"

    # -- starting ---------------------------------------------------------------------------

    @rule(target=sessions, person=people, text=texts)
    def start_chat(self, person: Person, text: str) -> Any:
        expected = self.model.start(person, not blank(text))
        turn = self.attempt(
            f"start_chat: {person.user}",
            expected,
            None,
            lambda: self.service.start_chat(actor_of(person), text),
        )
        if turn is None:
            return multiple()
        assert isinstance(turn, ChatTurn)
        sid = turn.session.id
        self._is_a_new_id(sid)
        assert turn.message.role is MessageRole.USER
        assert turn.message.content == text.strip()
        assert turn.reply.role is MessageRole.ASSISTANT
        self.model.started_chat(sid, person)
        return sid

    @rule(target=sessions, person=people, intake=intakes)
    def start_guided(self, person: Person, intake: Intake) -> Any:
        intake_type, content, valid = intake
        expected = self.model.start(person, valid)
        session = self.attempt(
            f"start_guided: {person.user}",
            expected,
            None,
            lambda: self.service.start_guided(actor_of(person), intake_type, dict(content)),
        )
        if session is None:
            return multiple()
        self._is_a_new_id(session.id)
        assert session.intake_type is intake_type
        assert session.pending_step is not None
        self.model.started_guided(session.id, person)
        return session.id

    @initialize(target=sessions, person=creators, text=st.sampled_from(PROBLEMS))
    def a_first_chat(self, person: Person, text: str) -> Any:
        return self.start_chat(person, text)

    @initialize(target=sessions, person=creators, intake=st.sampled_from(VALID_INTAKES))
    def a_first_guided_session(self, person: Person, intake: Intake) -> Any:
        return self.start_guided(person, intake)

    # -- chat and guided --------------------------------------------------------------------

    @rule(sid=sessions, person=people_or_owner, text=texts, streamed=st.booleans())
    def send_message(self, sid: UUID, person: Person | str, text: str, streamed: bool) -> None:
        who = self.who(person, sid)
        actor = actor_of(who)

        async def streaming() -> ChatTurn:
            items = [item async for item in self.service.stream_message(actor, sid, text)]
            assert isinstance(items[-1], ChatTurn), "a stream ends with the stored turn"
            return items[-1]

        turn = self.attempt(
            f"send_message: {who.user} on {sid}",
            self.model.send_message(who, sid, text),
            sid,
            streaming if streamed else lambda: self.service.send_message(actor, sid, text),
        )
        if turn is not None:
            assert turn.message.content == text.strip()
            self.model.message_sent(sid)

    @rule(sid=sessions, person=people_or_owner, text=texts)
    def answer_step(self, sid: UUID, person: Person | str, text: str) -> None:
        who = self.who(person, sid)
        session = self.attempt(
            f"answer_step: {who.user} on {sid}",
            self.model.answer_step(who, sid, text),
            sid,
            lambda: self.service.answer_step(actor_of(who), sid, text),
        )
        if session is not None:
            assert session.steps[-2].response == text.strip()
            self.model.step_answered(sid)

    @rule(sid=sessions, person=people_or_owner)
    def request_next_step(self, sid: UUID, person: Person | str) -> None:
        who = self.who(person, sid)
        self.attempt(
            f"request_next_step: {who.user} on {sid}",
            self.model.request_next_step(who, sid),
            sid,
            lambda: self.service.request_next_step(actor_of(who), sid),
        )
        # A pending step is already the next step: nothing changes (checked by the model).

    @rule(sid=sessions, person=people_or_owner)
    def answer_again(self, sid: UUID, person: Person | str) -> None:
        who = self.who(person, sid)
        self.attempt(
            f"answer_again: {who.user} on {sid}",
            self.model.answer_again(who, sid),
            sid,
            lambda: self.service.answer_again(actor_of(who), sid),
        )

    # -- lifecycle --------------------------------------------------------------------------

    def _transition(
        self,
        sid: UUID,
        who: Person,
        action: str,
        call: Callable[[], Any],
        optional: str | None = None,
    ) -> None:
        session = self.attempt(
            f"{action}: {who.user} on {sid}",
            self.model.lifecycle(who, sid, action, None, optional),
            sid,
            call,
        )
        if session is not None:
            self.model.transitioned(sid, action, who)
            assert session.status.value == self.model.sessions[sid].status

    @rule(sid=sessions, person=people_or_owner)
    def pause(self, sid: UUID, person: Person | str) -> None:
        who = self.who(person, sid)
        self._transition(sid, who, "pause", lambda: self.service.pause(actor_of(who), sid))

    @rule(sid=sessions, person=people_or_owner)
    def resume(self, sid: UUID, person: Person | str) -> None:
        who = self.who(person, sid)
        self._transition(sid, who, "resume", lambda: self.service.resume(actor_of(who), sid))

    @rule(sid=sessions, person=people_or_owner, reason=st.none() | texts)
    def abandon(self, sid: UUID, person: Person | str, reason: str | None) -> None:
        who = self.who(person, sid)
        version = self.storage.committed(sid).version
        self._transition(
            sid, who, "abandon", lambda: self.service.abandon(actor_of(who), sid, reason), reason
        )
        stored = self.storage.committed(sid)
        if stored.version > version:  # abandoned now: the reason is kept on the session
            assert stored.abandon_reason == (reason.strip() if reason and reason.strip() else None)

    @rule(sid=sessions, person=people_or_owner, summary=texts, root_cause=st.none() | texts)
    def resolve(
        self, sid: UUID, person: Person | str, summary: str, root_cause: str | None
    ) -> None:
        who = self.who(person, sid)
        session = self.attempt(
            f"resolve: {who.user} on {sid} with {summary!r}",
            self.model.lifecycle(who, sid, "resolve", summary, root_cause),
            sid,
            lambda: self.service.resolve(actor_of(who), sid, summary, root_cause),
        )
        if session is not None:
            assert session.resolution_summary == summary.strip()
            self.model.transitioned(sid, "resolve", who)

    @rule(sid=sessions, person=people_or_owner, reason=texts)
    def escalate(self, sid: UUID, person: Person | str, reason: str) -> None:
        who = self.who(person, sid)
        session = self.attempt(
            f"escalate: {who.user} on {sid} with {reason!r}",
            self.model.lifecycle(who, sid, "escalate", reason),
            sid,
            lambda: self.service.escalate(actor_of(who), sid, reason),
        )
        if session is not None:
            assert session.escalation_reason == reason.strip()
            self.model.transitioned(sid, "escalate", who)

    @rule(sid=sessions, person=st.sampled_from(["the escalator", OWNER, *PEOPLE]))
    def claim(self, sid: UUID, person: Person | str) -> None:
        if person == "the escalator":
            escalator = self.model.sessions[sid].escalated_by
            person = BY_USER[escalator] if escalator else OWNER
        who = self.who(person, sid)
        session = self.attempt(
            f"claim: {who.user} on {sid}",
            self.model.claim(who, sid),
            sid,
            lambda: self.service.claim(actor_of(who), sid),
        )
        if session is not None:
            assert session.user_id == who.user
            assert session.status is SessionStatus.ACTIVE
            self.model.transitioned(sid, "claim", who)
            self.claimed = (sid, who.user)

    @rule(
        data=st.data(),
        person=st.sampled_from(["someone else", "someone else", "the escalator", *PEOPLE]),
    )
    def claim_an_escalated_session(self, data: st.DataObject, person: Person | str) -> None:
        """Claims of sessions drawn at random mostly fail: draw escalated ones when there are."""
        escalated = [sid for sid, s in self.model.sessions.items() if s.status == ESCALATED]
        sid = data.draw(st.sampled_from(escalated or list(self.model.sessions)), label="session")
        if person == "someone else":
            s = self.model.sessions[sid]
            others = [
                p
                for p in PEOPLE
                if p.account == s.account and p.role != "viewer" and p.user != s.escalated_by
            ]
            person = data.draw(st.sampled_from(others), label="claimer") if others else OWNER
        self.claim(sid, person)

    @rule(
        data=st.data(),
        action=st.sampled_from(
            ["pause", "resume", "resolve", "escalate", "abandon", "claim", "send", "answer"]
        ),
    )
    def try_to_reopen_a_closed_session(self, data: st.DataObject, action: str) -> None:
        """Resolved and abandoned sessions never change: try, as their owner, when there are."""
        closed = [sid for sid, s in self.model.sessions.items() if s.status in TERMINAL]
        sid = data.draw(st.sampled_from(closed or list(self.model.sessions)), label="session")
        text = "Restarted the print spooler"
        attempts: dict[str, Callable[[], None]] = {
            "pause": lambda: self.pause(sid, OWNER),
            "resume": lambda: self.resume(sid, OWNER),
            "resolve": lambda: self.resolve(sid, OWNER, text, None),
            "escalate": lambda: self.escalate(sid, OWNER, text),
            "abandon": lambda: self.abandon(sid, OWNER, None),
            "claim": lambda: self.claim(sid, ADMIN),
            "send": lambda: self.send_message(sid, OWNER, text, False),
            "answer": lambda: self.answer_step(sid, OWNER, text),
        }
        attempts[action]()

    @rule(
        sid=sessions,
        person=st.sampled_from(["the escalator", OWNER, *PEOPLE]),
        action=st.sampled_from(LifecycleAction),
    )
    def allowed_actions_say_what_will_succeed(
        self, sid: UUID, person: Person | str, action: LifecycleAction
    ) -> None:
        """Every action `allowed_actions_for` lists succeeds for that actor; others fail."""
        if person == "the escalator":
            escalator = self.model.sessions[sid].escalated_by
            person = BY_USER[escalator] if escalator else OWNER
        who = self.who(person, sid)
        before = self.storage.committed(sid)
        listed = allowed_actions_for(actor_of(who), before)
        assert len(set(listed)) == len(listed)
        version = before.version
        text = "Restarted the print spooler"
        calls: dict[LifecycleAction, Callable[[], None]] = {
            LifecycleAction.PAUSE: lambda: self.pause(sid, who),
            LifecycleAction.RESUME: lambda: self.resume(sid, who),
            LifecycleAction.RESOLVE: lambda: self.resolve(sid, who, text, None),
            LifecycleAction.ESCALATE: lambda: self.escalate(sid, who, text),
            LifecycleAction.ABANDON: lambda: self.abandon(sid, who, None),
            LifecycleAction.CLAIM: lambda: self.claim(sid, who),
        }
        calls[action]()
        succeeded = self.storage.committed(sid).version > version
        event(f"allowed_actions: {action} {'listed' if action in listed else 'not listed'}")
        assert succeeded == (action in listed), (
            f"{who.user} {action} on a {before.status} session: listed {listed}, "
            f"{'succeeded' if succeeded else 'refused'}"
        )

    # -- PSA and updates --------------------------------------------------------------------

    @rule(
        sid=sessions,
        person=people_or_owner,
        ticket_id=st.sampled_from(["T-100", " T-200 ", "T-404", "  "]),
    )
    def link_ticket(self, sid: UUID, person: Person | str, ticket_id: str) -> None:
        who = self.who(person, sid)
        session = self.attempt(
            f"link_ticket: {who.user} links {ticket_id!r} to {sid}",
            self.model.link_ticket(who, sid, ticket_id),
            sid,
            lambda: self.service.link_ticket(actor_of(who), sid, ticket_id),
        )
        if session is not None:
            self.model.linked(sid, ticket_id)

    @rule(
        sid=sessions,
        person=people_or_owner,
        audience=st.sampled_from(Audience),
        length=st.sampled_from(UpdateLength),
    )
    def share_status_update(
        self, sid: UUID, person: Person | str, audience: Audience, length: UpdateLength
    ) -> None:
        who = self.who(person, sid)
        draft = self.attempt(
            f"share_status_update: {who.user} on {sid}",
            self.model.share(who, sid),
            sid,
            lambda: self.service.share_status_update(actor_of(who), sid, audience, length),
        )
        if draft is not None:
            assert (draft.audience, draft.length) == (audience, length)
            assert draft.body.strip()
            self.model.shared(sid)

    # -- reading ----------------------------------------------------------------------------

    @rule(sid=sessions, person=people)
    def get(self, sid: UUID, person: Person) -> None:
        session = self.attempt(
            f"get: {person.user} on {sid}",
            self.model.read(person, sid),
            sid,
            lambda: self.service.get(actor_of(person), sid),
        )
        if session is not None:
            assert state_of(session) == state_of(self.storage.committed(sid))

    @rule(
        person=people,
        operation=st.sampled_from(["get", "send", "answer", "pause", "claim", "share", "link"]),
    )
    def act_on_a_missing_session(self, person: Person, operation: str) -> None:
        actor = actor_of(person)
        service = self.service
        calls: dict[str, Callable[[], Awaitable[Any]]] = {
            "get": lambda: service.get(actor, MISSING),
            "send": lambda: service.send_message(actor, MISSING, "hello"),
            "answer": lambda: service.answer_step(actor, MISSING, "yes"),
            "pause": lambda: service.pause(actor, MISSING),
            "claim": lambda: service.claim(actor, MISSING),
            "share": lambda: service.share_status_update(
                actor, MISSING, Audience.CLIENT, UpdateLength.QUICK
            ),
            "link": lambda: service.link_ticket(actor, MISSING, "T-100"),
        }
        self.attempt(
            f"{operation} on a missing session: {person.user}",
            SessionNotFound,
            None,
            calls[operation],
        )

    @rule(
        person=people,
        kinds=st.none() | st.frozensets(st.sampled_from(SessionType), min_size=1),
        statuses=st.none() | st.frozensets(st.sampled_from(SessionStatus), min_size=1),
        owner=st.none() | st.sampled_from([p.user for p in PEOPLE]),
        page_size=st.integers(1, 4),
    )
    def list_filtered_page_by_page(
        self,
        person: Person,
        kinds: frozenset[SessionType] | None,
        statuses: frozenset[SessionStatus] | None,
        owner: str | None,
        page_size: int,
    ) -> None:
        actor = actor_of(person)
        rows = []
        cursor = None
        for _ in range(len(self.model.sessions) + 2):
            page = self.run(
                self.service.list(
                    actor,
                    session_types=kinds,
                    statuses=statuses,
                    owner_id=owner,
                    limit=page_size,
                    cursor=cursor.encode() if cursor else None,
                )
            )
            assert len(page.items) <= page_size
            rows.extend(page.items)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        else:
            raise AssertionError("pagination did not end")
        expected = {
            sid
            for sid in self.model.visible_ids(person)
            if (kinds is None or self.model.sessions[sid].kind in kinds)
            and (statuses is None or self.model.sessions[sid].status in statuses)
            and (owner is None or self.model.sessions[sid].owner == owner)
        }
        ids = [row.id for row in rows]
        assert len(ids) == len(set(ids)), "a session was listed on two pages"
        assert set(ids) == expected
        keys = [(row.last_activity_at, row.id) for row in rows]
        assert keys == sorted(keys, reverse=True), "not newest activity first"

    @rule(person=people)
    def dashboard(self, person: Person) -> None:
        board = self.run(self.service.dashboard(actor_of(person), limit=200))
        mine = {
            sid
            for sid, s in self.model.sessions.items()
            if s.account == person.account and (person.sees_whole_account or s.owner == person.user)
        }
        status = {sid: s.status for sid, s in self.model.sessions.items()}
        escalated = {
            sid
            for sid, s in self.model.sessions.items()
            if s.account == person.account and s.status == ESCALATED
        }
        assert {row.id for row in board.active} == {sid for sid in mine if status[sid] in OPEN}
        assert {row.id for row in board.escalated} == escalated
        closed = {sid for sid in mine if status[sid] not in OPEN and status[sid] != ESCALATED}
        assert {row.id for row in board.recent} == closed

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def every_stored_session_keeps_the_rules(self) -> None:
        assert len(self.storage) == len(self.model.sessions)
        self._read_outbox()
        for sid, expected in self.model.sessions.items():
            session = self.storage.committed(sid)
            now = state_of(session)
            previous = self.seen.get(sid)
            self._matches_model(session, sid)
            self._is_consistent(session)
            self._outbox_matches(session)
            if previous is not None:
                self._changed_lawfully(sid, previous, now, expected.kind)
            if session.status.value in {"resolved", "abandoned"}:
                content = {k: v for k, v in now.items() if k not in FROZEN_EXCEPT}
                frozen = self.frozen.setdefault(sid, content)
                assert content == frozen, f"{sid} changed after it was {session.status}"
            self.seen[sid] = now
        self.new_events.clear()
        self.claimed = None
        self._everybody_lists_exactly_what_they_may_see()

    def _everybody_lists_exactly_what_they_may_see(self) -> None:
        for person in PEOPLE:
            page = self.run(self.service.list(actor_of(person), limit=200))
            assert page.next_cursor is None
            listed = {row.id for row in page.items}
            assert listed == self.model.visible_ids(person), f"{person.user} lists {listed}"
            assert all(row.account_id == person.account for row in page.items)
            for row in page.items:
                assert row.version == self.model.sessions[row.id].version
                assert row.status == self.model.sessions[row.id].status
                stored = self.seen[row.id]
                assert row.step_count == len(stored["conversation_messages"]) + len(stored["steps"])

    def _read_outbox(self) -> None:
        for recorded in self.storage.outbox[self.outbox_read :]:
            sid = recorded.session_id
            versions = self.event_versions.setdefault(sid, [])
            assert recorded.version == len(versions) + 1, (
                f"outbox of {sid}: version {recorded.version} after {versions[-1:]}"
            )
            versions.append(recorded.version)
            self.new_events.setdefault(sid, []).append(recorded.name)
            assert recorded.account_id == self.model.sessions[sid].account
        self.outbox_read = len(self.storage.outbox)

    def _matches_model(self, session: Session, sid: UUID) -> None:
        expected = self.model.sessions[sid]
        assert session.session_type.value == expected.kind
        assert session.account_id == expected.account
        assert session.user_id == expected.owner
        assert session.status.value == expected.status
        assert session.escalated_by == expected.escalated_by
        assert session.former_owner_ids == expected.former_owners
        assert session.version == expected.version, (
            f"{sid}: version {session.version}, the model says {expected.version}"
        )
        assert len(session.conversation_messages) == expected.messages
        assert len(session.steps) == expected.steps
        assert (session.pending_step is not None) == expected.open_step
        assert (session.unanswered_step is not None) == expected.pending
        linked = session.psa_link.ticket_id if session.psa_link else None
        assert linked == expected.linked_ticket

    def _is_consistent(self, session: Session) -> None:
        status = session.status.value
        if session.session_type is SessionType.CHAT:
            assert session.steps == [], f"{session.id}: a chat session has steps"
            assert session.step_count == len(session.conversation_messages), (
                f"{session.id}: step_count {session.step_count} but "
                f"{len(session.conversation_messages)} messages"
            )
            assert session.confidence_score is None
            assert session.confidence_tier is None
            for index, message in enumerate(session.conversation_messages):
                role = MessageRole.USER if index % 2 == 0 else MessageRole.ASSISTANT
                assert message.role is role, f"message {index} is from {message.role}"
        else:
            assert session.conversation_messages == [], (
                f"{session.id}: a guided session has messages"
            )
            assert session.step_count == len(session.steps), (
                f"{session.id}: step_count {session.step_count} but {len(session.steps)} steps"
            )
            assert [step.number for step in session.steps] == list(range(1, len(session.steps) + 1))
            assert all(step.response is not None for step in session.steps[:-1]), (
                "only the last step may wait for an answer"
            )
            if session.steps:
                assert session.confidence_score == session.steps[-1].confidence
            if session.confidence_score is not None:
                assert session.confidence_tier is not None
                assert session.confidence_tier.value == expected_tier(session.confidence_score)
        assert (session.paused_at is not None) == (status == "paused")
        assert (session.resolved_at is not None) == (status == "resolved")
        assert (session.escalated_at is not None) == (status == "escalated")
        assert (session.abandoned_at is not None) == (status == "abandoned")
        assert (session.resolution_summary is not None) == (status == "resolved")
        if status != "abandoned":
            assert session.abandon_reason is None
        if status == "escalated":
            assert session.escalation_reason
            assert session.escalated_by

    def _outbox_matches(self, session: Session) -> None:
        versions = self.event_versions.get(session.id, [])
        assert versions == list(range(1, session.version + 1)), (
            f"{session.id}: version {session.version} but outbox versions {versions}"
        )

    def _changed_lawfully(
        self, sid: UUID, previous: dict[str, Any], now: dict[str, Any], kind: str
    ) -> None:
        events = Counter(self.new_events.get(sid, []))
        if now["version"] == previous["version"]:
            assert now == previous, f"{sid} changed without a new version"
            return
        assert now["version"] > previous["version"]
        assert now["updated_at"] > previous["updated_at"]
        assert sum(events.values()) == now["version"] - previous["version"]
        before_status, after_status = previous["status"].value, now["status"].value
        if before_status != after_status:
            assert events[STATUS_EVENT[(before_status, after_status)]] == 1, (
                f"{sid}: {before_status} -> {after_status} with events {dict(events)}"
            )
        if before_status == after_status == ESCALATED:
            kept = {k: v for k, v in now.items() if k not in FROZEN_EXCEPT}
            assert kept == {k: v for k, v in previous.items() if k not in FROZEN_EXCEPT}, (
                f"{sid} changed while escalated"
            )
        left_escalated = before_status == ESCALATED and after_status != ESCALATED
        if left_escalated or now["user_id"] != previous["user_id"]:
            assert (before_status, after_status) == (ESCALATED, ACTIVE)
            assert self.claimed == (sid, now["user_id"]), f"{sid} left escalated without a claim"
            assert now["user_id"] != previous["escalated_by"]
        old_messages, new_messages = previous["conversation_messages"], now["conversation_messages"]
        assert new_messages[: len(old_messages)] == old_messages, "chat history was rewritten"
        added = len(new_messages) - len(old_messages)
        assert events["session.message_added"] == added
        old_steps, new_steps = previous["steps"], now["steps"]
        assert len(new_steps) >= len(old_steps)
        for old, new in zip(old_steps, new_steps, strict=False):
            if old.response is None and new.response is not None:
                assert dataclasses.replace(new, response=None, responded_at=None) == old
            else:
                assert new == old, f"{sid}: step {old.number} was rewritten"
        assert events["session.step_added"] == len(new_steps) - len(old_steps)
        if kind == CHAT:
            assert events["session.step_added"] == 0
        if kind == GUIDED:
            assert events["session.message_added"] == 0


TestSessionLifecycle = SessionLifecycleMachine.TestCase


@given(st.sampled_from([0.0, 0.399999, 0.4, 0.799999, 0.8, 1.0]) | st.floats(0.0, 1.0))
def test_the_confidence_tier_follows_the_thresholds(score: float) -> None:
    """The offline LLM never lands on 0.4 or 0.8: check the boundaries here."""
    assert tier_for(score).value == expected_tier(score)
