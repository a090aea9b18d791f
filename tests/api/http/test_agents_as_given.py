"""Without Slack, an agent named through the API is taken as given (SPEC §8), but a value
with stray spaces, or only spaces, is refused naming the field and changes nothing."""

from typing import Any

import pytest

from tests.conftest import Env, escalation_body

PADDED = ["U0MINH ", " U0MINH", "U0MINH\n", "\tminh@acme.example", "   ", "\u00a0U0MINH"]


async def _post(env: Env, path: str, body: dict[str, Any]) -> Any:
    return await env.client.post(f"/v1/escalations{path}", json=body, headers=env.auth)


async def _snapshot(env: Env, esc_id: str | None = None) -> Any:
    detail = None
    if esc_id is not None:
        detail = (await env.client.get(f"/v1/escalations/{esc_id}", headers=env.auth)).json()
    return detail, await env.counts()


def _refused(response: Any, field: str, value: str) -> None:
    assert response.status_code == 422, (value, response.text)
    error = response.json()["error"]
    assert (error["code"], error["details"][0]["field"]) == ("validation_error", field), value
    assert "at its start or end" in error["message"] or "is empty" in error["message"], value


@pytest.mark.parametrize(
    ("value", "assignee"),
    [
        ("U0MINH", {"id": "U0MINH", "name": "U0MINH"}),
        ("minh@acme.example", {"id": "minh@acme.example", "name": "minh"}),
        ("nobody-here", {"id": "nobody-here", "name": "nobody-here"}),
        ("Minh Tran", {"id": "Minh Tran", "name": "Minh Tran"}),
    ],
)
async def test_agents_are_taken_as_given(env: Env, value: str, assignee: dict[str, str]) -> None:
    esc = await env.create()
    taken = await _post(env, f"/{esc['id']}/take", {"agent": value})
    assert taken.status_code == 200, taken.text
    assert taken.json()["assignee"] == assignee
    created = await env.create(assign_to=value)
    assert created["assignee"] == assignee


@pytest.mark.parametrize("action", ["take", "reply", "notes", "return", "close"])
async def test_a_padded_agent_is_refused_and_changes_nothing(env: Env, action: str) -> None:
    esc = await env.create()
    if action in ("reply", "return", "close"):
        assert (await _post(env, f"/{esc['id']}/take", {"agent": "U0MINH"})).status_code == 200
    body = {
        "reply": {"content": "Xin chào"},
        "notes": {"content": "checked the logs"},
        "close": {"resolution": "resolved"},
    }.get(action, {})
    before = await _snapshot(env, esc["id"])
    for value in PADDED:
        response = await _post(env, f"/{esc['id']}/{action}", {**body, "agent": value})
        _refused(response, "agent", value)
    assert await _snapshot(env, esc["id"]) == before


async def test_a_padded_assignee_is_refused_at_create_patch_and_list(env: Env) -> None:
    esc = await env.create()
    before = await _snapshot(env, esc["id"])
    for value in PADDED:
        created = await env.client.post(
            "/v1/escalations",
            json=escalation_body(assign_to=value),
            headers={**env.auth, "Idempotency-Key": f"key-{value!r}"},
        )
        _refused(created, "assign_to", value)
        patched = await env.client.patch(
            f"/v1/escalations/{esc['id']}", json={"assignee": value}, headers=env.auth
        )
        _refused(patched, "assignee", value)
        listed = await env.client.get(
            "/v1/escalations", params={"assignee": value}, headers=env.auth
        )
        _refused(listed, "assignee", value)
    assert await _snapshot(env, esc["id"]) == before
