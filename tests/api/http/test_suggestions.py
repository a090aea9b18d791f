"""A platform posts its bot's suggested reply for the agents: kept and answered back while
the escalation is active; refused, changing nothing, once it ended or when the text is
empty or longer than Slack's text box."""

from typing import Any

import pytest
from sqlalchemy import func, select

from storage.models import Suggestion
from tests.api.http.test_unstorable_text import assert_refused
from tests.conftest import Env


async def _suggest(env: Env, esc_id: str, body: Any, auth: dict[str, str] | None = None) -> Any:
    return await env.client.post(
        f"/v1/escalations/{esc_id}/suggestions", json=body, headers=auth or env.auth
    )


async def _kept(env: Env) -> int:
    async with env.db.read() as s:
        return int((await s.execute(select(func.count()).select_from(Suggestion))).scalar_one())


async def test_a_suggestion_is_kept_and_answered(env: Env) -> None:
    esc_id = (await env.create())["id"]
    response = await _suggest(
        env, esc_id, {"content": "Refund sent ✅", "markdown": "**Refund** sent ✅"}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"].startswith("sug_") and body["escalation_id"] == esc_id
    assert (body["content"], body["markdown"]) == ("Refund sent ✅", "**Refund** sent ✅")
    assert (body["sent_at"], body["sent_by"], body["message_id"]) == (None, None, None)
    plain = (await _suggest(env, esc_id, {"content": "Anything else?"})).json()
    assert plain["markdown"] == "Anything else?"
    detail = (await env.client.get(f"/v1/escalations/{esc_id}", headers=env.auth)).json()
    assert [e["type"] for e in detail["events"]].count("suggested") == 2


async def test_an_ended_escalation_takes_no_suggestion(env: Env) -> None:
    esc_id = (await env.create())["id"]
    back = await env.client.post(
        f"/v1/escalations/{esc_id}/return", json={"agent": "minh"}, headers=env.auth
    )
    assert back.status_code == 200
    response = await _suggest(env, esc_id, {"content": "too late"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_transition"
    assert await _kept(env) == 0


async def test_another_platforms_escalation_is_not_found(env: Env) -> None:
    esc_id = (await env.create())["id"]
    stranger = await env.add_platform("globex")
    auth = {"Authorization": f"Bearer {stranger.api_key}"}
    assert (await _suggest(env, esc_id, {"content": "hi"}, auth)).status_code == 404
    assert await _kept(env) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"content": ""}, "content"),
        ({"content": "x" * 3001}, "content"),
        ({}, "content"),
        ({"content": "hi", "tone": "warm"}, "tone"),
    ],
)
async def test_a_bad_suggestion_is_refused_naming_the_field(
    env: Env, body: dict[str, Any], field: str
) -> None:
    esc_id = (await env.create())["id"]
    assert_refused(await _suggest(env, esc_id, body), field)
    assert await _kept(env) == 0
