"""Two ``baton serve`` replicas on one PostgreSQL database, behind one Slack and one platform:
200 escalations arrive spread over both, then two or three agents click Take on every card
at once, their clicks landing on either replica. Each escalation gets one card and one
owner, the agents who lost are told who won, and the platform hears of every escalation and
every take exactly once, in order."""

import asyncio
import json
import random
from collections import Counter
from pathlib import Path

import pytest

from api.demo.slack_requests import block_elements
from api.demo.slack_standin import StoredMessage
from blocks import notices
from blocks.ids import Action
from tests.bot.conftest import eventually
from tests.conftest import fresh_pg_database
from tests.faults.stack import (
    AGENTS,
    Replica,
    Stack,
    create_as_a_platform_does,
    new_escalation,
    running_stack,
    send_to_slack,
    until_answered,
)

pytestmark = [pytest.mark.faults, pytest.mark.postgres]

ESCALATIONS = 200
# Requests in flight per client and replica. Each holds a database connection, and the
# local PostgreSQL (max_connections 100) is shared with whatever else runs: a click may
# still be refused ("could not do that just now, please try again"), and then, as a
# person would, the agent clicks again.
IN_FLIGHT = 8
# What this test looks at is who wins, not Slack's three seconds (tests/bot has those):
# 500 clicks at once on two cores may take longer to answer.
CLICK_PATIENCE = 30.0
CLICK_ROUNDS = 5

Click = tuple[str, str]  # escalation id, agent


async def _create_over_both(stack: Stack, replicas: list[Replica]) -> list[str]:
    """Every other escalation through each replica, all at once."""
    apis = [stack.api(r, connections=IN_FLIGHT) for r in replicas]
    try:
        return await asyncio.gather(
            *(
                create_as_a_platform_does(apis[n % len(apis)], new_escalation(n), f"esc-{n}")
                for n in range(ESCALATIONS)
            )
        )
    finally:
        await asyncio.gather(*(api.aclose() for api in apis))


def _who_clicks(channels: dict[str, str]) -> dict[str, list[str]]:
    """Two or three agents per card; nobody clicks two cards in one channel, so whatever
    Baton tells an agent there is about the one card they clicked."""
    rng = random.Random(11)
    by_channel: dict[str, list[str]] = {}
    for esc_id, channel in channels.items():
        by_channel.setdefault(channel, []).append(esc_id)
    clickers = {}
    for cards in by_channel.values():
        counts = [rng.choice((2, 3)) for _ in cards]
        agents = rng.sample(AGENTS, sum(counts))
        for esc_id, count in zip(cards, counts, strict=True):
            clickers[esc_id], agents = agents[:count], agents[count:]
    return clickers


def _told(stack: Stack) -> dict[tuple[str, str], list[str]]:
    """What Baton told each agent in each channel, oldest first."""
    told: dict[tuple[str, str], list[str]] = {}
    for note in list(stack.slack.ephemerals):
        told.setdefault((note.channel, note.user), []).append(note.text)
    return told


async def _owners(stack: Stack, replica: Replica, ids: list[str]) -> dict[str, str]:
    """Each escalation's owner, from its detail, whose audit trail has one take."""
    async with stack.api(replica, connections=IN_FLIGHT) as api:
        found = await asyncio.gather(
            *(until_answered(lambda i=i: api.get(f"/v1/escalations/{i}"), i) for i in ids)
        )
    details = [d.json() for d in found]
    assert all([e["type"] for e in d["events"]].count("taken") == 1 for d in details)
    return {d["id"]: d["assignee"]["id"] for d in details}


async def _click_take(
    stack: Stack, replicas: list[Replica], clickers: dict[str, list[str]]
) -> set[Click]:
    """Every click at once, each to either replica as a load balancer spreads them; then
    those told to try again click again while the card still offers Take. Returns the
    clicks refused last, whose card shows who took it instead."""
    rng = random.Random(12)
    clients = [
        stack.slack_client(r, patience=CLICK_PATIENCE, connections=IN_FLIGHT) for r in replicas
    ]
    sent: Counter[Click] = Counter()
    todo = [(esc_id, agent) for esc_id, agents in clickers.items() for agent in agents]
    try:
        for _ in range(CLICK_ROUNDS):
            rng.shuffle(todo)
            cards = stack.cards()
            requests = [
                stack.signer.block_action_on(cards[i], user=agent, action_id=Action.TAKE)
                for i, agent in todo
            ]
            sent.update(todo)
            answered = await asyncio.gather(
                *(send_to_slack(rng.choice(clients), r) for r in requests)
            )
            assert all(answered)
            refused = await _refused(stack, sent)
            cards = stack.cards()
            todo = [(i, agent) for i, agent in refused if _offers_take(cards[i])]
            if not todo:
                return refused
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    raise AssertionError(f"still refused after {CLICK_ROUNDS} clicks: {todo[:5]}")


def _taken_by(stack: Stack) -> dict[str, str]:
    """Who took each escalation, as the platform heard it."""
    return {
        e.body["data"]["escalation_id"]: e.body["data"]["agent"]["id"]
        for e in stack.platform.delivered()
        if e.body["type"] == "escalation.taken"
    }


async def _refused(stack: Stack, sent: Counter[Click]) -> set[Click]:
    """Waits until each click has had its outcome (taken, as the platform hears, or a
    message to the one who clicked); returns the clicks whose last outcome was "could not
    do that just now"."""
    channel_of = {i: card.channel for i, card in stack.cards().items()}
    owners: dict[str, str] = {}
    told: dict[tuple[str, str], list[str]] = {}

    def all_arrived() -> bool:
        if len(stack.slack.ephemerals) + len(_taken_by(stack)) < sum(sent.values()):
            return False  # a cheap count first: this is polled while Baton works
        owners.update(_taken_by(stack))
        told.update(_told(stack))
        return all(
            len(told.get((channel_of[i], agent), [])) + (owners.get(i) == agent) >= n
            for (i, agent), n in sent.items()
        )

    await eventually(all_arrived, seconds=45, what="an outcome for every click")
    return {
        (i, agent)
        for i, agent in sent
        if owners.get(i) != agent and told[(channel_of[i], agent)][-1] == notices.trouble()
    }


def _offers_take(card: StoredMessage) -> bool:
    return any(
        element.get("action_id") == Action.TAKE
        for block in card.blocks
        for element in block_elements(block)
    )


def _told_who_won(stack: Stack) -> Counter[tuple[str, str, str]]:
    """(channel, agent, winner named) of every "Already taken by" message."""
    told: Counter[tuple[str, str, str]] = Counter()
    for (channel, agent), texts in _told(stack).items():
        for text in texts:
            if text == notices.trouble():
                continue  # they clicked again, or saw the winner on the card
            assert text.startswith(":raising_hand: Already taken by <@"), text
            told[(channel, agent, text.split("<@", 1)[1].split(">", 1)[0])] += 1
    return told


async def test_two_replicas_one_card_one_owner_and_each_event_once(tmp_path: Path) -> None:
    with (
        fresh_pg_database("baton_replicas") as url,
        running_stack(tmp_path, url) as stack,
    ):
        replicas = stack.start_replicas("replica-a", "replica-b")
        ids = await _create_over_both(stack, replicas)
        assert len(set(ids)) == ESCALATIONS
        await stack.settled()  # every card posted, every escalation.created delivered
        channels = {i: card.channel for i, card in stack.cards().items()}
        assert set(channels) == set(ids)
        clickers = _who_clicks(channels)
        refused = await _click_take(stack, replicas, clickers)
        await stack.settled()

        cards = stack.cards()
        assert set(cards) == set(ids)

        owners = await _owners(stack, replicas[1], ids)
        assert all(owners[i] in clickers[i] for i in ids)
        # The card shows the winner; everyone else who clicked was told who won, but for
        # those whose click Baton could not do, who see the winner on the card.
        assert all(f"<@{owners[i]}>" in json.dumps(cards[i].blocks) for i in ids)
        assert _told_who_won(stack) == Counter(
            (channels[i], agent, owners[i])
            for i in ids
            for agent in clickers[i]
            if agent != owners[i] and (i, agent) not in refused
        )

        # Each event once, as the platform sees it (it drops a repeated webhook-id).
        events = stack.events()
        arrived = [(e.body["type"], e.body["data"]["escalation_id"]) for e in events.values()]
        assert Counter(arrived) == Counter(
            {(kind, i): 1 for i in ids for kind in ("escalation.created", "escalation.taken")}
        )
        assert all(
            arrived.index(("escalation.created", i)) < arrived.index(("escalation.taken", i))
            for i in ids
        )
        assert _taken_by(stack) == owners
