"""Slack takes a post and the connection drops before the answer: the real ``baton serve``
does not know whether the post happened. It must find out (by the message metadata) rather
than post again: one card per escalation, every thread message once, also across a
``kill -9`` right after the lost answer. (tests/bot/test_delivery.py drives the worker
step by step in process; this is the whole stack, timers and all.)"""

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from api.demo.slack_standin import Fault, StandIn, StoredMessage
from blocks.ids import Action
from bot.posts import METADATA_TYPE
from storage.models import SlackThread
from tests.bot.conftest import ANN, eventually
from tests.faults.stack import Replica, Stack, new_escalation, running_stack, send_to_slack

pytestmark = pytest.mark.faults

DROP = Fault(drop_connection=True)
# In the test with many, each escalation is routed to a channel of its own: Slack's pace of
# one post a second per channel would otherwise queue every post behind the others.
ESCALATIONS = 20
DROPPED_POSTS = 60  # at most: more than there will be posts to drop
TRANSCRIPT = ["first: my order is late", "second: it was due Monday", "third: please help"]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(tmp_path, f"sqlite:///{tmp_path}/baton.db") as stack:
        yield stack


async def _escalate(api: httpx.AsyncClient, n: int = 0) -> str:
    """The ``n``-th customer's escalation (routed as ``new_escalation`` routes it), after
    ``TRANSCRIPT``; its id."""
    transcript = [
        {"role": "customer", "content": text, "timestamp": f"2026-03-12T10:0{minute}:00Z"}
        for minute, text in enumerate(TRANSCRIPT)
    ]
    created = await api.post(
        "/v1/escalations", json={**new_escalation(n), "transcript": transcript}
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def _say(api: httpx.AsyncClient, esc_id: str, text: str) -> None:
    """The customer writes, through the platform."""
    said = await api.post(
        f"/v1/escalations/{esc_id}/messages", json={"role": "customer", "content": text}
    )
    assert said.status_code == 201, said.text


def _kill_when(replica: Replica, check: Callable[[], bool], seconds: float = 20) -> None:
    """``kill -9`` the moment ``check()`` holds (polled from a thread, not the loop, so
    that the server has the least time to act on what just happened)."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "nothing to kill the server for"
        time.sleep(0.0005)
    replica.kill()


def _key(message: StoredMessage, esc_id: str) -> str | None:
    """What Baton's post was (its metadata key), if it is Baton's post for ``esc_id``."""
    metadata = message.metadata or {}
    payload = metadata.get("event_payload") or {}
    if metadata.get("event_type") != METADATA_TYPE or payload.get("escalation_id") != esc_id:
        return None
    return str(payload.get("key"))


def _text(messages: list[StoredMessage]) -> str:
    """The messages' blocks as one text, to find words in."""
    return json.dumps([m.blocks for m in messages], ensure_ascii=False)


async def _stored_thread_ts(stack: Stack, esc_id: str) -> str:
    """The thread Baton keeps the escalation in, as its database says."""
    async with stack.database() as db, db.read() as s:
        thread = await s.get(SlackThread, esc_id)
    assert thread is not None
    return thread.thread_ts


def _assert_thread_once(stack: Stack, esc_id: str, *texts: str) -> None:
    """The card's thread has the transcript and ``texts``, each once, and no post of
    Baton's twice."""
    card = stack.cards()[esc_id]
    thread = stack.slack.thread(card.channel, card.ts)
    keys = Counter(_key(m, esc_id) for m in thread if _key(m, esc_id) is not None)
    assert keys and max(keys.values()) == 1, keys
    shown = _text(thread)
    for text in (*TRANSCRIPT, *texts):
        assert shown.count(text) == 1, text


def _consumed(slack: StandIn, method: str) -> bool:
    """Every fault queued for ``method`` was dealt: the drops really happened."""
    return not any(slack.faults.get(method, ()))


async def test_card_post_whose_answer_is_lost_is_found_not_posted_again(stack: Stack) -> None:
    baton = stack.start()
    stack.slack.fail("chat.postMessage", DROP)
    async with stack.api(baton) as api:
        esc_id = await _escalate(api)
    await stack.settled()
    assert _consumed(stack.slack, "chat.postMessage")
    # At most one duplicate is the least promised; the post carries its escalation in
    # metadata, so the retry finds the card in the channel and there is none.
    card = stack.cards()[esc_id]  # the only one: cards() checks
    assert await _stored_thread_ts(stack, esc_id) == card.ts
    _assert_thread_once(stack, esc_id)


async def test_once_the_card_is_stored_lost_answers_never_make_a_second_card(
    stack: Stack,
) -> None:
    baton = stack.start()
    async with stack.api(baton) as api, stack.slack_client(baton) as slack:
        esc_id = await _escalate(api)
        await stack.settled()
        card_ts = stack.cards()[esc_id].ts

        stack.slack.fail("chat.update", DROP)
        take = stack.signer.block_action_on(stack.cards()[esc_id], user=ANN, action_id=Action.TAKE)
        assert await send_to_slack(slack, take)
        await eventually(
            lambda: f"<@{ANN}>" in _text([stack.cards()[esc_id]]), 20, "Ann on the card"
        )

        stack.slack.fail("chat.postMessage", DROP, times=2)
        await _say(api, esc_id, "are you there?")
        await _say(api, esc_id, "hello again")
    await stack.settled()

    assert _consumed(stack.slack, "chat.update") and _consumed(stack.slack, "chat.postMessage")
    card = stack.cards()[esc_id]
    assert card.ts == card_ts
    assert f"<@{ANN}>" in _text([card])
    _assert_thread_once(stack, esc_id, "are you there?", "hello again")


async def test_every_other_post_lost_still_one_card_each_and_no_message_twice(
    stack: Stack,
) -> None:
    baton = stack.start()
    stack.slack.fail("chat.postMessage", DROP, times=DROPPED_POSTS, every=2)
    async with stack.api(baton) as api:
        ids = [await _escalate(api, n) for n in range(ESCALATIONS)]
        for esc_id in ids:
            await _say(api, esc_id, f"still waiting on {esc_id}")
    await stack.settled()

    not_dealt = sum(f is not None for f in stack.slack.faults["chat.postMessage"])
    assert DROPPED_POSTS - not_dealt >= len(ids)  # one answer lost per escalation or more
    assert set(stack.cards()) == set(ids)
    for esc_id in ids:
        _assert_thread_once(stack, esc_id, f"still waiting on {esc_id}")


async def test_killed_right_after_a_lost_card_answer_restarts_to_one_card(stack: Stack) -> None:
    baton = stack.start()
    stack.slack.fail("chat.postMessage", DROP)
    # Killed as soon as Slack holds a card: before the server can learn, or record, what
    # became of its post.
    killed = asyncio.create_task(asyncio.to_thread(_kill_when, baton, lambda: bool(stack.cards())))
    async with stack.api(baton) as api:
        esc_id = await _escalate(api)
    await killed
    stack.start(port=baton.port)
    await stack.settled()
    card = stack.cards()[esc_id]  # the only one: cards() checks
    assert await _stored_thread_ts(stack, esc_id) == card.ts
    _assert_thread_once(stack, esc_id)
