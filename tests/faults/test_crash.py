"""SIGKILL in the middle of a burst: ``baton serve`` dies while 100 escalations arrive from
the platform and 50 agent replies arrive from Slack. The clients then do what real ones do
with a request that got no answer (the platform retries with the same Idempotency-Key, Slack
redelivers the event), and after the restart every escalation and every reply is there
exactly once.

On the embedded SQLite database, the default deployment. On PostgreSQL a restarted server
waits out the 30-second leases of whatever the dead one held (idempotency keys, outbox
rows), as any replica must, which puts the same test past a minute.
"""

import asyncio
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from blocks.ids import Action
from tests.bot.conftest import eventually
from tests.faults.stack import (
    AGENTS,
    Replica,
    Stack,
    create_as_a_platform_does,
    created_id,
    new_escalation,
    redeliver,
    running_stack,
    send_to_slack,
)
from tests.slack_requests import SlackRequest

pytestmark = pytest.mark.faults

CREATES, REPLIES = 100, 50
KILL_AFTER = 50  # answers to the burst's CREATES + REPLIES requests


@dataclass
class Create:
    """A create in the burst: its body and Idempotency-Key, and the escalation's id once
    answered."""

    body: dict[str, Any]
    key: str
    esc_id: str | None = None  # once answered


@dataclass
class Reply:
    """An owner's reply in the card's thread, and the event Slack sends for it."""

    esc_id: str
    agent: str
    text: str
    channel: str
    ts: str
    request: SlackRequest
    acked: bool = False


async def _taken_escalations(stack: Stack, baton: Replica) -> dict[str, str]:
    """``REPLIES`` escalations, each taken on its card by an agent: escalation id → agent.
    Getting there is not under test: the clicks wait as long as the machine needs."""
    async with stack.api(baton) as api, stack.slack_client(baton, patience=30) as slack:
        created = await asyncio.gather(
            *(api.post("/v1/escalations", json=new_escalation(n)) for n in range(REPLIES))
        )
        ids = [created_id(r) for r in created]
        await stack.settled()  # the cards are posted
        owners = {esc_id: AGENTS[n % len(AGENTS)] for n, esc_id in enumerate(ids)}
        cards = stack.cards()
        clicks = [
            stack.signer.block_action_on(cards[esc_id], user=agent, action_id=Action.TAKE)
            for esc_id, agent in owners.items()
        ]
        assert all(await asyncio.gather(*(send_to_slack(slack, c) for c in clicks)))

        async def all_owned() -> bool:
            page = await api.get("/v1/escalations", params={"status": "taken", "limit": 100})
            return {e["id"]: e["assignee"]["id"] for e in page.json()["data"]} == owners

        await eventually(all_owned, seconds=45, what="every escalation taken by its agent")
    return owners


def _replies(stack: Stack, owners: dict[str, str]) -> list[Reply]:
    """Each owner writes in the card's thread; the events Slack will send are built."""
    replies = []
    cards = stack.cards()
    for n, (esc_id, agent) in enumerate(owners.items()):
        card = cards[esc_id]
        text = f"Reply {n}: I'm on it"
        msg = stack.slack.post_as_user(card.channel, agent, text, card.ts)
        request = stack.signer.message_event_for(msg)
        replies.append(Reply(esc_id, agent, text, card.channel, msg.ts, request))
    return replies


async def _burst_and_kill(
    baton: Replica,
    api: httpx.AsyncClient,
    slack: httpx.AsyncClient,
    creates: list[Create],
    replies: list[Reply],
) -> None:
    """Every create and reply at once, shuffled; SIGKILL once ``KILL_AFTER`` have been
    answered."""
    answered = 0

    async def create(c: Create) -> None:
        nonlocal answered
        try:
            answer = await api.post(
                "/v1/escalations", json=c.body, headers={"Idempotency-Key": c.key}
            )
        except httpx.TransportError:
            return  # the server died first: the platform retries this create after the restart
        c.esc_id = created_id(answer)
        answered += 1

    async def reply(r: Reply) -> None:
        nonlocal answered
        r.acked = await send_to_slack(slack, r.request)
        answered += r.acked

    work = [*(create(c) for c in creates), *(reply(r) for r in replies)]
    random.Random(7).shuffle(work)
    tasks = [asyncio.create_task(w) for w in work]
    await eventually(lambda: answered >= KILL_AFTER, seconds=45, what="the burst's answers")
    baton.kill()
    await asyncio.gather(*tasks)


async def _retry_what_got_no_answer(
    stack: Stack, baton: Replica, creates: list[Create], replies: list[Reply]
) -> None:
    async with stack.api(baton) as api, stack.slack_client(baton) as slack:
        again = [c for c in creates if c.esc_id is None]
        ids = await asyncio.gather(*(create_as_a_platform_does(api, c.body, c.key) for c in again))
        for c, esc_id in zip(again, ids, strict=True):
            c.esc_id = esc_id
        unacked = [r for r in replies if not r.acked]
        await asyncio.gather(*(redeliver(slack, stack.signer, r.request) for r in unacked))


async def test_sigkill_in_a_burst_of_creates_and_replies_loses_and_doubles_nothing(
    tmp_path: Path,
) -> None:
    with running_stack(tmp_path, f"sqlite:///{tmp_path}/baton.db") as stack:
        baton = stack.start()
        owners = await _taken_escalations(stack, baton)
        replies = _replies(stack, owners)
        async with stack.api(baton) as api, stack.slack_client(baton) as slack:
            creates = [
                Create(new_escalation(n), f"create-{n}") for n in range(REPLIES, REPLIES + CREATES)
            ]
            await _burst_and_kill(baton, api, slack, creates, replies)
        unanswered = sum(c.esc_id is None for c in creates) + sum(not r.acked for r in replies)
        assert unanswered > 0, "the kill came after the burst: it proves nothing"

        baton = stack.start(port=baton.port)
        await _retry_what_got_no_answer(stack, baton, creates, replies)
        accepted = {*owners, *(c.esc_id for c in creates if c.esc_id)}
        assert len(accepted) == REPLIES + CREATES
        await stack.settled()

        listed = await stack.listed(baton)
        assert sorted(e["id"] for e in listed) == sorted(accepted)
        assert len({e["conversation_id"] for e in listed}) == len(listed)
        assert set(stack.cards()) == accepted

        events = stack.events()
        assert Counter(e.body["type"] for e in events.values()) == {
            "escalation.created": REPLIES + CREATES,
            "escalation.taken": REPLIES,
            "escalation.message": REPLIES,
        }
        relayed = {
            e.body["data"]["message"]["content"]: e.body["data"]
            for e in events.values()
            if e.body["type"] == "escalation.message"
        }
        for r in replies:
            assert relayed[r.text]["escalation_id"] == r.esc_id
            assert relayed[r.text]["message"]["agent"]["id"] == r.agent
            # And the agent sees in Slack that it reached the customer.
            assert "white_check_mark" in stack.slack.messages[(r.channel, r.ts)].reactions
