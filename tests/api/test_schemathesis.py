"""Schemathesis over the OpenAPI document: no 5xx, and every response as the schema says.

The app runs in process (ASGI), built by the composition root over a SQLite file with the
offline LLM when the module is collected: schemathesis reads the schema from the app itself.
Every request carries an owner key; most generated session ids are swapped for sessions that
exist (chat and guided), so the operations on one session are exercised past the 404.

Bounded for CI: a few examples per operation, derandomized (the same cases every run).
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import hashlib
import shutil
import tempfile
import zlib
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from litestar.testing import TestClient
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from resolutionflow_api import create_app
from resolutionflow_app import Settings, open_application
from resolutionflow_core.access import Actor, Role
from resolutionflow_core.errors import InvalidInput
from resolutionflow_core.search import SearchTerms
from resolutionflow_sqlalchemy import migrations
from tests.api.conftest import ACCOUNT

MAX_EXAMPLES = 50
"""Per operation; the whole file takes about 25 s on 2 cores."""

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    positive_data_acceptance,
]
"""`positive_data_acceptance` ("valid request refused"): whatever the document calls valid
is accepted, or refused only for the state it finds (401, 403, 404, 409)."""
STATEFUL_CHECKS = CHECKS
"""The stateful phase follows the document's links (ids are real, lifecycles are walked)."""
STATEFUL_STEPS = 12
STATEFUL_EXAMPLES = 15


def _build() -> tuple[Any, dict[str, str], list[str], list[str]]:
    """The app over a fresh migrated SQLite file, an owner key, and existing sessions."""
    directory = Path(tempfile.mkdtemp(prefix="rf-schemathesis-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    url = f"sqlite:///{directory / 'api.sqlite3'}"
    asyncio.run(migrations.upgrade(url))
    # The product's composition root, as `serve` builds it: SQL storage, the offline LLM, the
    # SQL PSA connection store; no secret key, so no PSA connection can be saved and nothing
    # generated here ever reaches out to a PSA. No in-process relay.
    application = open_application(
        Settings(database_url=url, llm="offline", secret_key=None, relay_in_process=False)
    )
    app = create_app(application)  # schemathesis runs a lifespan per request: it must not close
    with TestClient(app) as client:
        # The key is made through the app's portal, so it uses the app's own engine and loop.
        key = client.blocking_portal.call(
            functools.partial(
                application.keys.create,
                Actor(ACCOUNT, "owner", Role.OWNER),
                "schemathesis",
                now=application.clock.now(),
            )
        )
        auth = {"Authorization": f"Bearer {key.secret}"}
        chats, guided = [], []
        for n in range(4):
            chat = client.post(
                "/api/v1/ai-sessions",
                json={"session_type": "chat", "message": f"Outlook asks for the password {n}"},
                headers=auth,
            )
            step = client.post(
                "/api/v1/ai-sessions",
                json={"session_type": "guided", "intake_content": {"text": f"Printer {n}"}},
                headers=auth,
            )
            assert chat.status_code == step.status_code == 201, (chat.text, step.text)
            chats.append(chat.json()["id"])
            guided.append(step.json()["id"])
    return app, auth, chats, guided


APP, AUTH, CHAT_IDS, GUIDED_IDS = _build()
SESSION_IDS = CHAT_IDS + GUIDED_IDS

schema = schemathesis.openapi.from_asgi("/schema/openapi.json", APP)


def _existing(generated: object, ids: list[str]) -> str | None:
    """Deterministically, for about four in five generated ids, one that exists."""
    pick = zlib.crc32(str(generated).encode()) % (len(ids) * 5 // 4)
    return ids[pick] if pick < len(ids) else None


def _aim_at_existing_sessions(case: schemathesis.Case[Any]) -> None:
    if not _positive(case):
        return  # negative cases keep their invalid ids
    parameters = case.path_parameters or {}
    for name, ids in (("session_id", SESSION_IDS), ("chat_id", CHAT_IDS)):
        if name in parameters:
            existing = _existing(parameters[name], ids)
            if existing is not None:
                parameters[name] = existing


def _positive(case: schemathesis.Case[Any]) -> bool:
    return case.meta is not None and case.meta.generation.mode is GenerationMode.POSITIVE


def _as_a_client_sends_it(case: schemathesis.Case[Any]) -> None:
    """Two things only a server can hand out, not invented by the generator in valid cases:

    - a list cursor: it is opaque (`next_cursor` of a page) and bound to its filters, which
      the document says; any other value is a 422 `invalid_cursor`, tested in test_errors;
    - an ``Idempotency-Key`` for another request: a key names one request (the same key on
      another body is a 422 `idempotency_key_reused`, tested in test_idempotency), so the
      generated key is bound to its request: the same generated request keeps the same key
      (and is replayed), another request gets another key.

    And one thing the document cannot state: a search `q` needs a word that is not a stop
    word (a grammar, not a pattern; `q=`, `q=the` or `q=!` are a 422 saying so, tested in
    test_search_terms and the CLI's search tests), so a generated `q` without one gets one.
    """
    if not _positive(case):
        return
    if case.query and "cursor" in case.query:
        del case.query["cursor"]
    if case.query and isinstance(case.query.get("q"), str):
        try:
            SearchTerms.parse(case.query["q"])
        except InvalidInput:
            case.query["q"] = "printer"
    headers = case.headers or {}
    if "Idempotency-Key" in headers:
        request = repr((headers["Idempotency-Key"], case.method, case.formatted_path, case.body))
        headers["Idempotency-Key"] = hashlib.sha256(request.encode()).hexdigest()


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_conforms_to_its_schema(case: schemathesis.Case[Any]) -> None:
    _aim_at_existing_sessions(case)
    _as_a_client_sends_it(case)

    case.call_and_validate(headers=AUTH, checks=CHECKS)


def test_the_sessions_it_aims_at_exist() -> None:
    """Not every request is a 404: the ids swapped in are real sessions of the key's account."""
    with TestClient(APP) as client:
        found = [client.get(f"/api/v1/ai-sessions/{id_}", headers=AUTH) for id_ in SESSION_IDS]

    assert [response.status_code for response in found] == [200] * len(SESSION_IDS)
    assert {_existing(f"seed-{n}", SESSION_IDS) for n in range(50)} - {None}


# -- the stateful phase: follow the links (create a session, then work it) -----------------

APIWorkflow = schema.as_state_machine()


class SessionWorkflow(APIWorkflow):  # type: ignore[misc, valid-type]
    def before_call(self, case: schemathesis.Case[Any]) -> None:
        _as_a_client_sends_it(case)

    def get_call_kwargs(self, case: schemathesis.Case[Any]) -> dict[str, Any]:
        return {"headers": AUTH}

    def validate_response(self, response: Any, case: schemathesis.Case[Any], **kwargs: Any) -> None:
        case.validate_response(response, checks=STATEFUL_CHECKS)


TestSessionWorkflow = SessionWorkflow.TestCase
TestSessionWorkflow.settings = settings(
    max_examples=STATEFUL_EXAMPLES,
    stateful_step_count=STATEFUL_STEPS,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
