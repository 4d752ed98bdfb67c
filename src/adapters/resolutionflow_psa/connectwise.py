"""ConnectWise PSA (formerly Manage), through its REST API 3.0.

- Auth: ``Authorization: Basic base64("{company}+{public_key}:{private_key}")`` (an API
  member's keys), the integration's ``clientId`` header, and the versioned
  ``Accept: application/vnd.connectwise.com+json; version=2022.1``.
- Ticket: ``GET /service/tickets/{id}``.
- Notes: ``POST /service/tickets/{id}/notes`` with ``text`` and exactly one of
  ``detailDescriptionFlag`` / ``internalAnalysisFlag`` / ``resolutionFlag``;
  ``GET /service/tickets/{id}/notes`` (paged) to find a note's marker.
- Status: a JSON Patch ``PATCH /service/tickets/{id}`` of ``/status/id``, the id found by
  name among ``GET /service/boards/{boardId}/statuses`` of the ticket's board, then the
  ticket is read back: ConnectWise can accept a status change and not make it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from resolutionflow_core.errors import TicketNotFound
from resolutionflow_core.tickets import NoteKind, Ticket
from resolutionflow_psa.errors import (
    PSAConfigurationError,
    PSANotFound,
    PSAResponseInvalid,
    UnknownStatus,
)
from resolutionflow_psa.http import (
    DEFAULT_TIMEOUT,
    Injected,
    PSAHttpClient,
    RetryPolicy,
    TicketNote,
    TicketStatus,
    compact,
    id_of,
    json_list,
    json_object,
    name_of,
    pick_status,
    require,
    status_names,
    text_of,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

PROVIDER: Final = "connectwise"
DEFAULT_API_VERSION: Final = "2022.1"
DEFAULT_CODEBASE: Final = "v4_6_release"
PAGE_SIZE: Final = 1000
"""ConnectWise's largest page."""
MAX_PAGES: Final = 50

_FLAGS: Final = {
    NoteKind.DETAIL: "detailDescriptionFlag",
    NoteKind.INTERNAL: "internalAnalysisFlag",
    NoteKind.RESOLUTION: "resolutionFlag",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectWiseSettings:
    """One ConnectWise PSA connection."""

    base_url: str
    """The REST root, e.g. ``https://api-na.myconnectwise.net/v4_6_release/apis/3.0``."""
    company: str
    """The company id members log in with."""
    public_key: str
    private_key: str = field(repr=False)
    client_id: str
    """The integration's clientId (developer.connectwise.com)."""
    api_version: str = DEFAULT_API_VERSION
    timeout: float = DEFAULT_TIMEOUT
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        require(self.base_url, "ConnectWise base_url")
        for name in ("company", "public_key", "private_key", "client_id", "api_version"):
            require(getattr(self, name), f"ConnectWise {name}")
        if ":" in self.company or ":" in self.public_key:
            raise PSAConfigurationError("ConnectWise company and public_key cannot contain ':'")

    @classmethod
    def for_site(
        cls, site: str, *, codebase: str = DEFAULT_CODEBASE, **settings: Any
    ) -> ConnectWiseSettings:
        """Settings for a site (``api-na.myconnectwise.net``, or an on-premises host)."""
        host = require(site, "ConnectWise site").removeprefix("https://").strip("/")
        return cls(base_url=f"https://{host}/{codebase.strip('/')}/apis/3.0", **settings)

    @property
    def accept(self) -> str:
        return f"application/vnd.connectwise.com+json; version={self.api_version}"

    def authorization(self) -> str:
        pair = f"{self.company}+{self.public_key}:{self.private_key}"
        return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


class ConnectWisePSA(PSAHttpClient):
    """The `PSAClient` port on ConnectWise PSA, plus `list_statuses` and `list_notes`."""

    PROVIDER = PROVIDER

    def __init__(self, settings: ConnectWiseSettings, **injected: Unpack[Injected]) -> None:
        super().__init__(
            settings.base_url, retry=settings.retry, timeout=settings.timeout, **injected
        )
        self._headers = {
            "Authorization": settings.authorization(),
            "clientId": settings.client_id,
            "Accept": settings.accept,
        }

    async def _auth_headers(self) -> dict[str, str]:
        return self._headers

    # -- reading ---------------------------------------------------------------------------

    async def get_ticket(self, ticket_id: str) -> Ticket:
        number = self.ticket_number(ticket_id)
        raw = await self._ticket(number)
        board, status = raw.get("board"), raw.get("status")
        company, contact = raw.get("company"), raw.get("contact")
        return Ticket(
            provider=PROVIDER,
            ticket_id=str(number),
            summary=text_of(raw.get("summary")) or "",
            company=name_of(company),
            contact=name_of(contact) or text_of(raw.get("contactName")),
            board=name_of(board),
            status=name_of(status),
            extra=compact(
                {
                    "board_id": _ref_id(board),
                    "status_id": _ref_id(status),
                    "company_id": _ref_id(company),
                    "company_identifier": name_of(company, "identifier"),
                    "contact_id": _ref_id(contact),
                }
            ),
        )

    async def list_statuses(self, board_id: str | int) -> list[TicketStatus]:
        """The statuses of a service board, in ConnectWise's order."""
        board = id_of(board_id)
        if board is None:
            raise PSANotFound(f"connectwise board {board_id!r} not found")
        rows = await self._pages(f"/service/boards/{board}/statuses")
        statuses = []
        for row in rows:
            status_id, name = id_of(row.get("id")), text_of(row.get("name"))
            if status_id is not None and name is not None:
                statuses.append(
                    TicketStatus(
                        status_id,
                        name,
                        closed=bool(row.get("closedStatus", False)),
                        inactive=bool(row.get("inactive", False)),
                    )
                )
        return statuses

    async def list_notes(self, ticket_id: str) -> list[TicketNote]:
        """The ticket's service notes (discussion, internal analysis, resolution)."""
        number = self.ticket_number(ticket_id)
        rows = await self._pages(f"/service/tickets/{number}/notes", not_found=_missing(number))
        notes = []
        for row in rows:
            note_id = id_of(row.get("id"))
            if note_id is not None:
                notes.append(TicketNote(note_id, str(row.get("text") or ""), _kind(row)))
        return notes

    # -- writing ---------------------------------------------------------------------------

    async def _create_note(self, number: int, kind: NoteKind, text: str) -> str | None:
        body: dict[str, Any] = {"text": text}
        body.update({flag: kind == flagged for flagged, flag in _FLAGS.items()})
        answer = await self._call(
            "POST", f"/service/tickets/{number}/notes", json=body, not_found=_missing(number)
        )
        return id_of(answer.get("id")) if isinstance(answer, dict) else None

    async def _status_target(self, number: int, wanted: str) -> tuple[str | None, TicketStatus]:
        raw = await self._ticket(number)
        board = _ref_id(raw.get("board"))
        if board is None:
            raise PSAResponseInvalid(f"connectwise ticket {number} has no board")
        statuses = await self.list_statuses(board)
        target = pick_status(statuses, wanted)
        if target is None:
            raise UnknownStatus(PROVIDER, str(number), wanted, status_names(statuses))
        return _ref_id(raw.get("status")), target

    async def _set_status(self, number: int, target: TicketStatus) -> None:
        patch = [{"op": "replace", "path": "/status/id", "value": int(target.status_id)}]
        await self._request(
            "PATCH", f"/service/tickets/{number}", json=patch, not_found=_missing(number)
        )

    async def _current_status(self, number: int) -> tuple[str | None, str | None]:
        status = (await self._ticket(number)).get("status")
        return _ref_id(status), name_of(status)

    # -- internals ---------------------------------------------------------------------------

    async def _ticket(self, number: int) -> dict[str, Any]:
        answer = await self._request(
            "GET", f"/service/tickets/{number}", not_found=_missing(number)
        )
        return json_object(answer, f"connectwise ticket {number}")

    async def _pages(
        self, path: str, *, not_found: Callable[[], TicketNotFound] | None = None
    ) -> list[dict[str, Any]]:
        """Every row of a list endpoint, page by page (``page``/``pageSize``)."""
        rows: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            answer = await self._request(
                "GET", path, params={"page": page, "pageSize": PAGE_SIZE}, not_found=not_found
            )
            batch = json_list(answer, f"connectwise {path}")
            rows.extend(row for row in batch if isinstance(row, dict))
            if len(batch) < PAGE_SIZE:
                break
        return rows


def _missing(number: int) -> Callable[[], TicketNotFound]:
    return lambda: TicketNotFound(PROVIDER, str(number))


def _ref_id(reference: Any) -> str | None:
    """The id of a reference object (``{"id": 5, "name": "New", "_info": {...}}``)."""
    return id_of(reference.get("id")) if isinstance(reference, dict) else None


def _kind(row: dict[str, Any]) -> NoteKind | None:
    flagged = [kind for kind, flag in _FLAGS.items() if row.get(flag) is True]
    return flagged[0] if len(flagged) == 1 else None
