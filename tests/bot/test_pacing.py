"""Slack's pace, kept by the worker: the stand-in holds each channel to one chat.postMessage
per interval, counted as posts arrive, and answers an early one with a 429. Every post is
made once, none draws a 429, and a busy channel does not hold up the others."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest

from api.config import ApiSection, Config, RoutingRule
from api.demo.slack_standin import Fault, StandIn
from bot.client import worker_client
from bot.delivery import SlackDelivery
from bot.pacing import ChannelPacer
from tests.bot.conftest import (
    CHANNEL,
    SlackEnv,
    eventually,
    running_slack_env,
    running_standin,
)

INTERVAL = 0.25
QUIET = ["C0QUIET1", "C0QUIET2", "C0QUIET3"]
RULES = [RoutingRule(customer_channel=[c.lower()], slack_channel=c) for c in QUIET]


@pytest.fixture
def paced_slack() -> Iterator[StandIn]:
    with running_standin(*QUIET, post_interval=INTERVAL) as server:
        yield server


@pytest.fixture
async def senv(database_url: str, paced_slack: StandIn) -> AsyncIterator[SlackEnv]:
    config = Config(api=ApiSection(rate_limit=0), routing=RULES)
    async with running_slack_env(database_url, paced_slack, config=config) as environment:
        yield environment


@contextlib.asynccontextmanager
async def working(senv: SlackEnv, *, concurrency: int = 16) -> AsyncIterator[SlackDelivery]:
    """The Slack worker running on its own, pacing posts as in production."""
    slack = senv.env.services.slack
    assert slack is not None
    worker = SlackDelivery(
        senv.env.db,
        worker_client(slack),
        slack.router,
        pacer=ChannelPacer(INTERVAL),
        concurrency=concurrency,
        poll_interval=0.1,
    )
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await worker.aclose()


def posts(slack: StandIn) -> int:
    """Messages Slack holds: a card and its transcript in the thread per escalation."""
    return len(slack.messages)


async def every_card_and_transcript(senv: SlackEnv, ids: list[str]) -> None:
    await eventually(lambda: posts(senv.slack) == 2 * len(ids), 30, "every post")
    for esc_id in ids:
        thread = await senv.thread(esc_id)
        assert len(senv.slack.thread(thread.channel_id, thread.thread_ts)) == 1


async def test_a_burst_to_one_channel_keeps_the_pace_and_draws_no_429(senv: SlackEnv) -> None:
    ids = [(await senv.env.create())["id"] for _ in range(8)]
    async with working(senv):
        await every_card_and_transcript(senv, ids)
    # A 429 would have been retried: one call per post means none was refused.
    assert len(senv.slack.calls_to("chat.postMessage")) == 16


async def test_a_post_held_up_on_the_way_does_not_make_the_next_one_early(
    senv: SlackEnv,
) -> None:
    # Every other post reaches Slack most of an interval after it was sent. Spaced by the
    # time they were sent, the post after each of those would arrive too soon.
    senv.slack.fail("chat.postMessage", Fault(delay=0.8 * INTERVAL), times=4, every=2)
    ids = [(await senv.env.create())["id"] for _ in range(4)]
    async with working(senv):
        await every_card_and_transcript(senv, ids)
    assert len(senv.slack.calls_to("chat.postMessage")) == 8


async def test_a_busy_channel_does_not_hold_up_the_others(senv: SlackEnv) -> None:
    busy = [(await senv.env.create())["id"] for _ in range(12)]
    quiet = [(await senv.env.create(channel=c.lower()))["id"] for c in QUIET]
    async with working(senv, concurrency=2):
        await every_card_and_transcript(senv, busy + quiet)
    # The busy channel takes 24 intervals; the quiet ones were served within its first few,
    # though their rows came after all of the busy channel's.
    arrivals = [c.params["channel"] for c in senv.slack.calls_to("chat.postMessage")]
    quiet_done = max(i for i, channel in enumerate(arrivals) if channel != CHANNEL)
    busy_before = arrivals[:quiet_done].count(CHANNEL)
    assert busy_before <= 8, arrivals
    assert len(arrivals) == 30
