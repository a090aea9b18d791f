"""SLA due times follow the escalation: computed at creation, stopped by a take, moved by a
change of priority, and shown in the API."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from api.config import ApiSection, Config, parse_config
from storage.clock import ManualClock
from storage.models import Escalation
from tests.conftest import Env, start_env

CONFIG = parse_config(
    {
        "sla": {
            "timezone": "Europe/Paris",
            "at_risk": [0.5, 0.9],
            "business_hours": {
                "days": ["mon", "tue", "wed", "thu", "fri"],
                "open": "09:00",
                "close": "18:00",
            },
            "targets": {
                "urgent": {"first_take": "5m", "resolution": "1h"},
                "high": {"first_take": "30m", "resolution": "4h"},
            },
        }
    }
)
FRIDAY_EVENING = datetime(2026, 11, 20, 16, 50, tzinfo=UTC)  # 17:50 in Paris


@pytest.fixture
async def env(database_url: str) -> AsyncIterator[Env]:
    config = Config(api=ApiSection(rate_limit=0), sla=CONFIG.sla)
    environment, lifespan = await start_env(database_url, config=config, manual_clock=True)
    assert isinstance(environment.clock, ManualClock)
    environment.clock.set(FRIDAY_EVENING)
    try:
        yield environment
    finally:
        await environment.client.aclose()
        await lifespan.__aexit__(None, None, None)


async def _row(env: Env, esc_id: str) -> Escalation:
    async with env.db.read() as s:
        esc = await s.get(Escalation, esc_id, populate_existing=True)
    assert esc is not None
    return esc


async def test_due_times_run_on_business_hours_and_stop_when_taken(env: Env) -> None:
    esc = await env.create(priority="high")
    assert esc["sla"] == {
        "first_take": {"state": "on_track", "due_at": "2026-11-23T08:20:00.000Z"},  # Mon 09:20
        "resolution": {"state": "on_track", "due_at": "2026-11-23T11:50:00.000Z"},
    }
    # The first alert due is the first take's half-way mark, Monday 09:05 in Paris.
    assert (await _row(env, esc["id"])).sla_check_at == datetime(2026, 11, 23, 8, 5, tzinfo=UTC)

    assert isinstance(env.clock, ManualClock)
    env.clock.set(datetime(2026, 11, 23, 8, 10, tzinfo=UTC))
    taken = await env.client.post(
        f"/v1/escalations/{esc['id']}/take", json={"agent": "U0MINH"}, headers=env.auth
    )
    assert taken.json()["sla"]["first_take"]["state"] == "met"
    # Only the resolution clock runs now: its half-way mark is Monday 10:50 in Paris.
    assert (await _row(env, esc["id"])).sla_check_at == datetime(2026, 11, 23, 9, 50, tzinfo=UTC)


async def test_a_change_of_priority_moves_the_due_times(env: Env) -> None:
    esc = await env.create(priority="high")
    response = await env.client.patch(
        f"/v1/escalations/{esc['id']}", json={"priority": "urgent"}, headers=env.auth
    )
    # Five minutes of business time from Friday 17:50 in Paris: 17:55, still open.
    assert response.json()["sla"]["first_take"]["due_at"] == "2026-11-20T16:55:00.000Z"
    response = await env.client.patch(
        f"/v1/escalations/{esc['id']}", json={"priority": "low"}, headers=env.auth
    )
    assert response.json()["sla"] == {}  # no target for low
    assert (await _row(env, esc["id"])).sla_check_at is None


async def test_ending_stops_every_clock(env: Env) -> None:
    esc = await env.create(priority="urgent")
    assert isinstance(env.clock, ManualClock)
    env.clock.set(datetime(2026, 11, 23, 9, 30, tzinfo=UTC))  # Monday 10:30: both overdue
    closed = await env.client.post(
        f"/v1/escalations/{esc['id']}/close",
        json={"agent": "U0MINH", "resolution": "resolved"},
        headers=env.auth,
    )
    assert closed.status_code == 200, closed.text
    assert {k: v["state"] for k, v in closed.json()["sla"].items()} == {
        "first_take": "missed",
        "resolution": "missed",
    }
    assert (await _row(env, esc["id"])).sla_check_at is None
