"""Stopping a worker: a delivery under way is let finish, not cut short and sent again after
the restart; one that cannot finish in time is handed back at once, to be sent again
(under the same webhook-id) without waiting out its lease."""

import asyncio
import contextlib

import httpx
import respx
from sqlalchemy import select

from api.relay.platform import Relay
from storage.models import DeliveryState, OutboxRow, Topic
from tests.conftest import Env

HOOK = "https://203.0.113.9/hook"


async def _only_row(env: Env) -> OutboxRow:
    async with env.db.read() as s:
        return (await s.execute(select(OutboxRow).where(OutboxRow.topic == Topic.platform))).one()[
            0
        ]


async def _stop_while_delivering(relay: Relay, started: asyncio.Event, grace: float) -> None:
    running = asyncio.create_task(relay.run())
    await asyncio.wait_for(started.wait(), 10)
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    await relay.aclose(grace)


async def test_a_delivery_under_way_is_let_finish(clocked_env: Env) -> None:
    env = clocked_env
    await env.create()
    started = asyncio.Event()

    async def slow_platform(request: httpx.Request) -> httpx.Response:
        started.set()
        await asyncio.sleep(0.3)
        return httpx.Response(200)

    relay = Relay(env.db, env.services.box, allow_private=True)
    with respx.mock:
        route = respx.post(HOOK).mock(side_effect=slow_platform)
        await _stop_while_delivering(relay, started, grace=10)
    assert route.call_count == 1
    assert (await _only_row(env)).state == DeliveryState.done


async def test_a_delivery_cut_short_is_handed_back_at_once(clocked_env: Env) -> None:
    env = clocked_env
    await env.create()
    started = asyncio.Event()
    webhook_ids: list[str] = []

    async def stuck_platform(request: httpx.Request) -> httpx.Response:
        webhook_ids.append(request.headers["webhook-id"])
        started.set()
        await asyncio.sleep(60)
        return httpx.Response(200)

    with respx.mock:
        respx.post(HOOK).mock(side_effect=stuck_platform)
        await _stop_while_delivering(
            Relay(env.db, env.services.box, allow_private=True), started, grace=0.2
        )
    row = await _only_row(env)
    assert row.state == DeliveryState.pending and row.claimed_until is None

    # The clock has not moved: without the hand-back, the lease would hold the row 30 s.
    def platform_back(request: httpx.Request) -> httpx.Response:
        webhook_ids.append(request.headers["webhook-id"])
        return httpx.Response(200)

    after_restart = Relay(env.db, env.services.box, allow_private=True)
    try:
        with respx.mock:
            respx.post(HOOK).mock(side_effect=platform_back)
            assert await after_restart.run_once() == 1
    finally:
        await after_restart.aclose()
    assert (await _only_row(env)).state == DeliveryState.done
    assert len(webhook_ids) == 2 and webhook_ids[0] == webhook_ids[1]
