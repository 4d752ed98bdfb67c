"""HaloPSA, through its REST API (resource server ``{base_url}/api``).

- Auth: OAuth2 client credentials. The authorisation server is discovered: ``GET
  /api/authinfo`` gives its ``auth_url`` (and the tenant) for hosted and on-premises
  instances; ``{base_url}/auth`` only when the instance does not say. ``POST
  {auth_url}/token`` (``?tenant=`` for hosted Halo) with the form
  ``grant_type=client_credentials&client_id&client_secret&scope=all``; the bearer token is
  kept until shortly before ``expires_in`` and renewed once when the API answers 401.
- Ticket: ``GET /api/Tickets/{id}``; status names from ``GET /api/Status``.
- Notes are actions: ``POST /api/Actions`` with an array body
  ``[{"ticket_id", "note", "outcome", "hiddenfromuser"}]`` (internal notes hidden from the
  end user). Outcomes are per instance (``GET /api/Outcome``): unless configured, each
  kind's is chosen among the instance's (`OUTCOME_PREFERENCE`). ``GET /api/Actions`` is
  read page by page (``pageinate``, ``page_size``, ``page_no``) to find a note's marker.
- Status: ``POST /api/Tickets`` with ``[{"id", "status_id"}]``, then the ticket is read back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Final

import httpx
from pydantic import SecretStr

from resolutionflow_core.errors import TicketNotFound
from resolutionflow_core.tickets import NoteKind, Ticket
from resolutionflow_psa.connection import PSAConnection, Tuning
from resolutionflow_psa.errors import (
    PSAAuthenticationFailed,
    PSAConfigurationError,
    PSARequestRejected,
    PSAResponseInvalid,
    PSAUnavailable,
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

if TYPE_CHECKING:
    from typing_extensions import Unpack

PROVIDER: Final = "halopsa"

OUTCOME_PREFERENCE: Final[Mapping[NoteKind, tuple[str, ...]]] = MappingProxyType(
    {
        NoteKind.DETAIL: ("Note", "Public Note", "Update", "Comment"),
        NoteKind.INTERNAL: ("Private Note", "Internal Note", "Note"),
        NoteKind.RESOLUTION: ("Resolution", "Public Note", "Note"),
    }
)
"""The outcomes chosen, best first, for each kind of note when none is configured; Halo's
outcomes differ between instances (public integrations use Private Note / Public Note)."""
PAGE_SIZE: Final = 100
MAX_PAGES: Final = 50


@dataclass(frozen=True, slots=True, kw_only=True)
class HaloPSASettings:
    """One HaloPSA connection (Configuration > Integrations > Halo API)."""

    base_url: str
    """The resource server, e.g. ``https://acme.halopsa.com`` (the API is under ``/api``)."""
    client_id: str
    client_secret: str = field(repr=False)
    auth_url: str | None = None
    """The authorisation server; ``{base_url}/auth`` when not set."""
    tenant: str | None = None
    """Hosted Halo's tenant name, sent as ``?tenant=`` to the token endpoint."""
    scope: str = "all"
    outcomes: Mapping[NoteKind, str] = field(default_factory=dict)
    """The action outcome for each kind of note; a kind left out gets one of the
    instance's outcomes (`OUTCOME_PREFERENCE`)."""
    token_refresh_margin: float = 60.0
    """Seconds before the token's expiry when it is renewed."""
    timeout: float = DEFAULT_TIMEOUT
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        require(self.base_url, "HaloPSA base_url")
        require(self.client_id, "HaloPSA client_id")
        require(self.client_secret, "HaloPSA client_secret")
        require(self.scope, "HaloPSA scope")
        for kind, outcome in self.outcomes.items():
            require(outcome, f"HaloPSA outcome for {kind} notes")
        if not self.token_refresh_margin >= 0:
            raise PSAConfigurationError("HaloPSA token_refresh_margin must be >= 0 seconds")

    @property
    def api_url(self) -> str:
        root = self.base_url.strip().rstrip("/")
        return root if root.lower().endswith("/api") else f"{root}/api"

    @property
    def default_auth_url(self) -> str:
        return f"{self.base_url.strip().rstrip('/').removesuffix('/api')}/auth"

    @property
    def token_url(self) -> str:
        return f"{(self.auth_url or self.default_auth_url).strip().rstrip('/')}/token"


class HaloPSAConnection(PSAConnection):
    """A HaloPSA connection as an owner enters it. Saving it contacts the instance
    (`settle`): the outcomes named are checked, those not named chosen, and all three are
    stored with the connection."""

    PROVIDER: ClassVar[str] = PROVIDER

    base_url: str
    client_id: str
    client_secret: SecretStr
    auth_url: str | None = None
    tenant: str | None = None
    outcome_detail: str | None = None
    outcome_internal: str | None = None
    outcome_resolution: str | None = None

    def outcomes(self) -> dict[NoteKind, str]:
        """The outcomes named (``outcome_detail``...), by kind of note."""
        named = {kind: getattr(self, f"outcome_{kind}") for kind in NoteKind}
        return {kind: outcome for kind, outcome in named.items() if outcome is not None}

    def client(self, **tuning: Unpack[Tuning]) -> HaloPSA:
        options, injected = self.options(tuning)
        settings = HaloPSASettings(
            base_url=self.base_url,
            client_id=self.client_id,
            client_secret=self.client_secret.get_secret_value(),
            auth_url=self.auth_url,
            tenant=self.tenant,
            outcomes=self.outcomes(),
            **options,
        )
        return HaloPSA(settings, **injected)

    async def settle(self, client: PSAHttpClient) -> dict[str, str]:
        """The outcomes the notes will use, checked against the instance (or chosen)."""
        assert isinstance(client, HaloPSA)
        chosen = await client.outcomes()
        return {f"outcome_{kind}": outcome for kind, outcome in chosen.items()}


class HaloPSA(PSAHttpClient):
    """The `PSAClient` port on HaloPSA, plus `list_statuses` and `list_notes`."""

    PROVIDER = PROVIDER

    def __init__(self, settings: HaloPSASettings, **injected: Unpack[Injected]) -> None:
        super().__init__(
            settings.api_url, retry=settings.retry, timeout=settings.timeout, **injected
        )
        self._settings = settings
        self._token_url: httpx.URL | None = None
        self._auth_source = "configured"
        self._tenant = settings.tenant
        if settings.auth_url:
            self._token_url = self._with_tenant(self._guard.check_url(settings.token_url))
        self._outcomes: dict[NoteKind, str | PSAConfigurationError] | None = None
        self._available_outcomes: list[str] = []
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()

    # -- auth ------------------------------------------------------------------------------

    async def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self._access_token()}"}

    async def _renew_credentials(self) -> bool:
        self._token = None
        return True

    def _with_tenant(self, url: httpx.URL) -> httpx.URL:
        return url.copy_merge_params({"tenant": self._tenant}) if self._tenant else url

    async def token_url(self) -> httpx.URL:
        """The token endpoint: the configured auth server, else the one ``GET
        /api/authinfo`` names, else ``{base_url}/auth``; with the tenant for hosted Halo."""
        if self._token_url is not None:
            return self._token_url
        auth_url, self._auth_source = self._settings.default_auth_url, "default"
        try:
            answer = await self._request("GET", "/authinfo", authenticated=False)
        except (PSARequestRejected, PSAResponseInvalid):
            answer = None  # an instance without authinfo: the common case applies
        except PSAUnavailable as error:
            error.maybe_written = False
            raise
        if isinstance(answer, dict):
            found = next(
                (text_of(answer.get(key)) for key in _AUTH_URL_KEYS if text_of(answer.get(key))),
                None,
            )
            if found is not None:
                auth_url, self._auth_source = found, "authinfo"
            tenant = next(
                (text_of(answer.get(key)) for key in _TENANT_KEYS if text_of(answer.get(key))),
                None,
            )
            if self._tenant is None and tenant is not None:
                self._tenant = tenant
        token_url = self._guard.check_url(f"{auth_url.strip().rstrip('/')}/token")
        self._token_url = self._with_tenant(token_url)
        return self._token_url

    async def _access_token(self) -> str:
        async with self._token_lock:
            if self._token is not None and self._clock() < self._token_expires:
                return self._token
            token_url = await self.token_url()
            form = {
                "grant_type": "client_credentials",
                "client_id": self._settings.client_id,
                "client_secret": self._settings.client_secret,
                "scope": self._settings.scope,
            }
            try:
                # One exchange: the request that needs the token is the one retried.
                answer = await self._call("POST", token_url, data=form, authenticated=False)
            except PSAUnavailable as error:
                error.maybe_written = False  # asking for a token writes nothing to a ticket
                raise
            except PSARequestRejected as error:  # OAuth: 400 invalid_client / invalid_scope
                raise PSAAuthenticationFailed(
                    f"HaloPSA refused the client credentials: {error}",
                    status_code=error.status_code,
                ) from None
            token = json_object(answer, "halopsa token")
            access = text_of(token.get("access_token"))
            if access is None:
                raise PSAResponseInvalid("halopsa token: the answer has no access_token")
            lifetime = token.get("expires_in")
            seconds = float(lifetime) if isinstance(lifetime, int | float) else 3600.0
            margin = min(self._settings.token_refresh_margin, seconds / 2)
            self._token = access
            self._token_expires = self._clock() + seconds - margin
            return access

    # -- reading ---------------------------------------------------------------------------

    async def get_ticket(self, ticket_id: str) -> Ticket:
        number = self.ticket_number(ticket_id)
        raw = await self._ticket(number)
        status_id = id_of(raw.get("status_id"))
        status = None
        if status_id is not None:
            known = {s.status_id: s.name for s in await self.list_statuses()}
            status = known.get(status_id)
        return Ticket(
            provider=PROVIDER,
            ticket_id=str(number),
            summary=text_of(raw.get("summary")) or "",
            company=text_of(raw.get("client_name")),
            contact=text_of(raw.get("user_name")),
            board=text_of(raw.get("team")),
            status=status,
            extra=compact(
                {
                    "status_id": status_id,
                    "client_id": id_of(raw.get("client_id")),
                    "site_id": id_of(raw.get("site_id")),
                    "site_name": text_of(raw.get("site_name")),
                    "user_id": id_of(raw.get("user_id")),
                    "team_id": id_of(raw.get("team_id")),
                    "tickettype_id": id_of(raw.get("tickettype_id")),
                }
            ),
        )

    async def list_statuses(self) -> list[TicketStatus]:
        """The instance's ticket statuses."""
        answer = await self._request("GET", "/Status")
        rows = answer.get("statuses", answer) if isinstance(answer, dict) else answer
        statuses = []
        for row in json_list(rows, "halopsa statuses"):
            if not isinstance(row, dict):
                continue
            status_id, name = id_of(row.get("id")), text_of(row.get("name"))
            if status_id is not None and name is not None:
                statuses.append(TicketStatus(status_id, name))
        return statuses

    async def list_notes(self, ticket_id: str) -> list[TicketNote]:
        """The ticket's actions, every page, as notes (``note``, or ``note_html`` when that
        is all)."""
        number = self.ticket_number(ticket_id)
        kinds = {outcome.casefold(): kind for kind, outcome in self._known_outcomes().items()}
        notes: list[TicketNote] = []
        seen = 0
        for page in range(1, MAX_PAGES + 1):
            answer = await self._request(
                "GET",
                "/Actions",
                params={
                    "ticket_id": number,
                    "pageinate": "true",
                    "page_size": PAGE_SIZE,
                    "page_no": page,
                },
                not_found=_missing(number),
            )
            rows = json_list(
                answer.get("actions", []) if isinstance(answer, dict) else answer,
                "halopsa actions",
            )
            seen += len(rows)
            for row in rows:
                note_id = id_of(row.get("id")) if isinstance(row, dict) else None
                if note_id is None:
                    continue
                text = str(row.get("note") or row.get("note_html") or "")
                outcome = text_of(row.get("outcome"))
                notes.append(TicketNote(note_id, text, kinds.get((outcome or "").casefold())))
            total = answer.get("record_count") if isinstance(answer, dict) else None
            if len(rows) < PAGE_SIZE or (isinstance(total, int) and seen >= total):
                break
        return notes

    async def list_outcomes(self) -> list[str]:
        """The names of the instance's action outcomes (``GET /api/Outcome``)."""
        answer = await self._request("GET", "/Outcome")
        rows = answer.get("outcomes", answer) if isinstance(answer, dict) else answer
        names: list[str] = []
        for row in json_list(rows, "halopsa outcomes"):
            if not isinstance(row, dict):
                continue
            name = next((text_of(row.get(k)) for k in _OUTCOME_KEYS if text_of(row.get(k))), None)
            if name is not None and name not in names:
                names.append(name)
        return names

    async def outcomes(self) -> dict[NoteKind, str]:
        """The outcome each kind of note is posted with: the configured ones, checked
        against the instance's, and for the others the instance's best match. An outcome
        the instance does not have raises `PSAConfigurationError` naming those it has."""
        return {kind: await self.outcome(kind) for kind in NoteKind}

    async def outcome(self, kind: NoteKind) -> str:
        """The outcome notes of ``kind`` are posted with (see `outcomes`); only this kind's
        must exist, so one missing outcome does not stop the other kinds of notes."""
        if self._outcomes is None:
            self._outcomes = await self._choose_outcomes()
        chosen = self._outcomes[kind]
        if isinstance(chosen, PSAConfigurationError):
            raise PSAConfigurationError(str(chosen))
        return chosen

    async def _choose_outcomes(self) -> dict[NoteKind, str | PSAConfigurationError]:
        available = self._available_outcomes = await self.list_outcomes()
        by_name = {name.casefold(): name for name in available}
        listed = ", ".join(available) or "none"
        chosen: dict[NoteKind, str | PSAConfigurationError] = {}
        for kind in NoteKind:
            configured = self._settings.outcomes.get(kind)
            if configured is not None:
                key = configured.strip().casefold()
                chosen[kind] = by_name.get(key) or PSAConfigurationError(
                    f"HaloPSA has no outcome {configured!r} for {kind} notes (it has: {listed})"
                )
                continue
            preferred = [p.casefold() for p in OUTCOME_PREFERENCE[kind]]
            match = next((by_name[p] for p in preferred if p in by_name), None)
            chosen[kind] = match or PSAConfigurationError(
                f"HaloPSA: choose the outcome for {kind} notes among {listed} "
                f"(none of {', '.join(OUTCOME_PREFERENCE[kind])} exists)"
            )
        return chosen

    async def _prepare_note(self, kind: NoteKind) -> None:
        await self.outcome(kind)

    def _known_outcomes(self) -> Mapping[NoteKind, str]:
        if self._outcomes is None:
            return self._settings.outcomes
        return {k: v for k, v in self._outcomes.items() if isinstance(v, str)}

    async def discover(self) -> Discovery:
        """The authorisation server (and how it was found), the tenant, and the outcomes:
        those the instance has and those each kind of note is posted with."""
        token_url = await self.token_url()
        await self._access_token()  # proves the credentials against that server
        self._outcomes = None  # read afresh: the instance may have changed since
        outcomes = await self.outcomes()
        facts = {
            "api": self.base_url,
            "auth_server": str(token_url.copy_with(query=None)).removesuffix("/token"),
            "auth_server_from": self._auth_source,
        }
        if self._tenant:
            facts["tenant"] = self._tenant
        facts.update({f"outcome.{kind}": outcome for kind, outcome in outcomes.items()})
        return Discovery(PROVIDER, facts, {"outcomes": list(self._available_outcomes)})

    # -- writing ---------------------------------------------------------------------------

    async def _create_note(self, number: int, kind: NoteKind, text: str) -> str | None:
        action = {
            "ticket_id": number,
            "note": text,
            "outcome": await self.outcome(kind),
            "hiddenfromuser": kind == NoteKind.INTERNAL,
        }
        answer = await self._call("POST", "/Actions", json=[action], not_found=_missing(number))
        created = answer[0] if isinstance(answer, list) and answer else answer
        return id_of(created.get("id")) if isinstance(created, dict) else None

    async def _status_target(self, number: int, wanted: str) -> tuple[str | None, TicketStatus]:
        raw = await self._ticket(number)
        target = self._status_named(number, wanted, await self.list_statuses())
        return id_of(raw.get("status_id")), target

    async def _set_status(self, number: int, target: TicketStatus) -> None:
        update = [{"id": number, "status_id": int(target.status_id)}]
        await self._request("POST", "/Tickets", json=update, not_found=_missing(number))

    async def _current_status(self, number: int) -> tuple[str | None, str | None]:
        return id_of((await self._ticket(number)).get("status_id")), None

    async def _ticket(self, number: int) -> dict[str, Any]:
        answer = await self._request("GET", f"/Tickets/{number}", not_found=_missing(number))
        if answer is None:
            raise TicketNotFound(PROVIDER, str(number))
        return json_object(answer, f"halopsa ticket {number}")


_AUTH_URL_KEYS: Final = ("auth_url", "authorisation_server", "auth_server", "authserver")
_TENANT_KEYS: Final = ("tenant", "tenant_name", "tenantname")
_OUTCOME_KEYS: Final = ("outcome", "name", "buttonname")


def _missing(number: int) -> Callable[[], TicketNotFound]:
    return lambda: TicketNotFound(PROVIDER, str(number))
