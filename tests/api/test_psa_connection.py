"""``/psa-connection`` over the real `ConfiguredPSAConnections` and a ConnectWise stub on
127.0.0.1; and the session's ``psa_deliveries``."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from resolutionflow_api import create_app
from resolutionflow_app import Application, Settings, open_application
from resolutionflow_app.psa import ConfiguredPSAConnections, Sealer
from resolutionflow_core.access import Actor, Role
from resolutionflow_core.delivery import DeliveryRelay
from resolutionflow_sqlalchemy import SqlStorage
from resolutionflow_sqlalchemy.connections import SqlPSAConnectionStore
from resolutionflow_sqlalchemy.keys import SqlKeyStore
from tests.api.conftest import ACCOUNT, problem
from tests.conftest import StepClock
from tests.integration.psa.stub import StubServer, rate_limited
from tests.integration.psa.stubs import CW_PREFIX, ConnectWiseStub, HaloStub

PATH = "/api/v1/psa-connection"
RELAY_NOW = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
"""The relay's time: later than any delivery is due."""


@pytest.fixture(scope="module")
def server() -> Iterator[StubServer]:
    with StubServer().running() as running:
        yield running


@dataclass
class PsaApi:
    client: AsyncTestClient[Any]
    application: Application
    stub: ConnectWiseStub
    server: StubServer
    key: str | None

    async def headers(self, role: Role = Role.ADMIN, user: str = "root") -> dict[str, str]:
        actor = Actor(ACCOUNT, user, role)
        new = await self.application.keys.create(actor, "t", now=self.application.clock.now())
        return {"Authorization": f"Bearer {new.secret}"}

    def connectwise(self, **settings: Any) -> dict[str, Any]:
        return {
            "provider": "connectwise",
            "settings": {
                "base_url": f"{self.server.url}{CW_PREFIX}",
                "company": "acme",
                "public_key": "pub-key",
                "client_id": "3c7a1f5e-client",
                **settings,
            },
            "credentials": {"private_key": "priv-key"},
        }


def build(url: str, secret_key: str | None) -> Application:
    storage = SqlStorage.from_url(url)
    connections = ConfiguredPSAConnections(
        SqlPSAConnectionStore(storage.database), Sealer(secret_key), allow_loopback=True
    )
    return open_application(
        Settings(database_url=url, llm="offline", relay_in_process=False),
        storage=storage,
        psa=connections,
        keys=SqlKeyStore(storage.database),
    )


async def _open(
    migrated_database: Path, tmp_path: Path, server: StubServer, key: str | None
) -> AsyncIterator[PsaApi]:
    path = tmp_path / "psa.sqlite3"
    shutil.copyfile(migrated_database, path)
    server.stub = stub = ConnectWiseStub()
    application = build(f"sqlite:///{path}", key)
    async with AsyncTestClient(create_app(application, close_application=True)) as client:
        yield PsaApi(client, application, stub, server, key)


@pytest.fixture
async def psa_api(
    migrated_database: Path, tmp_path: Path, server: StubServer
) -> AsyncIterator[PsaApi]:
    async for opened in _open(migrated_database, tmp_path, server, Sealer.new_key()):
        yield opened


async def test_connect_show_test_and_delete_never_returning_secrets(psa_api: PsaApi) -> None:
    headers = await psa_api.headers(Role.OWNER)
    assert problem(await psa_api.client.get(PATH, headers=headers), 404)["code"] == (
        "psa_connection_not_found"
    )

    body = psa_api.connectwise(statuses={"resolved": ">Closed"})
    put = await psa_api.client.put(PATH, json=body, headers=headers)
    assert put.status_code == 200, put.text
    shown = (await psa_api.client.get(PATH, headers=headers)).json()
    for view in (put.json(), shown):
        assert view["provider"] == "connectwise"
        assert view["credentials_set"] == ["private_key"]
        assert view["settings"]["statuses"] == {"resolved": ">Closed"}
        assert "priv-key" not in str(view)

    tested = await psa_api.client.post(f"{PATH}/test", json={"ticket_id": "4711"}, headers=headers)
    assert tested.status_code == 200, tested.text
    assert tested.json()["ticket"]["summary"] == "VPN drops every ten minutes"
    assert tested.json()["ticket"]["company"] == "Contoso Ltd"

    deleted = await psa_api.client.delete(PATH, headers=headers)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["provider"] == "connectwise"
    assert "priv-key" not in deleted.text
    problem(await psa_api.client.get(PATH, headers=headers), 404)
    problem(await psa_api.client.delete(PATH, headers=headers), 404)
    missing = await psa_api.client.post(f"{PATH}/test", json={"ticket_id": "1"}, headers=headers)
    problem(missing, 409, "psa_not_configured")


@pytest.mark.parametrize("role", [Role.ENGINEER, Role.VIEWER])
async def test_engineers_and_viewers_are_refused(psa_api: PsaApi, role: Role) -> None:
    admin = await psa_api.headers(Role.ADMIN)
    await psa_api.client.put(PATH, json=psa_api.connectwise(), headers=admin)
    headers = await psa_api.headers(role, user="bob")
    client = psa_api.client
    problem(await client.get(PATH, headers=headers), 403, "permission_denied")
    problem(await client.put(PATH, json=psa_api.connectwise(), headers=headers), 403)
    problem(await client.post(f"{PATH}/test", json={"ticket_id": "4711"}, headers=headers), 403)
    problem(await client.delete(PATH, headers=headers), 403)
    assert (await client.get(PATH, headers=admin)).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"provider": "freshdesk", "settings": {}, "credentials": {}}, "provider"),
        ({"provider": "connectwise", "settings": {"company": "a"}, "credentials": {}}, "settings"),
    ],
)
async def test_invalid_settings_are_422_naming_the_field(
    psa_api: PsaApi, body: dict[str, Any], field: str
) -> None:
    response = await psa_api.client.put(PATH, json=body, headers=await psa_api.headers())
    assert problem(response, 422)["errors"][0]["field"] == field


async def test_bad_statuses_and_missing_credentials_are_422(psa_api: PsaApi) -> None:
    headers = await psa_api.headers()
    body = psa_api.connectwise(statuses={"closed": "x"})
    response = await psa_api.client.put(PATH, json=body, headers=headers)
    # The nested object's unknown field, under msgspec's path (a dict's value: "[...]").
    assert problem(response, 422)["errors"][0]["field"] == "settings[...].closed"
    body = psa_api.connectwise(statuses={"resolved": "Clo\x00sed"})
    response = await psa_api.client.put(PATH, json=body, headers=headers)
    assert problem(response, 422)["errors"][0]["field"] == "settings[...].resolved"
    body = {**psa_api.connectwise(), "colour": "blue"}
    response = await psa_api.client.put(PATH, json=body, headers=headers)
    assert problem(response, 422)["errors"][0]["field"] == "colour"
    body = {"provider": "connectwise", "credentials": {"private_key": "k"}}
    response = await psa_api.client.put(PATH, json=body, headers=headers)
    assert problem(response, 422)["errors"][0]["field"] == "settings"
    body = psa_api.connectwise(company={"resolved": "x"})
    response = await psa_api.client.put(PATH, json=body, headers=headers)
    assert problem(response, 422)["errors"][0]["field"] == "settings.company"
    body = psa_api.connectwise(statuses="Closed")
    response = await psa_api.client.put(PATH, json=body, headers=headers)
    assert problem(response, 422)["errors"][0]["field"] == "settings.statuses"
    body = {**psa_api.connectwise(), "credentials": {}}
    response = await psa_api.client.put(PATH, json=body, headers=headers)
    assert problem(response, 422)["errors"][0]["field"] == "credentials"


async def test_a_private_host_is_refused(psa_api: PsaApi) -> None:
    body = psa_api.connectwise(base_url=f"https://10.1.2.3{CW_PREFIX}")
    response = await psa_api.client.put(PATH, json=body, headers=await psa_api.headers())
    body = problem(response, 422, "invalid_input")
    assert body["errors"][0]["field"] == "connectwise"
    assert "10.1.2.3" in body["detail"]


async def test_the_test_says_why_it_failed(psa_api: PsaApi) -> None:
    headers = await psa_api.headers()
    body = psa_api.connectwise()
    body["credentials"] = {"private_key": "wrong"}
    await psa_api.client.put(PATH, json=body, headers=headers)
    test = f"{PATH}/test"
    refused = await psa_api.client.post(test, json={"ticket_id": "4711"}, headers=headers)
    problem(refused, 422, "psa_authentication_failed")

    await psa_api.client.put(PATH, json=psa_api.connectwise(), headers=headers)
    missing = await psa_api.client.post(test, json={"ticket_id": "999"}, headers=headers)
    assert problem(missing, 422, "ticket_not_found")["errors"][0]["field"] == "ticket_id"

    psa_api.stub.fail("GET", r"/service/tickets/4711$", rate_limited("120"))
    limited = await psa_api.client.post(test, json={"ticket_id": "4711"}, headers=headers)
    assert problem(limited, 503, "psa_rate_limited")["retry_after"] == 120
    assert limited.headers["retry-after"] == "120"


async def test_without_a_secret_key_connecting_is_a_422(
    migrated_database: Path, tmp_path: Path, server: StubServer
) -> None:
    async for api in _open(migrated_database, tmp_path, server, None):
        body = api.connectwise()
        response = await api.client.put(PATH, json=body, headers=await api.headers())
        assert (
            "RESOLUTIONFLOW_SECRET_KEY"
            in problem(response, 409, "psa_credentials_locked")["detail"]
        )
        problem(await api.client.get(PATH, headers=await api.headers()), 404)


async def test_the_session_shows_its_deliveries_and_failed_ones_can_be_retried(
    psa_api: PsaApi,
) -> None:
    admin = await psa_api.headers(Role.ADMIN)
    engineer = await psa_api.headers(Role.ENGINEER, user="alice")
    client = psa_api.client
    await client.put(PATH, json=psa_api.connectwise(), headers=admin)
    created = await client.post(
        "/api/v1/ai-sessions",
        json={"session_type": "chat", "message": "VPN drops"},
        headers=engineer,
    )
    session = f"/api/v1/ai-sessions/{created.json()['id']}"
    first = await client.get(session, headers=engineer)
    assert first.status_code == 200, first.text
    assert first.json()["psa_deliveries"] == []
    await client.post(f"{session}/ticket", json={"ticket_id": "4711"}, headers=engineer)
    resolved = await client.post(
        f"{session}/resolve", json={"resolution_summary": "New VPN profile"}, headers=engineer
    )
    assert resolved.status_code == 200, resolved.text

    (pending,) = (await client.get(session, headers=engineer)).json()["psa_deliveries"]
    assert pending["state"] == "pending"
    assert pending["note_kind"] == "resolution"
    assert pending["ticket_id"] == "4711"
    assert pending["attempts"] == 0
    assert pending["next_attempt_at"] == resolved.json()["resolved_at"]  # due at once

    # The PSA refuses the note as such: the relay does not try it 12 times, it fails it
    # at once with the PSA's message.
    psa_api.stub.fail("POST", "/notes$", _refusal())
    # A relay of its own: the app's cached PSA clients belong to the app's event loop.
    database = psa_api.application.storage.database
    relay = DeliveryRelay(
        psa_api.application.deliveries,
        ConfiguredPSAConnections(
            SqlPSAConnectionStore(database), Sealer(psa_api.key), allow_loopback=True
        ),
        StepClock(RELAY_NOW, step=timedelta(0)),
        max_attempts=12,
    )
    assert (await relay.run_once()).failed == 1
    (failed,) = (await client.get(session, headers=engineer)).json()["psa_deliveries"]
    assert failed["state"] == "failed"
    assert failed["attempts"] == 1
    assert failed["last_error"].startswith("PSARequestRejected: connectwise POST ")
    assert "400 refused" in failed["last_error"]

    problem(await client.post(f"{session}/deliveries/retry", headers=engineer), 403)
    retried = await client.post(f"{session}/deliveries/retry", headers=admin)
    assert retried.status_code == 200, retried.text
    assert retried.json()["retried"] == 1
    assert retried.json()["psa_deliveries"][0]["state"] == "pending"

    assert (await relay.run_once()).delivered == 1
    (delivered,) = (await client.get(session, headers=engineer)).json()["psa_deliveries"]
    assert delivered["state"] == "delivered"
    assert delivered["psa_note_id"] == str(psa_api.stub.notes[4711][0]["id"])
    assert delivered["delivered_at"] == "2030-01-01T09:00:00Z"  # the relay's clock
    assert delivered["last_error"] is None
    assert len(psa_api.stub.notes[4711]) == 1


async def test_a_halo_connection_is_saved_with_outcomes_its_instance_has(
    psa_api: PsaApi,
) -> None:
    psa_api.server.stub = halo = HaloStub()
    halo.auth_path = "/identity"
    headers = await psa_api.headers(Role.OWNER)
    body: dict[str, Any] = {
        "provider": "halopsa",
        "settings": {
            "base_url": psa_api.server.url,
            "client_id": "halo-client",
            "outcome_resolution": "Resolution",
        },
        "credentials": {"client_secret": "halo-secret"},
    }
    refused = problem(await psa_api.client.put(PATH, json=body, headers=headers), 422)
    assert refused["errors"][0]["field"] == "halopsa"
    assert "no outcome 'Resolution' for resolution notes" in refused["detail"]
    assert "Private Note, Public Note" in refused["detail"]
    problem(await psa_api.client.get(PATH, headers=headers), 404)

    body["settings"]["outcome_resolution"] = "Public Note"
    saved = await psa_api.client.put(PATH, json=body, headers=headers)
    assert saved.status_code == 200, saved.text
    settings = saved.json()["settings"]
    assert (settings["outcome_detail"], settings["outcome_internal"]) == (
        "Public Note",
        "Private Note",
    )

    tested = await psa_api.client.post(f"{PATH}/test", json={"ticket_id": "1234"}, headers=headers)
    assert tested.status_code == 200, tested.text
    discovered = tested.json()["discovered"]
    assert discovered["facts"]["auth_server"] == f"{psa_api.server.url}/identity"
    assert discovered["facts"]["tenant"] == "acme"
    assert discovered["facts"]["outcome.resolution"] == "Public Note"
    assert discovered["choices"]["outcomes"] == [
        "Private Note",
        "Public Note",
        "Email User",
        "Phone Call",
    ]
    assert "halo-secret" not in tested.text


async def test_a_connectwise_test_reports_the_sites_codebase(psa_api: PsaApi) -> None:
    headers = await psa_api.headers()
    await psa_api.client.put(PATH, json=psa_api.connectwise(), headers=headers)
    psa_api.stub.is_cloud = False
    tested = await psa_api.client.post(f"{PATH}/test", json={"ticket_id": "4711"}, headers=headers)
    assert tested.status_code == 200, tested.text
    facts = tested.json()["discovered"]["facts"]
    assert (facts["codebase"], facts["codebase_from"], facts["cloud"]) == (
        "v4_6_release",
        "configured",
        "no",
    )


def _refusal() -> Any:
    from tests.integration.psa.stub import Fault

    return Fault(400, {"code": "InvalidObject", "message": "refused"})


async def test_the_schema_documents_deliveries_and_never_a_secret(psa_api: PsaApi) -> None:
    schema = (await psa_api.client.get("/schema/openapi.json")).json()
    components = schema["components"]["schemas"]
    session = components["SessionRead"]["properties"]["psa_deliveries"]
    assert "DeliveryRead" in str(session)
    assert set(components["DeliveryRead"]["properties"]) == {
        "state",
        "note_kind",
        "ticket_id",
        "attempts",
        "last_error",
        "psa_note_id",
        "delivered_at",
        "next_attempt_at",
    }
    assert "credentials" not in components["ConnectionRead"]["properties"]
    paths = schema["paths"]
    assert {"get", "put", "delete"} <= paths["/api/v1/psa-connection"].keys()
    assert "post" in paths["/api/v1/psa-connection/test"]
    assert set(components["DiscoveredRead"]["properties"]) == {"facts", "choices"}
    assert "post" in paths["/api/v1/ai-sessions/{session_id}/deliveries/retry"]
