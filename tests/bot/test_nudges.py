"""The inactivity reminder: the owner of a taken escalation whose customer has waited on
them for the configured quiet time gets one DM per quiet period, whoever sweeps."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from api.config import ApiSection, Config
from api.demo.slack_standin import Fault, StandIn
from bot.manifest import bot_scopes
from scheduler.jobs import owner_nudges
from storage.clock import ManualClock
from storage.database import Database
from storage.models import DeliveryState, Event, OutboxRow
from storage.outbox.rows import SlackEffect
from tests.bot.conftest import (
    ANN,
    BOB,
    SlackEnv,
    eventually,
    running_slack_env,
    running_standin,
)

QUIET = timedelta(minutes=10)


@pytest.fixture
async def senv(database_url: str, standin: StandIn) -> AsyncIterator[SlackEnv]:
    async with running_slack_env(
        database_url,
        standin,
        config=Config(api=ApiSection(rate_limit=0)),
        manual_clock=True,
    ) as environment:
        assert isinstance(environment.env.clock, ManualClock)
        environment.env.clock.set(datetime(2026, 11, 24, 3, 0, tzinfo=UTC))
        yield environment


def _clock(senv: SlackEnv) -> ManualClock:
    assert isinstance(senv.env.clock, ManualClock)
    return senv.env.clock


async def _sweep(senv: SlackEnv) -> int:
    sent = await owner_nudges(senv.env.db, QUIET)
    await senv.deliver()
    return sent


def _dms(senv: SlackEnv, user: str) -> list[str]:
    return [m.text for m in senv.slack.top_level(f"D{user}")]


async def _customer_writes(senv: SlackEnv, esc_id: str, text: str) -> None:
    response = await senv.client.post(
        f"/v1/escalations/{esc_id}/messages",
        json={"role": "customer", "content": text},
        headers=senv.env.auth,
    )
    assert response.status_code == 201, response.text


async def test_the_owner_is_nudged_once_per_quiet_period(senv: SlackEnv) -> None:
    esc = await senv.escalate(customer={"id": "c1", "name": "Lan"})
    await senv.take(esc, ANN)

    _clock(senv).advance(QUIET - timedelta(seconds=1))
    assert await _sweep(senv) == 0
    _clock(senv).advance(timedelta(seconds=1))
    assert await _sweep(senv) == 1
    [dm] = _dms(senv, ANN)
    assert "Lan has been waiting on you for 10 min" in dm
    [message] = senv.slack.top_level(f"D{ANN}")
    card = await senv.card(esc)
    assert f"/archives/{card.channel}/p{card.ts.replace('.', '')}|the thread>" in str(
        message.blocks
    )

    _clock(senv).advance(QUIET * 3)
    assert await _sweep(senv) == 0  # still quiet, but this period was nudged already

    await _customer_writes(senv, esc, "Hello? Anyone there?")
    _clock(senv).advance(QUIET)
    assert await _sweep(senv) == 1  # the customer wrote again: a new quiet period
    assert len(_dms(senv, ANN)) == 2


async def test_a_reply_stops_the_clock_until_the_customer_writes(senv: SlackEnv) -> None:
    esc = await senv.escalate()
    await senv.take(esc, ANN)
    _clock(senv).advance(QUIET / 2)
    await senv.say(esc, ANN, "Hi, looking into it now")

    async def relayed() -> bool:
        return "escalation.message" in await senv.platform_events(esc)

    await eventually(relayed, what="the reply to be relayed")
    _clock(senv).advance(QUIET * 2)
    assert await _sweep(senv) == 0  # the customer has an answer; nobody waits on ANN

    await _customer_writes(senv, esc, "Thanks! Any news?")
    _clock(senv).advance(QUIET / 2)
    await _customer_writes(senv, esc, "Still there?")  # the clock runs from the first one
    _clock(senv).advance(QUIET / 2)
    assert await _sweep(senv) == 1
    assert _dms(senv, ANN) and "waiting on you for 10 min" in _dms(senv, ANN)[0]


async def test_a_new_owner_gets_a_fresh_quiet_period_and_the_old_one_no_nudge(
    senv: SlackEnv,
) -> None:
    esc = await senv.escalate()
    await senv.take(esc, ANN)
    _clock(senv).advance(QUIET - timedelta(minutes=1))
    response = await senv.client.patch(
        f"/v1/escalations/{esc}", json={"assignee": BOB}, headers=senv.env.auth
    )
    assert response.status_code == 200, response.text
    _clock(senv).advance(timedelta(minutes=1))
    assert await _sweep(senv) == 0
    _clock(senv).advance(QUIET)
    assert await _sweep(senv) == 1
    assert _dms(senv, ANN) == [] and len(_dms(senv, BOB)) == 1


async def test_no_nudge_once_the_escalation_has_ended(senv: SlackEnv) -> None:
    esc = await senv.escalate()
    await senv.take(esc, ANN)
    response = await senv.client.post(
        f"/v1/escalations/{esc}/return", json={"agent": ANN}, headers=senv.env.auth
    )
    assert response.status_code == 200
    _clock(senv).advance(QUIET * 2)
    assert await _sweep(senv) == 0
    assert _dms(senv, ANN) == []


async def test_a_nudge_for_an_owner_who_left_since_is_not_delivered(senv: SlackEnv) -> None:
    esc = await senv.escalate()
    await senv.take(esc, ANN)
    _clock(senv).advance(QUIET)
    assert await owner_nudges(senv.env.db, QUIET) == 1  # written, not yet delivered
    response = await senv.client.post(
        f"/v1/escalations/{esc}/return", json={"agent": ANN}, headers=senv.env.auth
    )
    assert response.status_code == 200
    await senv.deliver()
    assert _dms(senv, ANN) == []


async def test_concurrent_sweepers_nudge_once(senv: SlackEnv, database_url: str) -> None:
    escalations = [await senv.escalate() for _ in range(5)]
    for esc in escalations:
        await senv.take(esc, ANN)
    _clock(senv).advance(QUIET)
    sweepers = [Database(database_url, clock=senv.env.clock) for _ in range(3)]
    try:
        counts = await asyncio.gather(*(owner_nudges(db, QUIET) for db in sweepers))
    finally:
        for db in sweepers:
            await db.dispose()
    assert sum(counts) == 5
    async with senv.env.db.read() as s:
        nudged = await s.execute(
            select(Event.escalation_id, func.count())
            .where(Event.type == "owner_nudged")
            .group_by(Event.escalation_id)
        )
        assert dict(nudged.all()) == dict.fromkeys(escalations, 1)
    await senv.deliver()
    assert len(_dms(senv, ANN)) == 5


async def test_the_nudge_goes_out_with_the_manifests_scopes_and_posts_by_user_id(
    senv: SlackEnv,
) -> None:
    """The stand-in grants exactly the manifest's scopes, as a workspace that installed it
    does: the DM is a chat.postMessage to the owner's id, with no DM to open first."""
    assert set(senv.slack.scopes) == set(bot_scopes())
    esc = await senv.escalate(customer={"id": "c1", "name": "Lan"})
    await senv.take(esc, ANN)
    _clock(senv).advance(QUIET)
    assert await _sweep(senv) == 1
    [dm] = _dms(senv, ANN)
    assert "Lan has been waiting on you for 10 min" in dm
    assert senv.slack.calls_to("conversations.open") == []
    assert [c.params["channel"] for c in senv.slack.calls_to("chat.postMessage")][-1] == ANN


async def test_a_nudge_whose_answer_was_lost_is_not_sent_twice(senv: SlackEnv) -> None:
    """Slack posted the DM but the answer never came back: the retry looks in the DM (found
    with conversations.open, which im:write allows) and does not post it again."""
    esc = await senv.escalate()
    await senv.take(esc, ANN)
    _clock(senv).advance(QUIET)
    assert await owner_nudges(senv.env.db, QUIET) == 1
    senv.slack.fail("chat.postMessage", Fault(drop_connection=True))
    for _ in range(5):
        await senv.deliver()
        _clock(senv).advance(timedelta(minutes=6))
    assert len(_dms(senv, ANN)) == 1
    [opened] = senv.slack.calls_to("conversations.open")
    assert opened.params["users"] == ANN
    assert [c.params["channel"] for c in senv.slack.calls_to("conversations.history")] == [
        f"D{ANN}"
    ]
    async with senv.env.db.read() as s:
        kind = OutboxRow.kind == SlackEffect.OWNER_NUDGE
        states = (await s.execute(select(OutboxRow.state).where(kind))).scalars().all()
    assert states == [DeliveryState.done]


async def test_without_im_write_a_first_nudge_still_reaches_the_owner(
    database_url: str,
) -> None:
    """chat:write alone posts a DM; only a retry's look for an earlier post needs im:write."""
    granted = [s for s in bot_scopes() if s != "im:write"]
    with running_standin(scopes=granted) as slack:
        async with running_slack_env(
            database_url,
            slack,
            config=Config(api=ApiSection(rate_limit=0)),
            manual_clock=True,
        ) as senv:
            esc = await senv.escalate()
            await senv.take(esc, ANN)
            _clock(senv).advance(QUIET)
            assert await _sweep(senv) == 1
            assert len(_dms(senv, ANN)) == 1
