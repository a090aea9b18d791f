"""``[api] default_priority``: the priority of an escalation created without one."""

from collections.abc import AsyncIterator

import pytest

from api.config import ApiSection, Config
from tests.conftest import Env, escalation_body, start_env


@pytest.fixture
async def high_by_default(database_url: str) -> AsyncIterator[Env]:
    config = Config(api=ApiSection(rate_limit=0, default_priority="high"))
    env, lifespan = await start_env(database_url, config=config)
    try:
        yield env
    finally:
        await env.client.aclose()
        await lifespan.__aexit__(None, None, None)


async def test_an_escalation_without_priority_gets_the_configured_default(
    high_by_default: Env,
) -> None:
    body = escalation_body()
    del body["priority"]
    response = await high_by_default.client.post(
        "/v1/escalations", json=body, headers=high_by_default.auth
    )
    assert response.status_code == 201
    assert response.json()["priority"] == "high"


async def test_an_escalation_with_a_priority_keeps_its_own(high_by_default: Env) -> None:
    created = await high_by_default.create(priority="low")
    assert created["priority"] == "low"


async def test_null_is_not_a_priority(high_by_default: Env) -> None:
    response = await high_by_default.client.post(
        "/v1/escalations", json=escalation_body(priority=None), headers=high_by_default.auth
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "priority"
