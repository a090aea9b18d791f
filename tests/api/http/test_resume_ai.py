"""An escalation closed with the AI kept paused hands the conversation back to the AI once,
when the platform (or an agent in Slack) says so: ``escalation.ai_resumed``, and 409 for
every other call."""

import asyncio
from typing import Any

from tests.conftest import Env


async def _closed(env: Env, *, keep_ai_paused: bool) -> str:
    esc_id = str((await env.create())["id"])
    auth = env.auth
    assert (
        await env.client.post(
            f"/v1/escalations/{esc_id}/take", json={"agent": "minh"}, headers=auth
        )
    ).status_code == 200
    closed = await env.client.post(
        f"/v1/escalations/{esc_id}/close",
        json={"agent": "minh", "resolution": "resolved", "keep_ai_paused": keep_ai_paused},
        headers=auth,
    )
    assert closed.status_code == 200, closed.text
    return esc_id


async def _resume(env: Env, esc_id: str, auth: dict[str, str] | None = None) -> Any:
    return await env.client.post(f"/v1/escalations/{esc_id}/resume_ai", headers=auth or env.auth)


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


async def test_the_ai_is_resumed_once(env: Env) -> None:
    esc_id = await _closed(env, keep_ai_paused=True)
    response = await _resume(env, esc_id)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "closed"

    events = await env.platform_events(esc_id)
    assert _types(events)[-2:] == ["escalation.closed", "escalation.ai_resumed"]
    assert events[-1]["data"]["escalation"]["id"] == esc_id
    detail = (await env.client.get(f"/v1/escalations/{esc_id}", headers=env.auth)).json()
    assert detail["ai_resumed_at"] is not None
    assert detail["events"][-1]["type"] == "ai_resumed"

    again = await _resume(env, esc_id)
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "invalid_transition"
    assert "resumed already" in error["message"]
    assert _types(await env.platform_events(esc_id)) == _types(events)


async def test_an_escalation_whose_ai_is_not_paused_cannot_resume_it(env: Env) -> None:
    esc_id = await _closed(env, keep_ai_paused=False)
    before = await env.platform_events(esc_id)
    response = await _resume(env, esc_id)
    assert response.status_code == 409
    assert "without keeping the AI paused" in response.json()["error"]["message"]
    assert await env.platform_events(esc_id) == before


async def test_an_active_escalation_cannot_resume_its_ai(env: Env) -> None:
    esc_id = str((await env.create())["id"])
    response = await _resume(env, esc_id)
    assert response.status_code == 409
    assert "it is queued" in response.json()["error"]["message"]


async def test_another_platforms_escalation_is_not_found(env: Env) -> None:
    esc_id = await _closed(env, keep_ai_paused=True)
    stranger = await env.add_platform("globex")
    response = await _resume(env, esc_id, {"Authorization": f"Bearer {stranger.api_key}"})
    assert response.status_code == 404
    assert "escalation.ai_resumed" not in _types(await env.platform_events(esc_id))


async def test_twenty_calls_at_once_resume_it_once(env: Env) -> None:
    esc_id = await _closed(env, keep_ai_paused=True)
    answers = await asyncio.gather(*(_resume(env, esc_id) for _ in range(20)))
    assert sorted(a.status_code for a in answers) == [200] + [409] * 19
    assert _types(await env.platform_events(esc_id)).count("escalation.ai_resumed") == 1
