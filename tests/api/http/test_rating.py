"""The customer's rating of the help they got: kept on a returned or closed escalation, a
later one replacing the earlier (the audit trail keeps both); refused, changing nothing,
while the escalation is still active, or when the score is not 1 to 5."""

from typing import Any

import pytest

from tests.api.http.test_unstorable_text import assert_refused
from tests.conftest import Env


async def _rate(env: Env, esc_id: str, body: dict[str, Any], auth: Any = None) -> Any:
    return await env.client.post(
        f"/v1/escalations/{esc_id}/rating", json=body, headers=auth or env.auth
    )


async def _returned(env: Env) -> str:
    esc_id = str((await env.create())["id"])
    back = await env.client.post(
        f"/v1/escalations/{esc_id}/return", json={"agent": "minh"}, headers=env.auth
    )
    assert back.status_code == 200, back.text
    return esc_id


async def _audit(env: Env, esc_id: str) -> list[dict[str, Any]]:
    detail = (await env.client.get(f"/v1/escalations/{esc_id}", headers=env.auth)).json()
    return [e for e in detail["events"] if e["type"] == "rated"]


async def test_a_rating_is_kept_and_a_later_one_replaces_it(env: Env) -> None:
    esc_id = await _returned(env)
    first = await _rate(env, esc_id, {"score": 2, "comment": "Slow, but sorted 🙂"})
    assert first.status_code == 200, first.text
    assert first.json()["rating"]["score"] == 2
    assert first.json()["rating"]["comment"] == "Slow, but sorted 🙂"

    second = await _rate(env, esc_id, {"score": 5})
    assert second.status_code == 200
    assert (second.json()["rating"]["score"], second.json()["rating"]["comment"]) == (5, None)
    detail = (await env.client.get(f"/v1/escalations/{esc_id}", headers=env.auth)).json()
    assert detail["rating"]["score"] == 5
    assert [e["data"]["score"] for e in await _audit(env, esc_id)] == [2, 5]


async def test_an_active_escalation_cannot_be_rated(env: Env) -> None:
    esc_id = str((await env.create())["id"])
    response = await _rate(env, esc_id, {"score": 4})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_transition"
    assert "it is queued" in response.json()["error"]["message"]
    detail = (await env.client.get(f"/v1/escalations/{esc_id}", headers=env.auth)).json()
    assert detail["rating"] is None and await _audit(env, esc_id) == []


async def test_another_platforms_escalation_is_not_found(env: Env) -> None:
    esc_id = await _returned(env)
    stranger = await env.add_platform("globex")
    response = await _rate(
        env, esc_id, {"score": 4}, {"Authorization": f"Bearer {stranger.api_key}"}
    )
    assert response.status_code == 404
    assert await _audit(env, esc_id) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"score": 0}, "score"),
        ({"score": 6}, "score"),
        ({"score": "5"}, "score"),
        ({"score": 4.5}, "score"),
        ({"score": None}, "score"),
        ({}, "score"),
        ({"score": 4, "comment": "c" * 10_000}, "comment"),
        ({"score": 4, "stars": 4}, "stars"),
    ],
)
async def test_a_bad_rating_is_refused_naming_the_field(
    env: Env, body: dict[str, Any], field: str
) -> None:
    esc_id = await _returned(env)
    assert_refused(await _rate(env, esc_id, body), field)
    assert await _audit(env, esc_id) == []
