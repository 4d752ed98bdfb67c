"""ConnectWise PSA (formerly Manage), through its REST API 3.0.

- Codebase: a site's REST root is ``https://{site}/{codebase}/apis/3.0``, and hosted and
  on-premises sites move between codebases. Settings made with ``for_site`` (no fixed
  codebase) look it up (``GET https://{site}/login/companyinfo/{company}``, no credentials)
  before the first request, and again when a request is answered 404.
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
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Final, Self

import httpx
from pydantic import SecretStr, model_validator

from resolutionflow_core.errors import TicketNotFound
from resolutionflow_core.tickets import NoteKind, Ticket
from resolutionflow_psa.connection import PSAConnection, Tuning
from resolutionflow_psa.errors import (
    PSAConfigurationError,
    PSANotFound,
    PSARequestRejected,
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
    name_of,
    require,
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
    codebase_lookup: bool = False
    """Look the site's codebase up (``/login/companyinfo/{company}``) instead of trusting
    the one in ``base_url``; ``for_site`` without a codebase turns it on."""
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
        cls, site: str, *, codebase: str | None = None, **settings: Any
    ) -> ConnectWiseSettings:
        """Settings for a site (``api-na.myconnectwise.net``, or an on-premises host).

        Without ``codebase`` the site's codebase is looked up when the adapter first
        talks to it (and again after a 404); ``v4_6_release`` until then."""
        root = require(site, "ConnectWise site").strip().rstrip("/")
        scheme = "http" if root.startswith("http://") else "https"  # http: the guard decides
        host = root.removeprefix("http://").removeprefix("https://")
        path = _codebase_path(codebase) if codebase else DEFAULT_CODEBASE
        return cls(
            base_url=f"{scheme}://{host}/{path}/apis/3.0",
            codebase_lookup=codebase is None,
            **settings,
        )

    @property
    def accept(self) -> str:
        return f"application/vnd.connectwise.com+json; version={self.api_version}"

    def authorization(self) -> str:
        pair = f"{self.company}+{self.public_key}:{self.private_key}"
        return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


class ConnectWiseConnection(PSAConnection):
    """A ConnectWise connection as an owner enters it: the site (its codebase looked up) or
    a fixed REST root, the API member's keys and the integration's clientId."""

    PROVIDER: ClassVar[str] = PROVIDER

    company: str
    public_key: str
    client_id: str
    private_key: SecretStr
    site: str | None = None
    """The site host (``api-na.myconnectwise.net``); the codebase is looked up."""
    base_url: str | None = None
    """A fixed REST root instead of ``site``."""
    codebase: str | None = None
    """A fixed codebase on ``site`` instead of the one looked up."""
    api_version: str | None = None

    @model_validator(mode="after")
    def _site_or_base_url(self) -> Self:
        if self.site is None and self.base_url is None:
            raise PSASettingInvalid(None, f"{PROVIDER} needs site or base_url")
        return self

    def client(self, **tuning: Unpack[Tuning]) -> ConnectWisePSA:
        options, injected = self.options(tuning)
        fields: dict[str, Any] = {
            "company": self.company,
            "public_key": self.public_key,
            "private_key": self.private_key.get_secret_value(),
            "client_id": self.client_id,
            **options,
        }
        if self.api_version is not None:
            fields["api_version"] = self.api_version
        if self.base_url is not None:
            settings = ConnectWiseSettings(base_url=self.base_url, **fields)
        else:  # the codebase is looked up unless the owner fixed it
            assert self.site is not None
            settings = ConnectWiseSettings.for_site(self.site, codebase=self.codebase, **fields)
        return ConnectWisePSA(settings, **injected)


class ConnectWisePSA(PSAHttpClient):
    """The `PSAClient` port on ConnectWise PSA, plus `list_statuses` and `list_notes`."""

    PROVIDER = PROVIDER

    def __init__(self, settings: ConnectWiseSettings, **injected: Unpack[Injected]) -> None:
        super().__init__(
            settings.base_url, retry=settings.retry, timeout=settings.timeout, **injected
        )
        self._settings = settings
        self._headers = {
            "Authorization": settings.authorization(),
            "clientId": settings.client_id,
            "Accept": settings.accept,
        }
        self._company_info: dict[str, str] | None = None

    async def _auth_headers(self) -> dict[str, str]:
        return self._headers

    # -- the codebase ------------------------------------------------------------------------

    async def _call(self, method: str, target: str | httpx.URL, **options: Any) -> Any:
        """One exchange under the site's codebase, looked up first when it may move, and
        looked up again (and the request repeated once) when the answer is a 404."""
        if not (self._settings.codebase_lookup and isinstance(target, str)):
            return await super()._call(method, target, **options)
        if self._company_info is None:
            await self.company_info()
        try:
            return await super()._call(method, target, **options)
        except (PSANotFound, TicketNotFound):
            before = self._base_url
            await self.company_info(again=True)
            if self._base_url == before:
                raise
            return await super()._call(method, target, **options)

    async def company_info(self, *, again: bool = False) -> dict[str, str]:
        """What ``GET https://{site}/login/companyinfo/{company}`` says about the site:
        ``codebase``, ``cloud``, ``version``, ``site`` (empty if the site does not say).
        With codebase lookup on, the adapter moves to the codebase it names."""
        if self._company_info is not None and not again:
            return self._company_info
        origin = self._base_url.copy_with(path="/", query=None)
        url = origin.copy_with(path=f"/login/companyinfo/{self._settings.company}")
        try:
            answer = await self._request("GET", url, authenticated=False)
        except (PSARequestRejected, PSAResponseInvalid):
            answer = None  # no companyinfo here (an old on-premises site): keep the URL
        info: dict[str, str] = {}
        if isinstance(answer, dict):
            codebase = text_of(answer.get("Codebase"))
            if codebase is not None and _CODEBASE.fullmatch(codebase.strip("/")):
                info["codebase"] = codebase.strip("/")
            cloud = answer.get("IsCloud")
            if isinstance(cloud, bool) or (isinstance(cloud, str) and cloud.strip()):
                info["cloud"] = "yes" if str(cloud).strip().lower() == "true" else "no"
            for key, name in (("VersionCode", "version"), ("SiteUrl", "site")):
                value = text_of(answer.get(key))
                if value is not None:
                    info[name] = value
        if self._settings.codebase_lookup and "codebase" in info:
            self._base_url = origin.copy_with(path=f"/{info['codebase']}/apis/3.0")
        self._company_info = info
        return info

    async def discover(self) -> Discovery:
        """The site's codebase (and whether the URL follows it), cloud or not, its version."""
        info = await self.company_info(again=True)
        used = self._base_url.path.strip("/").split("/")[0]
        facts = {"api": self.base_url, "codebase": used}
        if self._settings.codebase_lookup:
            facts["codebase_from"] = "companyinfo" if "codebase" in info else "default"
        else:
            facts["codebase_from"] = "configured"
            if info.get("codebase", used) != used:
                facts["codebase_warning"] = (
                    f"the site is on {info['codebase']}, the configured URL uses {used}"
                )
        facts.update({key: value for key, value in info.items() if key != "codebase"})
        facts["api_version"] = self._settings.api_version
        return Discovery(PROVIDER, facts, {})

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
        target = self._status_named(number, wanted, await self.list_statuses(board))
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


_CODEBASE: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}")
"""A codebase (``v2025_1``): one path segment, nothing that could leave it."""


def _codebase_path(codebase: str) -> str:
    segment = codebase.strip().strip("/")
    if not _CODEBASE.fullmatch(segment):
        raise PSAConfigurationError(f"ConnectWise codebase {codebase!r} is not a codebase name")
    return segment


def _missing(number: int) -> Callable[[], TicketNotFound]:
    return lambda: TicketNotFound(PROVIDER, str(number))


def _ref_id(reference: Any) -> str | None:
    """The id of a reference object (``{"id": 5, "name": "New", "_info": {...}}``)."""
    return id_of(reference.get("id")) if isinstance(reference, dict) else None


def _kind(row: dict[str, Any]) -> NoteKind | None:
    flagged = [kind for kind, flag in _FLAGS.items() if row.get(flag) is True]
    return flagged[0] if len(flagged) == 1 else None
