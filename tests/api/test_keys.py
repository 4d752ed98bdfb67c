"""``/api/v1/keys``: owners and admins manage their account's keys."""

from __future__ import annotations

import pytest

from resolutionflow_core.access import Role
from tests.api.conftest import OTHER_ACCOUNT, Api, problem

KEYS = "/api/v1/keys"


async def test_an_owner_creates_lists_and_revokes_keys(api: Api) -> None:
    owner = await api.headers("olga", Role.OWNER)

    created = await api.client.post(
        KEYS, json={"user_id": "eve", "role": "engineer", "label": "laptop"}, headers=owner
    )
    new = created.json()
    as_eve = {"Authorization": f"Bearer {new['secret']}"}
    works = await api.client.get("/api/v1/ai-sessions", headers=as_eve)
    listed = await api.client.get(KEYS, headers=owner)
    revoked = await api.client.delete(f"{KEYS}/{new['key']['id']}", headers=owner)
    refused = await api.client.get("/api/v1/ai-sessions", headers=as_eve)

    assert created.status_code == 201, created.text
    assert new["secret"].startswith(f"rf_{new['key']['prefix']}_")
    assert works.status_code == 200
    assert {key["user_id"] for key in listed.json()} == {"olga", "eve"}
    assert all("secret" not in key for key in listed.json())
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"]
    problem(refused, 401)


@pytest.mark.parametrize("role", [Role.ENGINEER, Role.VIEWER])
async def test_engineers_and_viewers_cannot_manage_keys(api: Api, role: Role) -> None:
    headers = await api.headers("someone", role)

    problem(await api.client.get(KEYS, headers=headers), 403)
    created = await api.client.post(KEYS, json={"user_id": "x", "role": "viewer"}, headers=headers)
    problem(created, 403)


async def test_admins_cannot_create_owner_keys(api: Api) -> None:
    admin = await api.headers("ada", Role.ADMIN)

    owner_key = await api.client.post(KEYS, json={"user_id": "x", "role": "owner"}, headers=admin)
    engineer_key = await api.client.post(
        KEYS, json={"user_id": "x", "role": "engineer"}, headers=admin
    )

    problem(owner_key, 403)
    assert engineer_key.status_code == 201


async def test_another_accounts_keys_are_out_of_reach(api: Api) -> None:
    owner = await api.headers("olga", Role.OWNER)
    outsider = await api.headers("mallory", Role.OWNER, account=OTHER_ACCOUNT)
    (olgas_key,) = await api.application.keys.list("acme")

    listed = await api.client.get(KEYS, headers=outsider)
    revoked = await api.client.delete(f"{KEYS}/{olgas_key.id}", headers=outsider)

    assert [key["user_id"] for key in listed.json()] == ["mallory"]
    problem(revoked, 404, "key_not_found")
    assert (await api.client.get(KEYS, headers=owner)).status_code == 200


async def test_a_key_for_a_blank_user_is_422(api: Api) -> None:
    owner = await api.headers("olga", Role.OWNER)

    response = await api.client.post(KEYS, json={"user_id": " ", "role": "viewer"}, headers=owner)

    assert problem(response, 422)["errors"][0]["field"] == "user_id"
