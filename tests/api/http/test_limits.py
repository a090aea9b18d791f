"""Body size, request rate, unknown routes: each refused with the envelope."""

import asyncio

from api.config import Config, parse_config
from tests.conftest import Env, escalation_body, start_env


async def test_a_body_over_one_mebibyte_is_413_and_changes_nothing(env: Env) -> None:
    before = await env.counts()
    huge = escalation_body(
        reason_detail="x" * 900,
        transcript=[{"role": "customer", "content": "y" * 30_000} for _ in range(40)],
    )
    response = await env.client.post("/v1/escalations", json=huge, headers=env.auth)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert await env.counts() == before


async def test_a_streamed_body_without_length_is_cut_at_the_limit(env: Env) -> None:
    async def chunks():  # no Content-Length: the limit is enforced as bytes arrive
        for _ in range(20):
            yield b"x" * 65_536

    response = await env.client.post(
        "/v1/escalations",
        content=chunks(),
        headers={**env.auth, "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_past_the_budget_requests_get_429_with_retry_after(database_url: str) -> None:
    config = parse_config({"api": {"rate_limit": "5/s"}})
    env, lifespan = await start_env(database_url, config=config)
    try:
        responses = await asyncio.gather(
            *(env.client.get("/v1/escalations", headers=env.auth) for _ in range(30))
        )
        statuses = [r.status_code for r in responses]
        # A burst of up to twice the rate passes; the rest is refused until tokens refill.
        assert 10 <= statuses.count(200) <= 12
        refused = [r for r in responses if r.status_code == 429]
        assert refused
        assert all(int(r.headers["Retry-After"]) >= 1 for r in refused)
        assert refused[0].json()["error"]["code"] == "rate_limited"
        other = await env.add_platform("globex")
        fresh = await env.client.get(
            "/v1/escalations", headers={"Authorization": f"Bearer {other.api_key}"}
        )
        assert fresh.status_code == 200  # budgets are per key
    finally:
        await env.client.aclose()
        await lifespan.__aexit__(None, None, None)


async def test_rate_limit_zero_turns_it_off(database_url: str) -> None:
    env, lifespan = await start_env(database_url, config=parse_config({"api": {"rate_limit": "0"}}))
    try:
        responses = await asyncio.gather(
            *(env.client.get("/v1/escalations", headers=env.auth) for _ in range(150))
        )
        assert {r.status_code for r in responses} == {200}
    finally:
        await env.client.aclose()
        await lifespan.__aexit__(None, None, None)


async def test_unknown_routes_and_methods_use_the_envelope(env: Env) -> None:
    missing = await env.client.get("/v2/nothing")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    wrong = await env.client.delete("/v1/escalations", headers=env.auth)
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"


async def test_default_config_has_the_documented_budget() -> None:
    assert Config().api.rate_limit == 50.0
