"""Per-account PSA connections: checked, sealed at rest, never shown with their secrets."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from resolutionflow_app.psa import ConfiguredPSAConnections, CredentialsLocked, Sealer
from resolutionflow_core.errors import InvalidInput, PSANotConfigured
from resolutionflow_memory.keys import InMemoryPSAConnectionStore
from resolutionflow_psa import ConnectWisePSA, HaloPSA

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
        "halopsa",
        {"base_url": "https://acme.halopsa.com", "client_id": "halo-id"},
        {"client_secret": "halo-secret"},
        now=later,
    )
    second = await psa.client_for("acme")
    assert isinstance(first, ConnectWisePSA)
    assert isinstance(second, HaloPSA)


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


async def test_an_account_without_a_connection_is_told_so_and_can_disconnect_once() -> None:
    psa, _ = connections()
    with pytest.raises(PSANotConfigured):
        await psa.client_for("acme")
    await psa.connect("acme", "connectwise", CONNECTWISE, {"private_key": "k"}, now=NOW)
    assert await psa.disconnect("acme") is True
    assert await psa.disconnect("acme") is False
    assert await psa.show("acme") is None
