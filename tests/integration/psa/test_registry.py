"""Each PSA adapter owns its spec: the registry lists connection models, and everything
the rest of the application knows about a provider (its settings, which are secret, how
to build its client) is read from that model. A provider added in a test module, with one
registry entry, connects, is shown and builds its client without any other change."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

import pytest
from pydantic import SecretStr

from resolutionflow_app.psa import PROVIDERS as APP_PROVIDERS
from resolutionflow_app.psa import ConfiguredPSAConnections, Sealer
from resolutionflow_core.errors import InvalidInput
from resolutionflow_core.ports import PSAClient
from resolutionflow_core.tickets import NoteKind, Ticket
from resolutionflow_memory.keys import InMemoryPSAConnectionStore
from resolutionflow_psa import (
    AutotaskConnection,
    AutotaskPSA,
    ConnectWiseConnection,
    ConnectWisePSA,
    HaloPSA,
    HaloPSAConnection,
    PSAConnection,
    PSAHttpClient,
    PSASettingInvalid,
    RetryPolicy,
    TicketNote,
    TicketStatus,
    Tuning,
)
from resolutionflow_psa.connection import ProviderSpec
from resolutionflow_psa.registry import PROVIDERS

if TYPE_CHECKING:
    from typing_extensions import Unpack

NOW = datetime(2026, 11, 8, 9, 0, tzinfo=UTC)


def test_the_registry_reads_each_providers_fields_from_its_connection_model() -> None:
    assert {name: (s.required, s.optional, s.secret) for name, s in PROVIDERS.items()} == {
        "connectwise": (
            ("company", "public_key", "client_id"),
            ("site", "base_url", "codebase", "api_version"),
            ("private_key",),
        ),
        "halopsa": (
            ("base_url", "client_id"),
            ("auth_url", "tenant", "outcome_detail", "outcome_internal", "outcome_resolution"),
            ("client_secret",),
        ),
        "autotask": (
            ("base_url", "username"),
            ("note_type_detail", "note_type_internal", "note_type_resolution"),
            ("integration_code", "secret"),
        ),
    }
    assert [spec.connection for spec in PROVIDERS.values()] == [
        ConnectWiseConnection,
        HaloPSAConnection,
        AutotaskConnection,
    ]
    # The application's view is the registry itself, not a copy of it.
    assert dict(APP_PROVIDERS) == dict(PROVIDERS)


def test_each_adapter_is_a_psa_client_named_as_its_registry_entry(
    connectwise: ConnectWisePSA, halo: HaloPSA, autotask: AutotaskPSA
) -> None:
    clients: list[PSAClient] = [connectwise, halo, autotask]  # mypy checks each against the port
    assert [client.provider for client in clients] == ["connectwise", "halopsa", "autotask"]
    assert list(PROVIDERS) == ["connectwise", "halopsa", "autotask"]


def test_a_connection_model_keeps_its_secrets_out_of_repr_and_dumps() -> None:
    connection = AutotaskConnection.model_validate(
        {
            "base_url": " https://webservices5.autotask.net/ATServicesRest ",
            "username": "api@acme",
            "integration_code": "code-123",
            "secret": "s3cr3t",
            "note_type_detail": 3,
            "note_type_internal": "4",
            "note_type_resolution": " 5 ",
        }
    )
    shown = f"{connection!r} {connection.model_dump()}"
    assert "s3cr3t" not in shown
    assert "code-123" not in shown
    assert connection.base_url == "https://webservices5.autotask.net/ATServicesRest"
    assert connection.note_types() == {
        NoteKind.DETAIL: 3,
        NoteKind.INTERNAL: 4,
        NoteKind.RESOLUTION: 5,
    }


def test_rules_between_settings_name_the_setting() -> None:
    with pytest.raises(PSASettingInvalid) as autotask:
        AutotaskConnection.model_validate(
            {
                "base_url": "https://webservices5.autotask.net/ATServicesRest",
                "username": "u",
                "integration_code": "c",
                "secret": "s",
                "note_type_internal": "4",
            }
        )
    assert autotask.value.setting == "note_type_detail"
    with pytest.raises(PSASettingInvalid) as connectwise:
        ConnectWiseConnection.model_validate(
            {
                "company": "acme",
                "public_key": "p",
                "client_id": "c",
                "private_key": "k",
                "site": " ",
            }
        )
    assert (connectwise.value.setting, str(connectwise.value)) == (
        None,
        "connectwise needs site or base_url",
    )


def test_tuning_reaches_the_adapter_settings_and_its_injected_parts() -> None:
    async def no_sleep(_seconds: float) -> None:
        return None

    retry = RetryPolicy(attempts=1)
    connection = HaloPSAConnection.model_validate(
        {
            "base_url": "https://acme.halopsa.com",
            "client_id": "rf",
            "client_secret": "x",
            "outcome_internal": "Private Note",
        }
    )
    client = connection.client(timeout=3.5, retry=retry, sleep=no_sleep)
    assert (client._timeout, client._retry, client._sleep) == (3.5, retry, no_sleep)
    assert client._settings.outcomes == {NoteKind.INTERNAL: "Private Note"}


def test_an_adapter_that_leaves_out_a_provider_method_cannot_be_built() -> None:
    class HalfDone(PSAHttpClient):
        async def get_ticket(self, ticket_id: str) -> Ticket:
            return Ticket("half", ticket_id, "")

    with pytest.raises(TypeError, match="abstract") as refused:
        HalfDone("https://psa.example.com")  # type: ignore[abstract]
    for method in ("_create_note", "_current_status", "_set_status", "_status_target"):
        assert method in str(refused.value)


# -- a fourth provider: one module, one registry line ------------------------------------


class ToyPSA(PSAHttpClient):
    PROVIDER = "toy"

    def __init__(self, token: str, **tuning: Unpack[Tuning]) -> None:
        options, injected = PSAConnection.options(tuning)
        super().__init__("https://toy.example.com/api", **options, **injected)
        self.token = token

    async def get_ticket(self, ticket_id: str) -> Ticket:
        return Ticket("toy", ticket_id, "a toy ticket")

    async def list_notes(self, ticket_id: str) -> list[TicketNote]:
        return []

    async def _create_note(self, number: int, kind: NoteKind, text: str) -> str | None:
        return "1"

    async def _status_target(self, number: int, wanted: str) -> tuple[str | None, TicketStatus]:
        return None, TicketStatus("1", wanted)

    async def _set_status(self, number: int, target: TicketStatus) -> None:
        return None

    async def _current_status(self, number: int) -> tuple[str | None, str | None]:
        return "1", None


class ToyConnection(PSAConnection):
    PROVIDER: ClassVar[str] = "toy"

    workspace: str
    token: SecretStr
    region: str | None = None

    def client(self, **tuning: Unpack[Tuning]) -> ToyPSA:
        return ToyPSA(self.token.get_secret_value(), **tuning)


async def test_a_provider_registered_with_one_line_connects_without_other_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(PROVIDERS, "toy", ProviderSpec.of(ToyConnection))  # type: ignore[index]
    psa = ConfiguredPSAConnections(InMemoryPSAConnectionStore(), Sealer(Sealer.new_key()))

    with pytest.raises(InvalidInput) as refused:
        await psa.connect("acme", "toy", {"region": "eu"}, {"token": "t"}, now=NOW)
    assert (refused.value.field, str(refused.value)) == (
        "settings",
        "settings: toy needs workspace",
    )
    with pytest.raises(InvalidInput) as typed:
        await psa.connect("acme", "toy", {"workspace": {"x": 1}}, {"token": "t"}, now=NOW)
    assert typed.value.field == "settings.workspace"

    view = await psa.connect("acme", "toy", {"workspace": "w1"}, {"token": "tok-1"}, now=NOW)
    assert (view.provider, view.credentials_set, view.settings) == (
        "toy",
        ("token",),
        {"workspace": "w1", "statuses": {}},
    )
    client = await psa.client_for("acme")
    assert isinstance(client, ToyPSA)
    assert client.token == "tok-1"
    assert (await psa.test("acme", "42")).ticket.summary == "a toy ticket"
