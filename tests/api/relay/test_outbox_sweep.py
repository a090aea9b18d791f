"""The outbox sweep: delivered rows are forgotten after a week, parked and pending ones
never; a backlog nobody drains is reported."""

import logging
from datetime import timedelta

import httpx
import pytest
import respx
from sqlalchemy import select

from api.relay.platform import Relay
from scheduler.jobs import OUTBOX_KEPT_FOR, outbox_sweep
from storage.models import DeliveryState, OutboxRow, Topic
from tests.conftest import Env

HOOK = "https://203.0.113.9/hook"


@pytest.fixture
def env(clocked_env: Env) -> Env:
    return clocked_env


async def _platform_rows(env: Env) -> dict[str, DeliveryState]:
    async with env.db.read() as s:
        rows = await s.execute(
            select(OutboxRow.escalation_id, OutboxRow.state).where(
                OutboxRow.topic == Topic.platform
            )
        )
        return {esc: DeliveryState(state) for esc, state in rows}


async def test_delivered_rows_go_after_a_week_parked_and_pending_stay(
    env: Env, relay: Relay
) -> None:
    old = (await env.create())["id"]
    parked = (await env.create())["id"]
    with respx.mock:
        respx.post(HOOK).mock(
            side_effect=lambda request: httpx.Response(
                410 if parked in str(request.content) else 200
            )
        )
        await relay.drain()
    env.clock.advance(OUTBOX_KEPT_FOR + timedelta(minutes=1))  # type: ignore[union-attr]
    recent = (await env.create())["id"]
    with respx.mock:
        respx.post(HOOK).mock(return_value=httpx.Response(200))
        await relay.drain()
    waiting = (await env.create())["id"]  # not delivered yet
    before = await _platform_rows(env)
    assert before == {
        old: DeliveryState.done,
        parked: DeliveryState.failed,
        recent: DeliveryState.done,
        waiting: DeliveryState.pending,
    }

    assert await outbox_sweep(env.db, (Topic.platform,)) == 1
    assert await _platform_rows(env) == {k: v for k, v in before.items() if k != old}
    assert await outbox_sweep(env.db, (Topic.platform,)) == 0  # nothing more to forget


async def test_a_backlog_nobody_drains_is_reported_for_watched_topics_only(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    await env.create()  # a platform event and a card, with no worker running
    env.clock.advance(timedelta(minutes=4))  # type: ignore[union-attr]
    with caplog.at_level(logging.WARNING, logger="baton.scheduler"):
        await outbox_sweep(env.db, tuple(Topic))
    assert caplog.messages == []  # due for 4 minutes: workers may simply be busy

    env.clock.advance(timedelta(minutes=2))  # type: ignore[union-attr]
    with caplog.at_level(logging.WARNING, logger="baton.scheduler"):
        await outbox_sweep(env.db, (Topic.platform,))
    [warning] = caplog.messages
    assert "1 platform deliveries overdue" in warning
    assert "is a worker running" in warning
