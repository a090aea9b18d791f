"""A card whose routed channel refuses it (the bot is not in it, there is no such channel,
it is archived) goes to the escalation channel with a line saying why, and the managers
are told once per channel; it is never only parked while the customer waits."""

import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from api.config import ApiSection, Config, RoutingRule
from api.demo.slack_standin import BOT_USER, Fault, StandIn, StoredMessage
from bot.client import worker_client
from bot.delivery import SlackDelivery
from storage.clock import ManualClock
from storage.models import DeliveryState, OutboxRow, Priority, Reason, Topic
from tests.bot.conftest import (
    ANN,
    BOB,
    CHANNEL,
    MANAGERS,
    SlackEnv,
    eventually,
    people,
    running_slack_env,
)

BILLING, GHOST, OLD = "C0BILLING", "C0GHOST", "C0OLD"
RULES = [
    RoutingRule(priority=[Priority.urgent], slack_channel=BILLING),  # the bot is not in it
    RoutingRule(reason=[Reason.keyword], slack_channel=GHOST),  # no such channel
    RoutingRule(priority=[Priority.low], slack_channel=OLD),  # archived
]
NOT_IN_BILLING = (
    f":twisted_rightwards_arrows: Routed to <#{BILLING}>, but Baton is not in that channel: "
    "invite it there with `/invite @baton`. Until then, cards routed there come here."
)


@pytest.fixture
def slack() -> Iterator[StandIn]:
    users = people()
    channels = {
        CHANNEL: {BOT_USER, *users},
        MANAGERS: {BOT_USER, BOB},
        BILLING: {ANN, BOB},
        OLD: {BOT_USER},
    }
    server = StandIn(channels=channels, users=users).start()
    yield server
    server.stop()


@pytest.fixture
async def senv(database_url: str, slack: StandIn) -> AsyncIterator[SlackEnv]:
    config = Config(api=ApiSection(rate_limit=0), routing=RULES)
    async with running_slack_env(
        database_url, slack, config=config, managers_channel=MANAGERS
    ) as env:
        yield env


def card_text(card: StoredMessage) -> str:
    return json.dumps(card.blocks, ensure_ascii=False)


def told(slack: StandIn) -> list[StoredMessage]:
    return slack.top_level(MANAGERS)


async def rerouted_events(senv: SlackEnv, esc_id: str) -> list[dict[str, Any]]:
    response = await senv.client.get(f"/v1/escalations/{esc_id}", headers=senv.env.auth)
    assert response.status_code == 200, response.text
    return [e["data"] for e in response.json()["events"] if e["type"] == "card_rerouted"]


async def test_a_card_for_a_channel_without_the_bot_comes_here_saying_why(
    senv: SlackEnv,
) -> None:
    first = (await senv.env.create(priority="urgent"))["id"]
    second = (await senv.env.create(priority="urgent"))["id"]
    await senv.deliver()  # both cards at once, as the worker takes them

    for esc_id in (first, second):
        thread = await senv.thread(esc_id)
        assert thread.channel_id == CHANNEL
        card = await senv.card(esc_id)
        assert NOT_IN_BILLING in card_text(card)
        assert len(await senv.replies(esc_id)) >= 1  # the transcript, in its thread
    assert senv.slack.top_level(BILLING) == []

    (notice,) = told(senv.slack)
    said = card_text(notice)
    assert f"Cards routed to <#{BILLING}> are being posted in <#{CHANNEL}> instead" in said
    assert "invite it there with `/invite @baton`" in said
    assert "Open the card" in said
    events = await rerouted_events(senv, first) + await rerouted_events(senv, second)
    assert [(e["channel"], e["error"], e["posted_in"]) for e in events] == [
        (BILLING, "not_in_channel", CHANNEL)
    ] * 2
    assert sorted(e["managers_told"] for e in events) == [False, True]

    # The card works where it is: Take, then the owner's reply reaches the customer.
    await senv.take(first, ANN)
    card = await senv.card(first)
    assert f"<@{ANN}>" in card_text(card)
    assert NOT_IN_BILLING in card_text(card)  # the update keeps the line
    await senv.say(first, ANN, "Hi, I'm on it")

    async def relayed() -> bool:
        return "escalation.message" in await senv.platform_events(first)

    await eventually(relayed, what="the owner's reply at the platform")


async def test_managers_hear_once_per_channel_across_restarts_and_again_if_it_breaks_anew(
    senv: SlackEnv,
) -> None:
    await senv.escalate(priority="urgent")
    assert len(told(senv.slack)) == 1

    # A new worker (a restarted process) has only the database to remember by.
    await senv.delivery.aclose()
    slack = senv.env.services.slack
    assert slack is not None
    senv.delivery = SlackDelivery(
        senv.env.db, worker_client(slack), slack.router, managers_channel=MANAGERS
    )
    later = await senv.escalate(priority="urgent")
    assert (await senv.thread(later)).channel_id == CHANNEL
    assert NOT_IN_BILLING in card_text(await senv.card(later))
    assert len(told(senv.slack)) == 1

    # Someone invites the bot: cards go to the routed channel again.
    senv.slack.channels[BILLING].add(BOT_USER)
    fixed = await senv.escalate(priority="urgent")
    assert (await senv.thread(fixed)).channel_id == BILLING
    assert "Routed to" not in card_text(await senv.card(fixed))

    # Removed again later: that is news for the managers.
    senv.slack.channels[BILLING].discard(BOT_USER)
    await senv.escalate(priority="urgent")
    assert len(told(senv.slack)) == 2


@pytest.mark.parametrize(
    ("fields", "channel", "reason"),
    [
        (
            {"reason": "keyword", "priority": "high"},
            GHOST,
            "Baton cannot find that channel: check the routing rule's channel id, or, for a "
            "private channel, invite Baton there with `/invite @baton`",
        ),
        ({"priority": "low"}, OLD, "that channel is archived"),
    ],
)
async def test_a_missing_or_archived_channel_sends_its_cards_here_too(
    senv: SlackEnv, fields: dict[str, str], channel: str, reason: str
) -> None:
    if channel == OLD:  # Slack answers is_archived for a post in an archived channel
        senv.slack.fail("chat.postMessage", Fault(error="is_archived"))
    esc_id = await senv.escalate(**fields)
    assert (await senv.thread(esc_id)).channel_id == CHANNEL
    assert f"Routed to <#{channel}>, but {reason}" in card_text(await senv.card(esc_id))
    (notice,) = told(senv.slack)
    assert reason in card_text(notice)


async def test_if_the_escalation_channel_refuses_too_the_card_parks_and_the_log_says_both(
    senv: SlackEnv, caplog: pytest.LogCaptureFixture
) -> None:
    senv.slack.channels[CHANNEL].discard(BOT_USER)
    with caplog.at_level(logging.WARNING, logger="baton.slack"):
        esc_id = (await senv.env.create(priority="urgent"))["id"]
        await senv.deliver()
    async with senv.env.db.read() as s:
        (row,) = (
            await s.execute(
                select(OutboxRow).where(
                    OutboxRow.topic == Topic.slack, OutboxRow.escalation_id == esc_id
                )
            )
        ).scalars()
    assert row.state == DeliveryState.failed
    assert row.last_error == (
        f"not_in_channel in {CHANNEL} (the escalation channel) too, after not_in_channel in "
        f"{BILLING}"
    )
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert f"cannot post the card of {esc_id} in {BILLING}" in logged
    assert "to fix: invite the bot to the channel (/invite @Baton)" in logged
    assert told(senv.slack) == []
    assert senv.slack.top_level(CHANNEL) == []


async def test_a_lost_answer_to_the_rerouted_post_does_not_post_it_twice(
    database_url: str, slack: StandIn
) -> None:
    config = Config(api=ApiSection(rate_limit=0), routing=RULES)
    async with running_slack_env(
        database_url, slack, config=config, managers_channel=MANAGERS, manual_clock=True
    ) as senv:
        # Billing refuses; the post in the escalation channel is made, its answer lost.
        slack.faults["chat.postMessage"] = deque([None, Fault(drop_connection=True)])
        esc_id = (await senv.env.create(priority="urgent"))["id"]
        for _ in range(5):
            await senv.deliver()
            clock = senv.env.clock
            assert isinstance(clock, ManualClock)
            clock.advance(timedelta(minutes=6))
        (card,) = slack.top_level(CHANNEL)
        assert (await senv.thread(esc_id)).thread_ts == card.ts
        assert NOT_IN_BILLING in card_text(card)
        assert len(told(slack)) == 1
        assert len(await rerouted_events(senv, esc_id)) == 1


async def test_a_reply_before_the_rerouted_card_is_recorded_keeps_its_line_and_notice(
    senv: SlackEnv,
) -> None:
    # Billing refuses the card; its post in the escalation channel is made, unanswered.
    senv.slack.faults["chat.postMessage"] = deque([None, Fault(drop_connection=True)])
    esc_id = (await senv.env.create(priority="urgent"))["id"]
    await senv.delivery.run_once()
    [card] = senv.slack.top_level(CHANNEL)
    reply = senv.slack.post_as_user(CHANNEL, ANN, "I'll look", card.ts)
    assert (await senv.send(senv.signer.message_event_for(reply))).status_code == 200
    assert (await senv.thread(esc_id)).thread_ts == card.ts  # the reply recorded the thread

    async def managers_told() -> bool:
        await senv.deliver()  # the card's own row retries after its back-off, then the notice
        return len(told(senv.slack)) == 1

    await eventually(managers_told, what="the managers' notice")
    assert [m.ts for m in senv.slack.top_level(CHANNEL)] == [card.ts]
    assert [e["channel"] for e in await rerouted_events(senv, esc_id)] == [BILLING]
    assert NOT_IN_BILLING in card_text(senv.slack.messages[(CHANNEL, card.ts)])
