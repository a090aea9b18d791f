"""API keys: required, checked, and scoped to one platform on every route."""

from typing import Any

import pytest

from tests.conftest import Env

ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/escalations/{id}", None),
    ("POST", "/v1/escalations/{id}/messages", {"content": "hi"}),
    ("POST", "/v1/escalations/{id}/take", {"agent": "U0EVE"}),
    ("POST", "/v1/escalations/{id}/reply", {"agent": "U0EVE", "content": "hi"}),
    ("POST", "/v1/escalations/{id}/notes", {"agent": "U0EVE", "content": "hi"}),
    ("POST", "/v1/escalations/{id}/return", {"agent": "U0EVE"}),
    ("POST", "/v1/escalations/{id}/close", {"agent": "U0EVE", "resolution": "spam"}),
    ("PATCH", "/v1/escalations/{id}", {"priority": "low"}),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
async def test_another_platforms_escalation_is_not_found(
    env: Env, method: str, path: str, body: dict[str, Any] | None
) -> None:
    esc = await env.create()
    other = await env.add_platform("globex")
    before = await env.counts()
    response = await env.client.request(
        method,
        path.format(id=esc["id"]),
        json=body,
        headers={"Authorization": f"Bearer {other.api_key}"},
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert await env.counts() == before


async def test_another_platforms_escalations_are_not_listed(env: Env) -> None:
    await env.create()
    other = await env.add_platform("globex")
    listed = await env.client.get(
        "/v1/escalations", headers={"Authorization": f"Bearer {other.api_key}"}
    )
    assert listed.json() == {"data": [], "next_cursor": None}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer btn_not-a-real-key-at-all"},
        {"Authorization": "Bearer something-else"},
        {"Authorization": "Basic dXNlcjpwdw=="},
    ],
)
async def test_missing_or_wrong_keys_are_401(env: Env, headers: dict[str, str]) -> None:
    before = await env.counts()
    response = await env.client.post("/v1/escalations", json={}, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert await env.counts() == before


async def test_a_key_with_a_right_prefix_but_wrong_rest_is_refused(env: Env) -> None:
    forged = env.platform.api_key[:-4] + "AAAA"
    response = await env.client.get(
        "/v1/escalations", headers={"Authorization": f"Bearer {forged}"}
    )
    assert response.status_code == 401
