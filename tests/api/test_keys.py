"""``/api/v1/keys``: owners and admins manage their account's keys."""

from __future__ import annotations

from datetime import datetime

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
    assert set(listed.json()) == {"items"}
    assert {key["user_id"] for key in listed.json()["items"]} == {"olga", "eve"}
    assert all("secret" not in key for key in listed.json()["items"])
    assert {key["account_id"] for key in listed.json()["items"]} == {"acme"}
    assert revoked.status_code == 200
    revoked_at = datetime.fromisoformat(revoked.json()["revoked_at"])
    assert revoked_at >= datetime.fromisoformat(revoked.json()["created_at"])
    assert revoked.json()["active"] is False
    problem(refused, 401)


@pytest.mark.parametrize("role", [Role.ENGINEER, Role.VIEWER])
async def test_engineers_and_viewers_cannot_manage_keys(api: Api, role: Role) -> None:
    headers = await api.headers("someone", role)

    problem(await api.client.get(KEYS, headers=headers), 403)
    created = await api.client.post(KEYS, json={"user_id": "x", "role": "viewer"}, headers=headers)
    problem(created, 403)


async def test_admins_cannot_create_owner_keys(api: Api) -> None:
    admin = await api.headers("ada", Role.ADMIN)

    owner_key = await api.client.post(KEYS, json={"user_id": "ada", "role": "owner"}, headers=admin)
    own_engineer_key = await api.client.post(
        KEYS, json={"user_id": "ada", "role": "engineer", "label": "script"}, headers=admin
    )

    assert problem(owner_key, 403, "permission_denied")["action"] == "create an owner key"
    assert own_engineer_key.status_code == 201, own_engineer_key.text
    assert own_engineer_key.json()["key"]["user_id"] == "ada"


@pytest.mark.parametrize("role", ["admin", "engineer", "viewer"])
async def test_admins_never_mint_keys_acting_as_another_user(api: Api, role: str) -> None:
    admin = await api.headers("ada", Role.ADMIN)

    refused = await api.client.post(KEYS, json={"user_id": "eve", "role": role}, headers=admin)

    body = problem(refused, 403, "permission_denied")
    assert "only for themself" in body["detail"]
    listed = await api.client.get(KEYS, headers=admin)
    assert [key["user_id"] for key in listed.json()["items"]] == ["ada"]


async def test_owners_mint_keys_for_any_user_and_role_of_their_account(api: Api) -> None:
    owner = await api.headers("olga", Role.OWNER)

    created = [
        await api.client.post(KEYS, json={"user_id": user, "role": role}, headers=owner)
        for user, role in [("oscar", "owner"), ("ada", "admin"), ("eve", "engineer")]
    ]

    assert [r.status_code for r in created] == [201, 201, 201]
    assert [(r.json()["key"]["user_id"], r.json()["key"]["role"]) for r in created] == [
        ("oscar", "owner"),
        ("ada", "admin"),
        ("eve", "engineer"),
    ]


async def test_admins_cannot_revoke_owner_keys(api: Api) -> None:
    owner = await api.headers("olga", Role.OWNER)
    admin = await api.headers("ada", Role.ADMIN)
    second_owner = await api.client.post(
        KEYS, json={"user_id": "oscar", "role": "owner"}, headers=owner
    )
    engineer = await api.client.post(
        KEYS, json={"user_id": "eve", "role": "engineer"}, headers=owner
    )

    refused = await api.client.delete(f"{KEYS}/{second_owner.json()['key']['id']}", headers=admin)
    allowed = await api.client.delete(f"{KEYS}/{engineer.json()['key']['id']}", headers=admin)

    assert problem(refused, 403, "permission_denied")["action"] == "revoke an owner key"
    assert allowed.status_code == 200, allowed.text
    listed = {
        k["user_id"]: k["active"]
        for k in (await api.client.get(KEYS, headers=owner)).json()["items"]
    }
    assert listed == {"olga": True, "ada": True, "oscar": True, "eve": False}


async def test_the_last_active_owner_key_cannot_be_revoked(api: Api) -> None:
    owner = await api.headers("olga", Role.OWNER)
    (olgas_key,) = await api.application.keys.list("acme")

    refused = await api.client.delete(f"{KEYS}/{olgas_key.id}", headers=owner)
    other = await api.client.post(KEYS, json={"user_id": "oscar", "role": "owner"}, headers=owner)
    as_oscar = {"Authorization": f"Bearer {other.json()['secret']}"}
    revoked = await api.client.delete(f"{KEYS}/{olgas_key.id}", headers=owner)
    oscars_own = await api.client.delete(f"{KEYS}/{other.json()['key']['id']}", headers=as_oscar)

    assert "last active owner key" in problem(refused, 403, "permission_denied")["detail"]
    assert revoked.status_code == 200, revoked.text  # another owner key exists now
    assert "last active owner key" in problem(oscars_own, 403, "permission_denied")["detail"]
    assert (await api.client.get(KEYS, headers=as_oscar)).status_code == 200


async def test_another_accounts_keys_are_out_of_reach(api: Api) -> None:
    owner = await api.headers("olga", Role.OWNER)
    outsider = await api.headers("mallory", Role.OWNER, account=OTHER_ACCOUNT)
    (olgas_key,) = await api.application.keys.list("acme")

    listed = await api.client.get(KEYS, headers=outsider)
    revoked = await api.client.delete(f"{KEYS}/{olgas_key.id}", headers=outsider)

    assert [key["user_id"] for key in listed.json()["items"]] == ["mallory"]
    problem(revoked, 404, "key_not_found")
    assert (await api.client.get(KEYS, headers=owner)).status_code == 200


async def test_a_key_for_a_blank_user_is_422(api: Api) -> None:
    owner = await api.headers("olga", Role.OWNER)

    response = await api.client.post(KEYS, json={"user_id": " ", "role": "viewer"}, headers=owner)

    assert problem(response, 422)["errors"][0]["field"] == "user_id"
