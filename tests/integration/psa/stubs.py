"""Stubs of the three PSAs' REST APIs, each speaking its wire format over `StubServer`.

They keep tickets, notes and statuses in memory, check credentials the way the PSA does,
validate the payloads the adapters send (refusing what the PSA would refuse) and can be
told to accept a status change without making it (``ignore_status_changes``), as
ConnectWise sometimes does.
"""

from __future__ import annotations

import base64
import copy
import itertools
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from tests.integration.psa.stub import Answer, PSAStub, Recorded, refuse

# -- ConnectWise PSA ---------------------------------------------------------------------------

CW_PREFIX = "/v4_6_release/apis/3.0"
CW_ACCEPT = "application/vnd.connectwise.com+json; version=2022.1"
CW_FLAGS = ("detailDescriptionFlag", "internalAnalysisFlag", "resolutionFlag")
CW_CREDENTIALS: Mapping[str, str] = MappingProxyType(
    {
        "company": "acme",
        "public_key": "pub-key",
        "private_key": "priv-key",
        "client_id": "3c7a1f5e-client",
    }
)
"""The company and API member keys the stub accepts unless it is given others; the tests'
adapter settings use them too."""


def _info(kind: str, number: int) -> dict[str, str]:
    return {f"{kind}_href": f"https://api-na.myconnectwise.net{CW_PREFIX}/{kind}/{number}"}


class ConnectWiseStub(PSAStub):
    """``/service/tickets``, their notes and the boards' statuses."""

    def __init__(self, *, credentials: Mapping[str, str] = CW_CREDENTIALS) -> None:
        super().__init__()
        member = f"{credentials['company']}+{credentials['public_key']}"
        self.expected_auth = "Basic " + base64.b64encode(
            f"{member}:{credentials['private_key']}".encode()
        ).decode("ascii")
        self.client_id = credentials["client_id"]
        self.ignore_status_changes = False
        self.boards: dict[int, list[dict[str, Any]]] = {
            1: [
                {"id": 11, "name": "New", "boardId": 1, "inactive": False, "closedStatus": False},
                {"id": 12, "name": "In Progress", "boardId": 1, "inactive": False},
                {"id": 13, "name": "Waiting on Client", "boardId": 1, "inactive": False},
                {
                    "id": 19,
                    "name": ">Closed",
                    "boardId": 1,
                    "inactive": False,
                    "closedStatus": True,
                },
            ]
        }
        self.tickets: dict[int, dict[str, Any]] = {
            4711: {
                "id": 4711,
                "summary": "VPN drops every ten minutes",
                "recordType": "ServiceTicket",
                "board": {"id": 1, "name": "Service Desk", "_info": _info("boards", 1)},
                "status": {"id": 11, "name": "New", "_info": {}},
                "company": {
                    "id": 250,
                    "identifier": "Contoso",
                    "name": "Contoso Ltd",
                    "_info": _info("companies", 250),
                },
                "contact": {"id": 31, "name": "Jane Doe", "_info": _info("contacts", 31)},
                "priority": {"id": 4, "name": "Priority 3 - Normal Response"},
                "_info": {"lastUpdated": "2026-11-02T09:00:00Z"},
            }
        }
        self.notes: dict[int, list[dict[str, Any]]] = {4711: []}
        self._ids = itertools.count(9001)
        self.company = credentials["company"]
        self.codebase = CW_PREFIX.split("/")[1]
        """The codebase the site is on now; hosted and on-premises sites move."""
        self.is_cloud: Any = "True"

    def _company_info(self, company: str) -> Answer:
        """``/login/companyinfo/{company}``: the site's codebase, with a trailing slash."""
        if company.lower() != self.company.lower():
            raise refuse(404, {"message": "company not found"})
        return Answer(
            200,
            {
                "CompanyName": "Acme IT",
                "Codebase": f"{self.codebase}/",
                "VersionCode": "v2025.1",
                "VersionNumber": "v4.6.90210",
                "CompanyID": self.company,
                "IsCloud": self.is_cloud,
                "SiteUrl": "na.myconnectwise.net",
            },
        )

    def authenticate(self, request: Recorded) -> Answer | None:
        if request.path.startswith("/login/companyinfo/"):
            return None  # public: integrations read the codebase before they log in
        if request.headers.get("authorization") != self.expected_auth:
            return Answer(401, {"code": "Unauthorized", "message": "Invalid credentials"})
        if request.headers.get("clientid") != self.client_id:
            return Answer(401, {"code": "Unauthorized", "message": "clientId is required"})
        return None

    def handle(self, request: Recorded) -> Answer:
        if request.path.startswith("/login/companyinfo/"):
            return self._company_info(request.path.removeprefix("/login/companyinfo/"))
        prefix = f"/{self.codebase}/apis/3.0"
        if not request.path.startswith(prefix + "/"):
            # A codebase the site is no longer on (or never was): ConnectWise answers 404.
            raise refuse(404, {"code": "NotFound", "message": "The resource cannot be found."})
        path = request.path.removeprefix(prefix)
        if match := re.fullmatch(r"/service/tickets/(\d+)", path):
            ticket = self._ticket(int(match[1]))
            if request.method == "GET":
                return Answer(200, ticket)
            if request.method == "PATCH":
                return Answer(200, self._patch(ticket, request.body))
        if match := re.fullmatch(r"/service/tickets/(\d+)/notes", path):
            number = int(match[1])
            self._ticket(number)
            if request.method == "GET":
                return Answer(200, _page(self.notes[number], request.query))
            if request.method == "POST":
                return Answer(201, self._add_note(number, request.body))
        match = re.fullmatch(r"/service/boards/(\d+)/statuses", path)
        if match and request.method == "GET":
            statuses = self.boards.get(int(match[1]))
            if statuses is None:
                raise refuse(404, {"code": "NotFound", "message": "Board not found"})
            return Answer(200, _page(statuses, request.query))
        raise refuse(404, {"code": "NotFound", "message": f"no route {request.path}"})

    def _ticket(self, number: int) -> dict[str, Any]:
        if number not in self.tickets:
            raise refuse(
                404, {"code": "NotFound", "message": f"Service Ticket with id {number} not found"}
            )
        return self.tickets[number]

    def _patch(self, ticket: dict[str, Any], body: Any) -> dict[str, Any]:
        if not isinstance(body, list) or not body:
            raise refuse(400, {"code": "InvalidObject", "message": "Expected a JSON Patch array"})
        for op in body:
            if op.get("op") != "replace" or op.get("path") not in ("/status/id", "status/id"):
                raise refuse(400, {"code": "InvalidObject", "message": f"unsupported {op}"})
            status = next(
                (s for s in self.boards[ticket["board"]["id"]] if s["id"] == op.get("value")),
                None,
            )
            if status is None:
                raise refuse(400, {"code": "InvalidObject", "message": "status not on board"})
            if not self.ignore_status_changes:
                ticket["status"] = {"id": status["id"], "name": status["name"], "_info": {}}
        return copy.deepcopy(ticket)

    def _add_note(self, number: int, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            raise refuse(400, {"code": "InvalidObject", "message": "text is required"})
        flags = [flag for flag in CW_FLAGS if body.get(flag) is True]
        if len(flags) != 1:
            raise refuse(400, {"code": "InvalidObject", "message": "set exactly one flag"})
        note = {
            "id": next(self._ids),
            "ticketId": number,
            "text": body["text"],
            **{flag: body.get(flag, False) for flag in CW_FLAGS},
            "internalFlag": False,
            "externalFlag": False,
            "dateCreated": "2026-11-02T09:30:00Z",
            "createdBy": "acme-api",
            "_info": {"lastUpdated": "2026-11-02T09:30:00Z"},
        }
        self.notes[number].append(note)
        return note


def _page(rows: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
    """ConnectWise paging: ``page`` from 1, ``pageSize`` (default 25, at most 1000)."""
    page = int(query.get("page", "1"))
    size = min(int(query.get("pageSize", "25")), 1000)
    return rows[(page - 1) * size : page * size]


# -- HaloPSA -------------------------------------------------------------------------------------


HALO_CREDENTIALS: Mapping[str, str] = MappingProxyType(
    {"client_id": "halo-client", "client_secret": "halo-secret", "tenant": "acme"}
)
"""The client credentials (and tenant) the stub accepts unless it is given others."""


class HaloStub(PSAStub):
    """``/auth/token`` (client credentials) and ``/api`` tickets, actions, statuses and
    outcomes; ``/api/authinfo`` names the authorisation server (``auth_path``, which an
    instance may move), the actions list is paged (``pageinate``/``page_size``/``page_no``;
    without them Halo answers only the first ``unpaged_count``), and an action with an
    outcome the instance does not have is refused as Halo does."""

    def __init__(
        self, *, credentials: Mapping[str, str] = HALO_CREDENTIALS, expires_in: int = 3600
    ) -> None:
        super().__init__()
        self.client_id = credentials["client_id"]
        self.client_secret = credentials["client_secret"]
        self.tenant: str | None = credentials["tenant"]
        self.expires_in = expires_in
        self.ignore_status_changes = False
        self.valid_tokens: set[str] = set()
        self.issued: list[str] = []
        self.statuses = [
            {"id": 1, "name": "New", "type": 0},
            {"id": 2, "name": "In Progress", "type": 0},
            {"id": 4, "name": "On Hold", "type": 0},
            {"id": 9, "name": "Closed", "type": 1},
        ]
        self.tickets: dict[int, dict[str, Any]] = {
            1234: {
                "id": 1234,
                "summary": "Outlook cannot connect to Exchange",
                "details": "Since this morning",
                "client_id": 12,
                "client_name": "Contoso Ltd",
                "site_id": 18,
                "site_name": "Head Office",
                "user_id": 77,
                "user_name": "Jane Doe",
                "team": "1st Line Support",
                "status_id": 1,
                "tickettype_id": 1,
            }
        }
        self.actions: list[dict[str, Any]] = []
        self._ids = itertools.count(500)
        self.auth_path = "/auth"
        self.authinfo = True
        # Outcomes are per instance; many have no "Note" or "Resolution".
        self.outcomes = [
            {"id": 1, "outcome": "Private Note", "hidefromuser": True},
            {"id": 2, "outcome": "Public Note", "hidefromuser": False},
            {"id": 3, "outcome": "Email User", "hidefromuser": False},
            {"id": 4, "outcome": "Phone Call", "hidefromuser": False},
        ]
        self.unpaged_count = 50

    def revoke_tokens(self) -> None:
        """Every token issued so far stops working (as after expiry on the server)."""
        self.valid_tokens.clear()

    def authenticate(self, request: Recorded) -> Answer | None:
        if request.path in (f"{self.auth_path}/token", "/api/authinfo"):
            return None
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.valid_tokens:
            return Answer(401, {"message": "Unauthorized"})
        return None

    def handle(self, request: Recorded) -> Answer:
        path = request.path
        if path == f"{self.auth_path}/token" and request.method == "POST":
            return self._token(request)
        if path == "/api/authinfo" and request.method == "GET" and self.authinfo:
            host = request.headers.get("host", "127.0.0.1")
            return Answer(
                200,
                {
                    "auth_url": f"http://{host}{self.auth_path}",
                    "tenant": self.tenant,
                    "resource_server": f"http://{host}/api",
                },
            )
        if path == "/api/Outcome" and request.method == "GET":
            return Answer(200, copy.deepcopy(self.outcomes))
        match = re.fullmatch(r"/api/Tickets/(\d+)", path)
        if match and request.method == "GET":
            return Answer(200, copy.deepcopy(self._ticket(int(match[1]))))
        if path == "/api/Tickets" and request.method == "POST":
            return Answer(201, self._update_tickets(request.body))
        if path == "/api/Status" and request.method == "GET":
            return Answer(200, self.statuses)
        if path == "/api/Actions" and request.method == "POST":
            return Answer(201, self._add_actions(request.body))
        if path == "/api/Actions" and request.method == "GET":
            number = int(request.query.get("ticket_id", "0"))
            self._ticket(number)
            actions = [a for a in self.actions if a["ticket_id"] == number]
            if request.query.get("pageinate") != "true":
                return Answer(
                    200, {"record_count": len(actions), "actions": actions[: self.unpaged_count]}
                )
            size = min(int(request.query.get("page_size", "50")), 100)
            page = int(request.query.get("page_no", "1"))
            return Answer(
                200,
                {
                    "page_no": page,
                    "page_size": size,
                    "record_count": len(actions),
                    "actions": actions[(page - 1) * size : page * size],
                },
            )
        raise refuse(404, {"message": f"no route {path}"})

    def _token(self, request: Recorded) -> Answer:
        form = request.body if isinstance(request.body, dict) else {}
        if self.tenant is not None and request.query.get("tenant") != self.tenant:
            return Answer(400, {"error": "invalid_request", "error_description": "tenant"})
        if form.get("grant_type") != "client_credentials":
            return Answer(400, {"error": "unsupported_grant_type"})
        if (form.get("client_id"), form.get("client_secret")) != (
            self.client_id,
            self.client_secret,
        ):
            return Answer(400, {"error": "invalid_client"})
        if form.get("scope") != "all":
            return Answer(400, {"error": "invalid_scope"})
        token = f"halo-token-{len(self.issued) + 1}"
        self.issued.append(token)
        self.valid_tokens.add(token)
        return Answer(
            200,
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": self.expires_in,
                "scope": "all",
            },
        )

    def _ticket(self, number: int) -> dict[str, Any]:
        if number not in self.tickets:
            raise refuse(404, {"message": f"Ticket {number} not found"})
        return self.tickets[number]

    def _update_tickets(self, body: Any) -> Any:
        if not isinstance(body, list) or len(body) != 1 or not isinstance(body[0], dict):
            raise refuse(400, {"message": "expected an array of tickets"})
        update = body[0]
        ticket = self._ticket(int(update.get("id", 0)))
        if "status_id" in update:
            if update["status_id"] not in {s["id"] for s in self.statuses}:
                raise refuse(400, {"message": "invalid status"})
            if not self.ignore_status_changes:
                ticket["status_id"] = update["status_id"]
        return copy.deepcopy(ticket)

    def _add_actions(self, body: Any) -> Any:
        if not isinstance(body, list) or len(body) != 1 or not isinstance(body[0], dict):
            raise refuse(400, {"message": "expected an array of actions"})
        new = body[0]
        if not isinstance(new.get("ticket_id"), int) or not isinstance(new.get("note"), str):
            raise refuse(400, {"message": "ticket_id and note are required"})
        if not isinstance(new.get("hiddenfromuser"), bool) or not new.get("outcome"):
            raise refuse(400, {"message": "outcome and hiddenfromuser are required"})
        if new["outcome"] not in {o["outcome"] for o in self.outcomes}:
            raise refuse(400, {"message": "An Outcome must be entered"})
        self._ticket(new["ticket_id"])
        action = {
            "id": next(self._ids),
            "ticket_id": new["ticket_id"],
            "outcome": new["outcome"],
            "note": new["note"],
            "hiddenfromuser": new["hiddenfromuser"],
            "who": "API",
            "datetime": "2026-11-02T09:30:00",
        }
        self.actions.append(action)
        return action


# -- Autotask ------------------------------------------------------------------------------------

AT_PREFIX = "/ATServicesRest/V1.0"
AT_CREDENTIALS: Mapping[str, str] = MappingProxyType(
    {
        "integration_code": "AT-INTEGRATION-CODE",
        "username": "api-user@acme.example",
        "secret": "at-secret",
    }
)
"""The API user the stub accepts unless it is given another."""


class AutotaskStub(PSAStub):
    """``/V1.0/Tickets`` with their notes, companies, contacts and the ticket picklists."""

    def __init__(
        self, *, credentials: Mapping[str, str] = AT_CREDENTIALS, notes_page_size: int = 500
    ) -> None:
        super().__init__()
        self.credentials = {
            "apiintegrationcode": credentials["integration_code"],
            "username": credentials["username"],
            "secret": credentials["secret"],
        }
        self.notes_page_size = notes_page_size
        self.ignore_status_changes = False
        self.statuses = [
            {"value": "1", "label": "New", "isActive": True, "isSystem": True},
            {"value": "5", "label": "Complete", "isActive": True, "isSystem": True},
            {"value": "8", "label": "In Progress", "isActive": True, "isSystem": False},
            {"value": "14", "label": "Escalated", "isActive": True, "isSystem": False},
            {"value": "20", "label": "Retired", "isActive": False, "isSystem": False},
        ]
        self.queues = [{"value": "29682833", "label": "Level I Support", "isActive": True}]
        # Live tenants: noteType 1 is "Task Summary", not the type for a ticket's notes.
        self.note_types = [
            {"value": "1", "label": "Task Summary", "isActive": True, "isSystem": True},
            {"value": "2", "label": "Task Detail", "isActive": True, "isSystem": True},
            {"value": "3", "label": "Task Notes", "isActive": True, "isSystem": True},
            {"value": "13", "label": "Workflow Rule Note", "isActive": True, "isSystem": True},
        ]
        self.publish = [
            {"value": "1", "label": "All Autotask Users", "isActive": True},
            {"value": "2", "label": "Internal Only", "isActive": True},
            {"value": "4", "label": "Internal & Co-Managed", "isActive": True},
        ]
        self.tickets: dict[int, dict[str, Any]] = {
            7001: {
                "id": 7001,
                "ticketNumber": "T20261102.0001",
                "title": "Printer on the 2nd floor is offline",
                "companyID": 175,
                "contactID": 30682,
                "queueID": 29682833,
                "status": 1,
                "priority": 2,
            }
        }
        self.companies = {175: {"id": 175, "companyName": "Contoso Ltd"}}
        self.contacts = {30682: {"id": 30682, "firstName": "Jane", "lastName": "Doe"}}
        self.notes: list[dict[str, Any]] = []
        self._ids = itertools.count(29700000)

    def authenticate(self, request: Recorded) -> Answer | None:
        for name, value in self.credentials.items():
            if request.headers.get(name) != value:
                return Answer(401, {"errors": ["Unauthorized"]})
        return None

    def handle(self, request: Recorded) -> Answer:
        path = request.path.removeprefix(AT_PREFIX)
        if path == "/Tickets/entityInformation/fields" and request.method == "GET":
            return Answer(200, {"fields": self._fields()})
        if path == "/TicketNotes/entityInformation/fields" and request.method == "GET":
            return Answer(200, {"fields": self._note_fields()})
        match = re.fullmatch(r"/Tickets/(\d+)", path)
        if match and request.method == "GET":
            return Answer(200, {"item": copy.deepcopy(self.tickets.get(int(match[1])))})
        if path == "/Tickets" and request.method == "PATCH":
            return Answer(200, self._patch(request.body))
        if match := re.fullmatch(r"/Tickets/(\d+)/Notes", path):
            number = int(match[1])
            if number not in self.tickets:
                raise refuse(404, {"errors": [f"Ticket {number} not found"]})
            if request.method == "POST":
                return Answer(200, self._add_note(number, request.body))
            if request.method == "GET":
                return Answer(200, self._notes_page(number, request))
        if match := re.fullmatch(r"/Companies/(\d+)", path):
            return Answer(200, {"item": self.companies.get(int(match[1]))})
        if match := re.fullmatch(r"/Contacts/(\d+)", path):
            return Answer(200, {"item": self.contacts.get(int(match[1]))})
        raise refuse(404, {"errors": [f"no route {request.path}"]})

    def _fields(self) -> list[dict[str, Any]]:
        return [
            {"name": "id", "dataType": "long", "isPickList": False},
            {
                "name": "status",
                "dataType": "integer",
                "isPickList": True,
                "picklistValues": self.statuses,
            },
            {
                "name": "queueID",
                "dataType": "integer",
                "isPickList": True,
                "picklistValues": self.queues,
            },
        ]

    def _note_fields(self) -> list[dict[str, Any]]:
        return [
            {"name": "description", "dataType": "string", "length": 32000, "isRequired": True},
            {
                "name": "noteType",
                "dataType": "integer",
                "isPickList": True,
                "isRequired": True,
                "picklistValues": self.note_types,
            },
            {
                "name": "publish",
                "dataType": "integer",
                "isPickList": True,
                "isRequired": True,
                "picklistValues": self.publish,
            },
            {"name": "title", "dataType": "string", "length": 250},
        ]

    def _patch(self, body: Any) -> Any:
        if not isinstance(body, dict) or not isinstance(body.get("id"), int):
            raise refuse(500, {"errors": ["id is required"]})
        ticket = self.tickets.get(body["id"])
        if ticket is None:
            raise refuse(404, {"errors": ["Ticket not found"]})
        if "status" in body:
            if str(body["status"]) not in {s["value"] for s in self.statuses}:
                raise refuse(500, {"errors": ["Value does not exist for the status picklist"]})
            if not self.ignore_status_changes:
                ticket["status"] = body["status"]
        return {"itemId": ticket["id"]}

    def _add_note(self, number: int, body: Any) -> Any:
        if not isinstance(body, dict):
            raise refuse(500, {"errors": ["Expected a note"]})
        for name, kind in (("description", str), ("title", str)):
            if not isinstance(body.get(name), kind) or not body[name]:
                raise refuse(500, {"errors": [f"{name} is required"]})
        for name in ("noteType", "publish"):
            if not isinstance(body.get(name), int):
                raise refuse(500, {"errors": [f"{name} is required"]})
        # Autotask answers validation errors with HTTP 500 and {"errors": [...]}.
        for name, values in (("noteType", self.note_types), ("publish", self.publish)):
            if str(body[name]) not in {v["value"] for v in values if v["isActive"]}:
                raise refuse(500, {"errors": [f"Value does not exist for the {name} picklist"]})
        if len(body["description"]) > 32000:
            raise refuse(
                500, {"errors": ["description: the value exceeds the maximum length of 32000"]}
            )
        if len(body["title"]) > 250:
            raise refuse(500, {"errors": ["title: the value exceeds the maximum length of 250"]})
        note = {
            "id": next(self._ids),
            "ticketID": number,
            "title": body["title"],
            "description": body["description"],
            "noteType": body["noteType"],
            "publish": body["publish"],
            "createDateTime": "2026-11-02T09:30:00Z",
        }
        self.notes.append(note)
        return {"itemId": note["id"]}

    def _notes_page(self, number: int, request: Recorded) -> Any:
        notes = [n for n in self.notes if n["ticketID"] == number]
        page = int(request.query.get("pageNumber", "1"))
        size = self.notes_page_size
        items = notes[(page - 1) * size : page * size]
        more = page * size < len(notes)
        host = request.headers.get("host", "127.0.0.1")
        base = f"http://{host}{AT_PREFIX}/Tickets/{number}/Notes"
        return {
            "items": items,
            "pageDetails": {
                "count": len(items),
                "requestCount": size,
                "prevPageUrl": f"{base}?pageNumber={page - 1}" if page > 1 else None,
                "nextPageUrl": f"{base}?pageNumber={page + 1}" if more else None,
            },
        }
