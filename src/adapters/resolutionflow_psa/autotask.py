"""Autotask PSA, through its REST API (``{zone}/ATServicesRest/V1.0``).

- Auth: the API user's ``UserName`` and ``Secret`` and the integration's
  ``ApiIntegrationCode`` headers, with ``Content-Type: application/json``, on the zone URL
  of the account (``https://webservices{N}.autotask.net/ATServicesRest``).
- Ticket: ``GET /V1.0/Tickets/{id}`` (``{"item": {...}}``); the company and contact names
  from ``/V1.0/Companies/{id}`` and ``/V1.0/Contacts/{id}``, the status and queue labels
  from the picklists of ``/V1.0/Tickets/entityInformation/fields``.
- Notes: ``POST /V1.0/Tickets/{id}/Notes`` with ``title``, ``description``, ``noteType``
  and ``publish``; ``GET /V1.0/Tickets/{id}/Notes`` (paged by ``nextPageUrl``) to find a
  note's marker.
- Status: ``PATCH /V1.0/Tickets`` with ``{"id", "status"}``, then the ticket is read back.

``publish`` decides who sees a note: 1 "All Autotask Users" is the customer-visible
setting (shown in the client portal), 2 "Internal Only"/"Internal Project Team" is for
internal users only. Detail and resolution notes are published to 1, internal notes to 2.
``noteType`` is a picklist of the instance whose value 1 is "Task Summary" on live tenants:
unless configured, the note type is read from ``/V1.0/TicketNotes/entityInformation/fields``
(the one labelled for notes, see `NOTE_TYPE_PREFERENCE`).

Autotask answers a request it will not accept (a bad picklist value, a description over
32,000 characters, a field the ticket's category requires) with HTTP 500 and
``{"errors": [...]}``: that is `PSARequestRejected`, never retried. Descriptions and titles
are cut to Autotask's limits (`MAX_DESCRIPTION`, `MAX_TITLE`) rather than refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Final, Self

import httpx
from pydantic import SecretStr, model_validator

from resolutionflow_core.errors import TicketNotFound
from resolutionflow_core.tickets import NoteKind, PSANote, Ticket
from resolutionflow_psa.connection import PSAConnection, Tuning
from resolutionflow_psa.errors import (
    PSAConfigurationError,
    PSANotFound,
    PSAResponseInvalid,
    PSASettingInvalid,
)
from resolutionflow_psa.http import (
    DEFAULT_TIMEOUT,
    Discovery,
    Injected,
    PSAHttpClient,
    RetryPolicy,
    TicketNote,
    TicketStatus,
    compact,
    id_of,
    json_list,
    json_object,
    require,
    text_of,
)
from resolutionflow_psa.marker import with_marker

if TYPE_CHECKING:
    from typing_extensions import Unpack

PROVIDER: Final = "autotask"
PUBLISH_ALL_AUTOTASK_USERS: Final = 1
PUBLISH_INTERNAL_ONLY: Final = 2

DEFAULT_PUBLISH: Final[Mapping[NoteKind, int]] = MappingProxyType(
    {
        NoteKind.DETAIL: PUBLISH_ALL_AUTOTASK_USERS,
        NoteKind.INTERNAL: PUBLISH_INTERNAL_ONLY,
        NoteKind.RESOLUTION: PUBLISH_ALL_AUTOTASK_USERS,
    }
)
NOTE_TYPE_PREFERENCE: Final = ("task notes", "ticket notes", "task note", "ticket note", "notes")
"""The ``noteType`` labels meant for a ticket's notes, best first; when none is there, the
first active type that is not a summary or a workflow note."""
MAX_DESCRIPTION: Final = 32_000
"""Autotask's longest note description, in characters."""
MAX_TITLE: Final = 250
"""Autotask's longest note title."""
DEFAULT_TITLES: Final[Mapping[NoteKind, str]] = MappingProxyType(
    {
        NoteKind.DETAIL: "Update",
        NoteKind.INTERNAL: "Escalation (internal)",
        NoteKind.RESOLUTION: "Resolution",
    }
)
PICKLIST_TTL: Final = 600.0
"""Seconds the picklists (statuses, queues, note types) are kept before being read again."""
PICKLIST_FIELDS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {"Tickets": ("status", "queueID"), "TicketNotes": ("noteType", "publish")}
)
"""The fields whose picklists are read, by entity."""
MAX_PAGES: Final = 50


@dataclass(frozen=True, slots=True, kw_only=True)
class AutotaskSettings:
    """One Autotask connection: an API-only user and the integration's tracking code."""

    base_url: str
    """The zone's REST root, e.g. ``https://webservices5.autotask.net/ATServicesRest``."""
    integration_code: str = field(repr=False)
    """``ApiIntegrationCode``: the tracking identifier of the integration."""
    username: str
    secret: str = field(repr=False)
    publish: Mapping[NoteKind, int] = field(default_factory=lambda: DEFAULT_PUBLISH)
    note_types: Mapping[NoteKind, int] | None = None
    """The ``noteType`` for each kind; None: read the picklist and take the notes type."""
    titles: Mapping[NoteKind, str] = field(default_factory=lambda: DEFAULT_TITLES)
    timeout: float = DEFAULT_TIMEOUT
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        require(self.base_url, "Autotask base_url")
        for name in ("integration_code", "username", "secret"):
            require(getattr(self, name), f"Autotask {name}")
        for kind in NoteKind:
            mappings = [(self.publish, "publish")]
            if self.note_types is not None:
                mappings.append((self.note_types, "noteType"))
            for mapping, what in mappings:
                value = mapping.get(kind)
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    raise PSAConfigurationError(
                        f"Autotask {what} for {kind} notes must be a picklist value (>= 1)"
                    )
            require(self.titles.get(kind), f"Autotask title for {kind} notes")

    @classmethod
    def for_zone(cls, zone: int, **settings: Any) -> AutotaskSettings:
        """Settings for zone ``N`` (``https://webservices{N}.autotask.net/ATServicesRest``)."""
        return cls(
            base_url=f"https://webservices{int(zone)}.autotask.net/ATServicesRest", **settings
        )

    @property
    def api_url(self) -> str:
        root = self.base_url.strip().rstrip("/")
        return root if root.lower().endswith("/v1.0") else f"{root}/V1.0"


class AutotaskConnection(PSAConnection):
    """An Autotask connection as an owner enters it: the zone URL, the API user, and the
    ``noteType`` of each kind of note (all three or none: none reads the picklist)."""

    PROVIDER: ClassVar[str] = PROVIDER

    base_url: str
    username: str
    integration_code: SecretStr
    secret: SecretStr
    note_type_detail: str | None = None
    note_type_internal: str | None = None
    note_type_resolution: str | None = None

    @model_validator(mode="after")
    def _note_types_all_or_none(self) -> Self:
        self.note_types()
        return self

    def note_types(self) -> dict[NoteKind, int] | None:
        """The note types named, by kind: all three, or None."""
        named = {kind: getattr(self, f"note_type_{kind}") for kind in NoteKind}
        if all(value is None for value in named.values()):
            return None
        types: dict[NoteKind, int] = {}
        for kind, value in named.items():
            if value is None or not value.isdigit():
                raise PSASettingInvalid(
                    f"note_type_{kind}",
                    "must be a noteType picklist value (a number); set all three or none",
                )
            types[kind] = int(value)
        return types

    def client(self, **tuning: Unpack[Tuning]) -> AutotaskPSA:
        options, injected = self.options(tuning)
        settings = AutotaskSettings(
            base_url=self.base_url,
            integration_code=self.integration_code.get_secret_value(),
            username=self.username,
            secret=self.secret.get_secret_value(),
            note_types=self.note_types(),
            **options,
        )
        return AutotaskPSA(settings, **injected)


class AutotaskPSA(PSAHttpClient):
    """The `PSAClient` port on Autotask, plus `list_statuses` and `list_notes`."""

    PROVIDER = PROVIDER
    VALIDATION_ERRORS_AS_500 = True

    def __init__(self, settings: AutotaskSettings, **injected: Unpack[Injected]) -> None:
        super().__init__(
            settings.api_url, retry=settings.retry, timeout=settings.timeout, **injected
        )
        self._settings = settings
        self._headers = {
            "ApiIntegrationCode": settings.integration_code,
            "UserName": settings.username,
            "Secret": settings.secret,
            "Content-Type": "application/json",
        }
        # By entity: when its picklists were read, and what they were.
        self._picklists: dict[str, tuple[float, dict[str, list[_Choice]]]] = {}

    async def _auth_headers(self) -> dict[str, str]:
        return self._headers

    # -- reading ---------------------------------------------------------------------------

    async def get_ticket(self, ticket_id: str) -> Ticket:
        number = self.ticket_number(ticket_id)
        item = await self._ticket(number)
        status_id, queue_id = id_of(item.get("status")), id_of(item.get("queueID"))
        company_id, contact_id = id_of(item.get("companyID")), id_of(item.get("contactID"))
        return Ticket(
            provider=PROVIDER,
            ticket_id=str(number),
            summary=text_of(item.get("title")) or "",
            company=await self._company_name(company_id),
            contact=await self._contact_name(contact_id),
            board=await self._label("queueID", queue_id),
            status=await self._label("status", status_id),
            extra=compact(
                {
                    "ticket_number": text_of(item.get("ticketNumber")),
                    "status_id": status_id,
                    "queue_id": queue_id,
                    "company_id": company_id,
                    "contact_id": contact_id,
                }
            ),
        )

    async def list_statuses(self) -> list[TicketStatus]:
        """The ticket status picklist."""
        choices = (await self._picklist_values()).get("status", [])
        return [TicketStatus(c.value, c.label, inactive=not c.active) for c in choices]

    async def list_notes(self, ticket_id: str) -> list[TicketNote]:
        """The ticket's notes, every page."""
        number = self.ticket_number(ticket_id)
        kinds = _unique_kinds(self._settings.publish)
        notes: list[TicketNote] = []
        target: str | httpx.URL = f"/Tickets/{number}/Notes"
        for _ in range(MAX_PAGES):
            answer = json_object(
                await self._request("GET", target, not_found=_missing(number)),
                f"autotask ticket {number} notes",
            )
            for row in json_list(answer.get("items", []), "autotask notes"):
                note_id = id_of(row.get("id")) if isinstance(row, dict) else None
                if note_id is not None:
                    publish = row.get("publish")
                    kind = kinds.get(publish) if isinstance(publish, int) else None
                    notes.append(TicketNote(note_id, str(row.get("description") or ""), kind))
            following = _next_page(answer)
            if following is None:
                break
            target = self._same_origin(following)
        return notes

    # -- writing ---------------------------------------------------------------------------

    async def _create_note(self, number: int, kind: NoteKind, text: str) -> str | None:
        note = {
            "ticketID": number,
            "title": _cut(self._settings.titles[kind], MAX_TITLE),
            "description": text,
            "noteType": await self._note_type(kind),
            "publish": self._settings.publish[kind],
        }
        answer = await self._call(
            "POST", f"/Tickets/{number}/Notes", json=note, not_found=_missing(number)
        )
        return id_of(answer.get("itemId")) if isinstance(answer, dict) else None

    def _note_text(self, note: PSANote) -> str:
        """The note with its marker, the text cut so that the whole fits Autotask's
        description limit and the marker line stays last."""
        text = with_marker(note.text, note.marker)
        if len(text) <= MAX_DESCRIPTION:
            return text
        body = note.text.rstrip()
        notice = "\n\n[… {} more characters cut: Autotask keeps " + f"{MAX_DESCRIPTION:,}]"
        keep = len(body) - (len(text) - MAX_DESCRIPTION) - len(notice.format(len(body)))
        shown = body[:keep].rstrip()
        return with_marker(shown + notice.format(len(body) - len(shown)), note.marker)

    async def discover(self) -> Discovery:
        """The zone URL, the ``noteType`` and ``publish`` picklists and the values used."""
        picklists = await self._picklist_values("TicketNotes", fresh=True)
        facts = {"api": self.base_url}
        for kind in NoteKind:
            note_type = await self._note_type(kind)
            facts[f"note_type.{kind}"] = _shown(picklists.get("noteType", []), note_type)
            publish = self._settings.publish[kind]
            facts[f"publish.{kind}"] = _shown(picklists.get("publish", []), publish)
        choices = {
            "note_types": [
                f"{c.value} {c.label}" for c in picklists.get("noteType", []) if c.active
            ],
            "publish": [f"{c.value} {c.label}" for c in picklists.get("publish", []) if c.active],
        }
        return Discovery(PROVIDER, facts, choices)

    async def _prepare_note(self, kind: NoteKind) -> None:
        await self._note_type(kind)

    async def _note_type(self, kind: NoteKind) -> int:
        """The configured ``noteType`` for ``kind``, else the instance's type for notes."""
        if self._settings.note_types is not None:
            return self._settings.note_types[kind]
        picklists = await self._picklist_values("TicketNotes")
        types = [c for c in picklists.get("noteType", []) if c.active]
        by_label = {c.label.strip().casefold(): c for c in types}
        for label in NOTE_TYPE_PREFERENCE:
            if label in by_label:
                return int(by_label[label].value)
        for choice in types:
            label = choice.label.casefold()
            if not any(word in label for word in ("summary", "workflow", "duplicate")):
                return int(choice.value)
        raise PSAConfigurationError(
            f"autotask: no ticket note type to use among {_listed(types) or 'none'}; set note_types"
        )

    async def _status_target(self, number: int, wanted: str) -> tuple[str | None, TicketStatus]:
        item = await self._ticket(number)
        target = self._status_named(number, wanted, await self.list_statuses())
        return id_of(item.get("status")), target

    async def _set_status(self, number: int, target: TicketStatus) -> None:
        update = {"id": number, "status": int(target.status_id)}
        await self._request("PATCH", "/Tickets", json=update, not_found=_missing(number))

    async def _current_status(self, number: int) -> tuple[str | None, str | None]:
        status_id = id_of((await self._ticket(number)).get("status"))
        return status_id, await self._label("status", status_id)

    # -- internals ---------------------------------------------------------------------------

    async def _ticket(self, number: int) -> dict[str, Any]:
        answer = await self._request("GET", f"/Tickets/{number}", not_found=_missing(number))
        item = json_object(answer, f"autotask ticket {number}").get("item")
        if item is None:  # Autotask answers an unknown id with {"item": null}
            raise TicketNotFound(PROVIDER, str(number))
        return json_object(item, f"autotask ticket {number}")

    async def _item(self, path: str) -> dict[str, Any] | None:
        try:
            answer = await self._request("GET", path)
        except PSANotFound:
            return None
        item = answer.get("item") if isinstance(answer, dict) else None
        return item if isinstance(item, dict) else None

    async def _company_name(self, company_id: str | None) -> str | None:
        if company_id is None:
            return None
        company = await self._item(f"/Companies/{company_id}")
        return text_of(company.get("companyName")) if company else None

    async def _contact_name(self, contact_id: str | None) -> str | None:
        if contact_id is None:
            return None
        contact = await self._item(f"/Contacts/{contact_id}")
        if not contact:
            return None
        parts = [text_of(contact.get("firstName")), text_of(contact.get("lastName"))]
        return " ".join(part for part in parts if part) or None

    async def _label(self, field_name: str, value: str | None) -> str | None:
        if value is None:
            return None
        values = (await self._picklist_values()).get(field_name, [])
        return next((choice.label for choice in values if choice.value == value), None)

    async def _picklist_values(
        self, entity: str = "Tickets", *, fresh: bool = False
    ) -> dict[str, list[_Choice]]:
        """The picklists of an entity's `PICKLIST_FIELDS`, read at most every few minutes
        (``fresh``: read now)."""
        read_at, picklists = self._picklists.get(entity, (float("-inf"), {}))
        if not fresh and self._clock() - read_at < PICKLIST_TTL:
            return picklists
        picklists = await self._read_picklists(
            f"/{entity}/entityInformation/fields", PICKLIST_FIELDS[entity]
        )
        self._picklists[entity] = (self._clock(), picklists)
        return picklists

    async def _read_picklists(self, path: str, names: tuple[str, ...]) -> dict[str, list[_Choice]]:
        """The picklists of the fields ``names`` of an entity's ``entityInformation/fields``."""
        answer = json_object(await self._request("GET", path), f"autotask {path}")
        picklists: dict[str, list[_Choice]] = {}
        for entry in json_list(answer.get("fields", []), f"autotask {path}"):
            if not isinstance(entry, dict) or entry.get("name") not in names:
                continue
            values = []
            for choice in entry.get("picklistValues") or []:
                value = id_of(choice.get("value")) if isinstance(choice, dict) else None
                label = text_of(choice.get("label")) if isinstance(choice, dict) else None
                if value is not None and label is not None:
                    values.append(_Choice(value, label, choice.get("isActive") is not False))
            picklists[str(entry["name"])] = values
        return picklists

    def _same_origin(self, url: str) -> httpx.URL:
        """A paging URL from an answer, if it stays on the configured host."""
        following = httpx.URL(url)
        base = self._base_url
        if (following.scheme, following.host, following.port) != (
            base.scheme,
            base.host,
            base.port,
        ):
            raise PSAResponseInvalid(f"autotask: refusing to follow a page on {following.host}")
        return following


@dataclass(frozen=True, slots=True)
class _Choice:
    """One value of a picklist."""

    value: str
    label: str
    active: bool


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _listed(choices: list[_Choice]) -> list[str]:
    return [f"{c.value} {c.label}" for c in choices if c.active]


def _shown(choices: list[_Choice], value: int) -> str:
    label = next((c.label for c in choices if c.value == str(value)), None)
    return f"{value} {label}" if label else str(value)


def _missing(number: int) -> Callable[[], TicketNotFound]:
    return lambda: TicketNotFound(PROVIDER, str(number))


def _next_page(answer: dict[str, Any]) -> str | None:
    details = answer.get("pageDetails")
    return text_of(details.get("nextPageUrl")) if isinstance(details, dict) else None


def _unique_kinds(publish: Mapping[NoteKind, int]) -> dict[int, NoteKind]:
    """publish value → kind, for the values only one kind uses."""
    kinds: dict[int, list[NoteKind]] = {}
    for kind, value in publish.items():
        kinds.setdefault(value, []).append(kind)
    return {value: found[0] for value, found in kinds.items() if len(found) == 1}
