"""Per-account PSA connections: checked, sealed at rest, never shown with their secrets."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from resolutionflow_app.psa import ConfiguredPSAConnections, CredentialsLocked, Sealer
from resolutionflow_core.errors import InvalidInput, PSANotConfigured
from resolutionflow_core.tickets import NoteKind, PSANote
from resolutionflow_memory.keys import InMemoryPSAConnectionStore
from resolutionflow_psa import AutotaskPSA, ConnectWisePSA, HaloPSA, PSAAuthenticationFailed
from tests.integration.psa.stub import StubServer
from tests.integration.psa.stubs import HaloStub

NOW = datetime(2026, 11, 8, 9, 0, tzinfo=UTC)
KEY = Sealer.new_key()
CONNECTWISE = {
    "site": "api-na.myconnectwise.net",
    "company": "acme",
    "public_key": "pub123",
    "client_id": "4f1c-client",
    "statuses": {"resolved": "Completed"},
}


def connections(
    key: str | None = KEY,
) -> tuple[ConfiguredPSAConnections, InMemoryPSAConnectionStore]:
    store = InMemoryPSAConnectionStore()
    return ConfiguredPSAConnections(store, Sealer(key)), store


async def test_a_connection_is_sealed_at_rest_and_shown_without_its_secret() -> None:
    psa, store = connections()
    view = await psa.connect(
        "acme", "connectwise", CONNECTWISE, {"private_key": "s3cr3t-private"}, now=NOW
    )
    assert view.credentials_set == ("private_key",)
    assert "s3cr3t-private" not in repr(view)
    record = await store.get("acme")
    assert record is not None
    assert "s3cr3t-private" not in record.sealed_credentials
    assert "s3cr3t-private" not in str(record.settings)
    client = await psa.client_for("acme")
    assert isinstance(client, ConnectWisePSA)
    assert await psa.client_for("acme") is client, "built once while the record is unchanged"
    assert await psa.status_after("acme", "resolved") == "Completed"
    assert await psa.status_after("acme", "escalated") is None


async def test_replacing_a_connection_rebuilds_its_client() -> None:
    psa, _ = connections()
    await psa.connect("acme", "connectwise", CONNECTWISE, {"private_key": "k"}, now=NOW)
    first = await psa.client_for("acme")
    later = datetime(2026, 11, 9, tzinfo=UTC)
    await psa.connect(
        "acme",
        "autotask",
        {"base_url": "https://webservices5.autotask.net/ATServicesRest", "username": "api@a"},
        {"integration_code": "code", "secret": "s"},
        now=later,
    )
    second = await psa.client_for("acme")
    assert isinstance(first, ConnectWisePSA)
    assert isinstance(second, AutotaskPSA)


# -- HaloPSA: contacted on save, for its outcomes ------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[StubServer]:
    with StubServer().running() as running:
        yield running


@pytest.fixture
def halo_stub(server: StubServer) -> HaloStub:
    server.stub = stub = HaloStub()
    return stub


def loopback_connections() -> tuple[ConfiguredPSAConnections, InMemoryPSAConnectionStore]:
    store = InMemoryPSAConnectionStore()
    return ConfiguredPSAConnections(store, Sealer(KEY), allow_loopback=True), store


def halo(server: StubServer, **settings: str) -> dict[str, object]:
    return {"base_url": server.url, "client_id": "halo-client", "tenant": "acme", **settings}


async def test_saving_a_halo_connection_stores_the_outcomes_its_instance_has(
    server: StubServer, halo_stub: HaloStub
) -> None:
    psa, _ = loopback_connections()
    view = await psa.connect(
        "acme", "halopsa", halo(server), {"client_secret": "halo-secret"}, now=NOW
    )
    assert {k: v for k, v in view.settings.items() if k.startswith("outcome_")} == {
        "outcome_detail": "Public Note",
        "outcome_internal": "Private Note",
        "outcome_resolution": "Public Note",
    }
    client = await psa.client_for("acme")
    assert isinstance(client, HaloPSA)
    await client.post_note("1234", PSANote(NoteKind.INTERNAL, "Escalated.", "rf:a:1"))
    assert halo_stub.actions[0]["outcome"] == "Private Note"
    await psa.aclose()


async def test_a_halo_connection_naming_an_outcome_the_instance_lacks_is_not_saved(
    server: StubServer, halo_stub: HaloStub
) -> None:
    psa, store = loopback_connections()
    settings = halo(server, outcome_resolution="Resolution")
    with pytest.raises(InvalidInput) as refused:
        await psa.connect("acme", "halopsa", settings, {"client_secret": "halo-secret"}, now=NOW)
    assert refused.value.field == "halopsa"
    assert "no outcome 'Resolution' for resolution notes" in str(refused.value)
    assert "Private Note, Public Note, Email User, Phone Call" in str(refused.value)
    assert await store.get("acme") is None

    halo_stub.outcomes.append({"id": 7, "outcome": "Resolution"})
    view = await psa.connect("acme", "halopsa", settings, {"client_secret": "halo-secret"}, now=NOW)
    assert view.settings["outcome_resolution"] == "Resolution"


async def test_a_halo_connection_whose_credentials_fail_is_not_saved(
    server: StubServer, halo_stub: HaloStub
) -> None:
    psa, store = loopback_connections()
    with pytest.raises(PSAAuthenticationFailed):
        await psa.connect("acme", "halopsa", halo(server), {"client_secret": "no"}, now=NOW)
    assert await store.get("acme") is None


async def test_testing_a_connection_reports_what_was_discovered(
    server: StubServer, halo_stub: HaloStub
) -> None:
    psa, _ = loopback_connections()
    halo_stub.auth_path = "/identity"
    await psa.connect("acme", "halopsa", halo(server), {"client_secret": "halo-secret"}, now=NOW)

    tested = await psa.test("acme", "1234")

    assert tested.ticket.summary == "Outlook cannot connect to Exchange"
    facts = tested.discovered.facts
    assert (facts["auth_server"], facts["auth_server_from"]) == (
        f"{server.url}/identity",
        "authinfo",
    )
    assert facts["outcome.internal"] == "Private Note"
    assert tested.discovered.choices["outcomes"][:2] == ["Private Note", "Public Note"]
    await psa.aclose()


async def test_autotask_note_types_are_all_three_numbers_or_none() -> None:
    psa, _ = connections()
    base = {"base_url": "https://webservices5.autotask.net/ATServicesRest", "username": "u"}
    secret = {"integration_code": "c", "secret": "s"}
    with pytest.raises(InvalidInput) as refused:
        await psa.connect("acme", "autotask", {**base, "note_type_detail": "3"}, secret, now=NOW)
    assert refused.value.field == "settings.note_type_internal"
    types = {f"note_type_{kind}": "3" for kind in NoteKind}
    await psa.connect("acme", "autotask", {**base, **types}, secret, now=NOW)
    client = await psa.client_for("acme")
    assert isinstance(client, AutotaskPSA)
    assert client._settings.note_types == dict.fromkeys(NoteKind, 3)


@pytest.mark.parametrize(
    ("provider", "settings", "credentials", "field"),
    [
        ("zendesk", {}, {}, "provider"),
        ("connectwise", {**CONNECTWISE, "colour": "red"}, {"private_key": "k"}, "settings"),
        ("connectwise", {"company": "acme"}, {"private_key": "k"}, "settings"),
        ("connectwise", CONNECTWISE, {}, "credentials"),
        ("connectwise", CONNECTWISE, {"private_key": "k", "extra": "x"}, "credentials"),
        (
            "connectwise",
            {**CONNECTWISE, "statuses": {"closed": "x"}},
            {"private_key": "k"},
            "settings.statuses",
        ),
        (
            "autotask",
            {"base_url": "http://10.0.0.5/ATServicesRest", "username": "api@acme"},
            {"integration_code": "c", "secret": "s"},
            "autotask",
        ),
    ],
)
async def test_a_connection_that_cannot_work_is_refused_with_what_is_wrong(
    provider: str, settings: dict[str, object], credentials: dict[str, str], field: str
) -> None:
    psa, store = connections()
    with pytest.raises(InvalidInput) as refused:
        await psa.connect("acme", provider, settings, credentials, now=NOW)  # type: ignore[arg-type]
    assert refused.value.field == field
    assert await store.get("acme") is None


async def test_without_the_key_credentials_are_neither_saved_nor_opened() -> None:
    psa, _ = connections(key=None)
    with pytest.raises(CredentialsLocked, match="RESOLUTIONFLOW_SECRET_KEY"):
        await psa.connect("acme", "connectwise", CONNECTWISE, {"private_key": "k"}, now=NOW)
    sealed, store = connections()
    await sealed.connect("acme", "connectwise", CONNECTWISE, {"private_key": "k"}, now=NOW)
    other_key = ConfiguredPSAConnections(store, Sealer(Sealer.new_key()))
    with pytest.raises(CredentialsLocked, match="another key"):
        await other_key.client_for("acme")


def test_several_keys_seal_with_the_first_and_open_with_any() -> None:
    old, new = Sealer.new_key(), Sealer.new_key()
    under_old = Sealer(old).seal({"private_key": "k"})
    rotating = Sealer(f" {new} ,{old}\n")
    assert rotating.open(under_old) == {"private_key": "k"}
    sealed = rotating.seal({"private_key": "k2"})
    assert Sealer(new).open(sealed) == {"private_key": "k2"}
    with pytest.raises(CredentialsLocked, match="another key"):
        Sealer(old).open(sealed)
    resealed = rotating.reseal(under_old)
    assert Sealer(new).open(resealed) == {"private_key": "k"}
    with pytest.raises(CredentialsLocked, match="another key"):
        Sealer(Sealer.new_key()).reseal(under_old)


async def test_an_account_without_a_connection_is_told_so_and_can_disconnect_once() -> None:
    psa, _ = connections()
    with pytest.raises(PSANotConfigured):
        await psa.client_for("acme")
    await psa.connect("acme", "connectwise", CONNECTWISE, {"private_key": "k"}, now=NOW)
    assert await psa.disconnect("acme") is True
    assert await psa.disconnect("acme") is False
    assert await psa.show("acme") is None
