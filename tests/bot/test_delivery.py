"""The Slack delivery worker when Slack misbehaves: 500s, 429s, dropped connections,
permanent errors, and a worker that died mid-post. Nothing is lost, nothing doubled."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from api.demo.slack_standin import BOT_USER, Fault, StandIn
from blocks.ids import Action, MoreOption
from bot.client import worker_client
from bot.delivery import SlackDelivery
from bot.pacing import ChannelPacer
from bot.posts import METADATA_TYPE
from storage.clock import ManualClock
from storage.models import DeliveryState, OutboxRow, Topic
from storage.outbox import deliveries
from tests.bot.conftest import ANN, CHANNEL, SlackEnv, eventually, running_slack_env


@pytest.fixture
async def senv(database_url: str, standin: StandIn) -> AsyncIterator[SlackEnv]:
    async with running_slack_env(database_url, standin, manual_clock=True) as environment:
        yield environment


def _clock(senv: SlackEnv) -> ManualClock:
    assert isinstance(senv.env.clock, ManualClock)
    return senv.env.clock


async def _pending_slack(senv: SlackEnv) -> int:
    async with senv.env.db.read() as s:
        stmt = select(func.count()).where(
            OutboxRow.topic == Topic.slack, OutboxRow.state == DeliveryState.pending
        )
        return (await s.execute(stmt)).scalar_one()


async def _only_slack_row(senv: SlackEnv) -> OutboxRow:
    async with senv.env.db.read() as s:
        stmt = select(OutboxRow).where(OutboxRow.topic == Topic.slack)
        return (await s.execute(stmt)).scalar_one()


async def _until_drained(senv: SlackEnv, rounds: int = 30) -> None:
    """Deliver, letting time pass for retries, until the Slack outbox is empty."""
    for _ in range(rounds):
        await senv.deliver()
        if await _pending_slack(senv) == 0:
            return
        _clock(senv).advance(timedelta(minutes=6))
    raise AssertionError("the Slack outbox did not drain")


def _cards(slack: StandIn, esc_id: str) -> list[object]:
    return [
        m
        for m in slack.top_level(CHANNEL)
        if (m.metadata or {}).get("event_payload", {}).get("escalation_id") == esc_id
    ]


async def test_slack_down_for_a_while_then_every_card_once_and_nothing_lost(
    senv: SlackEnv,
) -> None:
    senv.slack.fail("chat.postMessage", Fault(status=500), times=7)
    senv.slack.fail("chat.postMessage", Fault(error="internal_error"), times=3)
    ids = [(await senv.env.create())["id"] for _ in range(5)]
    for esc_id in ids:
        response = await senv.client.post(
            f"/v1/escalations/{esc_id}/messages",
            json={"role": "customer", "content": f"still there? {esc_id}"},
            headers=senv.env.auth,
        )
        assert response.status_code == 201
    await _until_drained(senv)
    for esc_id in ids:
        assert len(_cards(senv.slack, esc_id)) == 1
        thread = json.dumps([m.blocks for m in await senv.replies(esc_id)])
        assert f"still there? {esc_id}" in thread
        assert len(await senv.replies(esc_id)) == 2  # the intro and the customer's message


async def test_rate_limited_post_waits_and_posts_once(senv: SlackEnv) -> None:
    senv.slack.fail("chat.postMessage", Fault(retry_after=1))
    esc_id = (await senv.env.create())["id"]
    await senv.deliver()
    assert _cards(senv.slack, esc_id) == []
    row = await _only_slack_row(senv)
    assert row.attempts == 0  # a 429 is not a failed attempt
    assert row.next_attempt_at >= senv.env.db.clock.now() + timedelta(seconds=1)
    await _until_drained(senv)
    assert len(_cards(senv.slack, esc_id)) == 1
    assert senv.slack.calls_to("conversations.history") == []  # nothing to look for


async def test_connection_dropped_after_the_post_does_not_double_the_card(
    senv: SlackEnv,
) -> None:
    senv.slack.fail("chat.postMessage", Fault(drop_connection=True))
    esc_id = (await senv.env.create())["id"]
    await _until_drained(senv)
    assert len(_cards(senv.slack, esc_id)) == 1
    assert len(senv.slack.calls_to("conversations.history")) == 1
    thread = await senv.thread(esc_id)
    assert thread.thread_ts == _cards(senv.slack, esc_id)[0].ts  # type: ignore[attr-defined]


async def test_thread_post_lost_in_a_dropped_connection_is_not_repeated(senv: SlackEnv) -> None:
    esc_id = (await senv.env.create())["id"]
    await senv.deliver()
    senv.slack.fail("chat.postMessage", Fault(drop_connection=True))
    await senv.client.post(
        f"/v1/escalations/{esc_id}/messages",
        json={"role": "customer", "content": "hello?"},
        headers=senv.env.auth,
    )
    await _until_drained(senv)
    texts = [json.dumps(m.blocks) for m in await senv.replies(esc_id)]
    assert sum("hello?" in t for t in texts) == 1
    assert len(senv.slack.calls_to("conversations.replies")) == 1


async def test_worker_that_died_mid_post_leaves_one_card(senv: SlackEnv) -> None:
    esc_id = (await senv.env.create())["id"]
    # A worker claims the card, posts it, and dies before recording anything.
    (row,) = await deliveries.claim_due(senv.env.db, Topic.slack, "dead-worker", 10)
    senv.slack.handle(
        "chat.postMessage",
        senv.slack.token,
        {
            "channel": CHANNEL,
            "text": "card",
            "blocks": [],
            "metadata": {
                "event_type": METADATA_TYPE,
                "event_payload": {"escalation_id": esc_id, "key": "card"},
            },
        },
    )
    await deliveries.release_claims(senv.env.db, Topic.slack)  # what a restart does
    await _until_drained(senv)
    (card,) = _cards(senv.slack, esc_id)
    assert (await senv.thread(esc_id)).thread_ts == card.ts  # type: ignore[attr-defined]
    assert row.kind == "card.post"


async def test_permanent_error_parks_with_a_clear_log_line_and_metric(
    senv: SlackEnv, caplog: pytest.LogCaptureFixture
) -> None:
    senv.slack.channels[CHANNEL].discard(BOT_USER)  # the bot was removed from the channel
    esc_id = (await senv.env.create())["id"]
    with caplog.at_level(logging.WARNING, logger="baton.slack"):
        await senv.deliver()
    assert _cards(senv.slack, esc_id) == []
    row = await _only_slack_row(senv)
    assert (row.state, row.last_error) == (DeliveryState.failed, "not_in_channel")
    assert any("/invite @Baton" in r.getMessage() for r in caplog.records)
    metrics = (await senv.client.get("/metrics")).text
    assert 'baton_slack_parked_total{error="not_in_channel"} 1.0' in metrics

    # Once the bot is back in the channel, the next change posts the card after all.
    senv.slack.channels[CHANNEL].add(BOT_USER)
    response = await senv.client.patch(
        f"/v1/escalations/{esc_id}", json={"priority": "urgent"}, headers=senv.env.auth
    )
    assert response.status_code == 200, response.text
    await _until_drained(senv)
    assert len(_cards(senv.slack, esc_id)) == 1


async def test_parked_card_replayed_once_the_bot_is_invited(senv: SlackEnv) -> None:
    senv.slack.channels[CHANNEL].discard(BOT_USER)
    esc_id = (await senv.env.create())["id"]
    await senv.deliver()
    senv.slack.channels[CHANNEL].add(BOT_USER)
    assert await deliveries.replay(senv.env.db) == 1  # what `baton deliveries replay` does
    await _until_drained(senv)
    assert len(_cards(senv.slack, esc_id)) == 1
    assert len(await senv.replies(esc_id)) == 1  # the intro, once


async def test_many_changes_make_one_card_update(senv: SlackEnv) -> None:
    esc_id = (await senv.env.create())["id"]
    await senv.deliver()
    for priority in ("urgent", "low", "high", "medium"):
        response = await senv.client.patch(
            f"/v1/escalations/{esc_id}", json={"priority": priority}, headers=senv.env.auth
        )
        assert response.status_code == 200
    await senv.deliver()
    assert len(senv.slack.calls_to("chat.update")) == 1
    assert ":large_yellow_circle: Medium" in json.dumps((await senv.card(esc_id)).blocks)
    assert await _pending_slack(senv) == 0


async def test_take_clicked_while_slack_is_rate_limiting_updates(senv: SlackEnv) -> None:
    esc_id = (await senv.env.create())["id"]
    await senv.deliver()
    senv.slack.fail("chat.update", Fault(retry_after=2), times=2)
    await senv.click(esc_id, ANN, Action.TAKE)
    await eventually(lambda: senv.owner(esc_id))
    await _until_drained(senv)
    assert f"<@{ANN}>" in json.dumps((await senv.card(esc_id)).blocks)
    assert MoreOption.UNASSIGN in json.dumps((await senv.card(esc_id)).blocks)


async def test_pacer_counts_the_interval_from_the_answer_and_queues_posts() -> None:
    now = [100.0]
    pacer = ChannelPacer(1.0, clock=lambda: now[0])

    async def post_next() -> None:
        async with pacer.slot("C1"):
            pass

    async with pacer.slot("C1"):
        now[0] += 0.4  # the post's round trip
        queued = asyncio.create_task(post_next())
        await asyncio.sleep(0)
        assert pacer.wait_for("C1") == 2.0  # the one posting now, then the one queued
    assert pacer.wait_for("C1") == 2.0  # a second after the answer, then the queued one
    assert pacer.wait_for("C2") == 0.0  # another channel has its own pace
    now[0] += 1.0
    await queued
    pacer.hold("C2", 30)
    assert pacer.wait_for("C2") == 30.0


async def test_a_row_that_waited_past_its_lease_is_left_to_the_worker_that_took_it(
    senv: SlackEnv,
) -> None:
    first = (await senv.env.create())["id"]
    second = (await senv.env.create())["id"]
    slack = senv.env.services.slack
    assert slack is not None
    # One place at work, held by the first card's post, which Slack is slow to take.
    worker = SlackDelivery(
        senv.env.db, worker_client(slack), slack.router, pacer=ChannelPacer(0), concurrency=1
    )
    senv.slack.fail("chat.postMessage", Fault(delay=1.0))
    delivering = asyncio.create_task(worker.run_once())

    async def both_claimed() -> bool:
        async with senv.env.db.read() as s:
            rows = await s.execute(select(OutboxRow).where(OutboxRow.topic == Topic.slack))
            return {r.claimed_by for r in rows.scalars()} == {worker.worker_id}

    await eventually(both_claimed, what="both cards claimed")
    # Meanwhile the leases run out, and another replica claims the rows.
    _clock(senv).advance(deliveries.LEASE + timedelta(seconds=1))
    taken = await deliveries.claim_due(senv.env.db, Topic.slack, "slack-other", 16)
    assert {row.escalation_id for row in taken} == {first, second}
    assert await delivering == 2
    await worker.aclose()
    assert len(_cards(senv.slack, first)) == 1  # it was under way: Slack has it
    assert _cards(senv.slack, second) == []  # not begun: left to the replica that has it
    async with senv.env.db.read() as s:
        row = (
            await s.execute(
                select(OutboxRow).where(
                    OutboxRow.escalation_id == second, OutboxRow.topic == Topic.slack
                )
            )
        ).scalar_one()
    assert row.claimed_by == "slack-other" and row.state == DeliveryState.pending


async def test_a_kind_the_worker_does_not_know_is_parked_once_the_card_is_posted(
    senv: SlackEnv,
) -> None:
    esc_id = (await senv.env.create())["id"]
    now = senv.env.db.clock.now()
    async with senv.env.db.write() as s:
        s.add(
            OutboxRow(
                topic=Topic.slack,
                kind="card.frobnicate",
                escalation_id=esc_id,
                next_attempt_at=now,
                created_at=now,
                give_up_at=now + timedelta(hours=24),
            )
        )
    await _until_drained(senv)
    assert len(_cards(senv.slack, esc_id)) == 1  # posted all the same, and once
    async with senv.env.db.read() as s:
        stmt = select(OutboxRow).where(OutboxRow.kind == "card.frobnicate")
        row = (await s.execute(stmt)).scalar_one()
    assert (row.state, row.last_error) == (
        DeliveryState.failed,
        "unknown slack outbox kind 'card.frobnicate'",
    )
