"""The relay worker against respx-mocked platforms: signing, retries, order, parking."""

from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from api.relay.platform import Relay, backoff
from storage.models import DeliveryState, OutboxRow, Topic
from storage.outbox import deliveries, worker
from tests.conftest import Env

HOOK = "https://203.0.113.9/hook"


@pytest.fixture
def env(clocked_env: Env) -> Env:
    return clocked_env


async def _rows(env: Env, topic: Topic = Topic.platform) -> list[OutboxRow]:
    async with env.db.read() as s:
        return list(
            (
                await s.execute(
                    select(OutboxRow).where(OutboxRow.topic == topic).order_by(OutboxRow.id)
                )
            ).scalars()
        )


def _verify(env: Env, request: httpx.Request) -> dict[str, Any]:
    return Webhook(env.platform.webhook_secret).verify(request.content, dict(request.headers))


async def _reply(env: Env, esc_id: str, text: str) -> None:
    response = await env.client.post(
        f"/v1/escalations/{esc_id}/reply",
        json={"agent": "U0MINH", "content": text},
        headers=env.auth,
    )
    assert response.status_code == 201, response.text


async def test_delivered_on_the_fourth_attempt_with_one_webhook_id_and_the_schedule(
    env: Env, relay: Relay
) -> None:
    await env.create()
    with respx.mock:
        route = respx.post(HOOK).mock(
            side_effect=[
                httpx.Response(500),
                httpx.Response(502),
                httpx.Response(503),
                httpx.Response(204),
            ]
        )
        start = env.clock.now()
        waits = []
        for _ in range(3):
            assert await relay.run_once() == 1
            (row,) = await _rows(env)
            waits.append(row.next_attempt_at - env.clock.now())
            assert await relay.run_once() == 0  # not due yet
            env.clock.set(row.next_attempt_at)
        assert await relay.run_once() == 1
    # 5 s, 10 s, 20 s: doubling, and (with the jitter pinned at its middle) exactly that.
    assert waits == [timedelta(seconds=5), timedelta(seconds=10), timedelta(seconds=20)]
    assert env.clock.now() - start == timedelta(seconds=35)
    ids = {call.request.headers["webhook-id"] for call in route.calls}
    assert len(route.calls) == 4 and len(ids) == 1
    body = _verify(env, route.calls[-1].request)
    assert body["type"] == "escalation.created"
    assert ids == {(await _rows(env))[0].event_id}
    (row,) = await _rows(env)
    assert row.state == DeliveryState.done and row.attempts == 4


def test_backoff_grows_to_an_hour_with_jitter() -> None:
    assert backoff(1, lambda: 0.0) == timedelta(seconds=4)
    assert backoff(1, lambda: 1.0) == timedelta(seconds=6)
    assert backoff(4, lambda: 0.5) == timedelta(seconds=40)
    assert backoff(30, lambda: 0.5) == timedelta(hours=1)


def test_backoff_stays_at_its_longest_however_many_attempts_failed() -> None:
    """A day of retries: the Slack worker makes hundreds of attempts at its 5-minute longest."""
    assert backoff(300, lambda: 0.5) == timedelta(hours=1)
    slack = worker.backoff(290, timedelta(seconds=1), timedelta(minutes=5), lambda: 0.5)
    assert slack == timedelta(minutes=5)


async def test_replies_arrive_in_order_and_other_escalations_are_not_held_up(
    env: Env, relay: Relay
) -> None:
    first = await env.create()
    second = await env.create()
    await env.client.post(
        f"/v1/escalations/{first['id']}/take", json={"agent": "U0MINH"}, headers=env.auth
    )
    for n in range(5):
        await _reply(env, first["id"], f"reply {n}")
    seen: list[tuple[str, str]] = []
    failed_once: set[str] = set()

    def platform(request: httpx.Request) -> httpx.Response:
        body = _verify(env, request)
        webhook_id = request.headers["webhook-id"]
        if body["data"]["escalation_id"] == first["id"] and webhook_id not in failed_once:
            failed_once.add(webhook_id)  # every event of the first escalation fails once
            return httpx.Response(503)
        label = body["data"].get("message", {}).get("content", body["type"])
        seen.append((body["data"]["escalation_id"], label))
        return httpx.Response(200)

    with respx.mock:
        respx.post(HOOK).mock(side_effect=platform)
        await relay.run_once()
        # The second escalation went through while the first one's head is waiting.
        assert seen == [(second["id"], "escalation.created")]
        for _ in range(40):
            env.clock.advance(timedelta(seconds=30))
            await relay.drain()
    mine = [label for esc, label in seen if esc == first["id"]]
    assert mine == ["escalation.created", "escalation.taken"] + [f"reply {n}" for n in range(5)]


async def test_retry_after_is_honoured(env: Env, relay: Relay) -> None:
    await env.create()
    with respx.mock:
        respx.post(HOOK).mock(return_value=httpx.Response(429, headers={"Retry-After": "120"}))
        await relay.run_once()
    (row,) = await _rows(env)
    assert row.next_attempt_at - env.clock.now() == timedelta(seconds=120)
    assert row.last_error == "HTTP 429"


async def test_410_gone_parks_at_once(env: Env, relay: Relay) -> None:
    await env.create()
    with respx.mock:
        route = respx.post(HOOK).mock(return_value=httpx.Response(410))
        await relay.run_once()
        env.clock.advance(timedelta(days=2))
        assert await relay.run_once() == 0
    assert len(route.calls) == 1
    (row,) = await _rows(env)
    assert row.state == DeliveryState.failed
    assert "410" in (row.last_error or "")


async def test_failing_for_a_day_parks_it_and_replay_delivers_it(env: Env, relay: Relay) -> None:
    await env.create()
    start = env.clock.now()
    with respx.mock:
        route = respx.post(HOOK).mock(return_value=httpx.Response(500))
        while (await _rows(env))[0].state == DeliveryState.pending:
            await relay.run_once()
            env.clock.set(max(env.clock.now(), (await _rows(env))[0].next_attempt_at))
        attempts = len(route.calls)
    (row,) = await _rows(env)
    assert row.state == DeliveryState.failed
    assert env.clock.now() - start >= timedelta(hours=24)
    assert 25 <= attempts <= 40  # doubling to an hour, then hourly, for a day
    assert await relay.run_once() == 0  # parked: left alone
    assert [r.id for r in await deliveries.list_deliveries(env.db, failed_only=True)] == [row.id]

    assert await deliveries.replay(env.db) == 1
    with respx.mock:
        respx.post(HOOK).mock(return_value=httpx.Response(200))
        assert await relay.run_once() == 1
    (row,) = await _rows(env)
    assert row.state == DeliveryState.done


async def test_a_callback_that_now_resolves_to_a_private_address_is_not_called(
    env: Env,
) -> None:
    from storage.platforms import add_platform

    async def rebinding_dns(host: str, port: int) -> list[str]:
        return ["10.0.0.7"]  # registered as public; DNS now points inside

    other = await add_platform(env.db, env.services.box, "rebinder", "https://hooks.evil.example/x")
    relay = Relay(env.db, env.services.box, allow_private=False, resolver=rebinding_dns)
    try:
        await env.create(auth={"Authorization": f"Bearer {other.api_key}"})
        with respx.mock(assert_all_called=False) as mock:
            route = mock.route().mock(return_value=httpx.Response(200))
            await relay.run_once()
        assert not route.called
        (row,) = await _rows(env)
        assert row.state == DeliveryState.pending
        assert "10.0.0.7 is a private address" in (row.last_error or "")
    finally:
        await relay.aclose()


async def test_the_agent_sees_whether_a_reply_reached_the_customer(env: Env, relay: Relay) -> None:
    esc = await env.create()
    await env.client.post(
        f"/v1/escalations/{esc['id']}/take", json={"agent": "U0MINH"}, headers=env.auth
    )
    await _reply(env, esc["id"], "first")
    platform_up = False

    def platform(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503 if b"first" in request.content and not platform_up else 200)

    with respx.mock:
        respx.post(HOOK).mock(side_effect=platform)
        await relay.drain()  # created and taken delivered; the reply fails once
        platform_up = True
        env.clock.advance(timedelta(minutes=1))
        await relay.drain()
    statuses = [
        (r.kind, r.payload.get("state"))
        for r in await _rows(env, Topic.slack)
        if r.kind == "reply.status"
    ]
    assert statuses == [("reply.status", "retrying"), ("reply.status", "delivered")]
