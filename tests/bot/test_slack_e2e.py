"""The whole Slack flow with the real ``baton serve`` process between a Slack stand-in and a
platform that verifies every signed event, as in production."""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.demo.slack_standin import StandIn, StoredMessage
from blocks.ids import Action, Input
from tests.bot.conftest import ANN, BOB, CHANNEL, SIGNING_SECRET
from tests.conftest import TEST_SECRET_KEY, escalation_body
from tests.processes import clean_env, free_port, register_platform, start_serve, wait_ready
from tests.receiver import Receiver
from tests.slack_requests import SlackRequest, SlackSigner

SLACK_TIMEOUT = 3.0  # Slack gives up on an answer after three seconds


@dataclass
class Stack:
    slack: StandIn
    platform: Receiver
    signer: SlackSigner
    api: httpx.AsyncClient  # as the platform, with its API key
    slack_client: httpx.AsyncClient  # as Slack, with Slack's patience

    async def send(self, request: SlackRequest) -> httpx.Response:
        response = await self.slack_client.post(
            "/slack/events", content=request.body.encode(), headers=request.headers
        )
        assert response.status_code == 200, response.text
        return response

    def card(self) -> StoredMessage:
        (card,) = self.slack.top_level(CHANNEL)
        return card

    def thread(self) -> list[StoredMessage]:
        return self.slack.thread(CHANNEL, self.card().ts)

    def events(self) -> list[str]:
        return [r.body["type"] for r in self.platform.delivered()]


async def until(check: Callable[[], Any], what: str, seconds: float = 20) -> Any:
    deadline = time.monotonic() + seconds
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
    return result


@pytest.fixture
def platform(receiver: Receiver) -> Receiver:
    return receiver


@pytest.fixture
async def stack(tmp_path: Path, standin: StandIn, platform: Receiver) -> AsyncIterator[Stack]:
    env = {
        **clean_env(),
        "BATON_DATABASE_URL": f"sqlite:///{tmp_path}/baton.db",
        "BATON_SECRET_KEY": TEST_SECRET_KEY,
        "BATON_ALLOW_PRIVATE_CALLBACKS": "true",
        "SLACK_BOT_TOKEN": standin.token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "BATON_SLACK_API_URL": standin.url,
        "BATON_ESCALATION_CHANNEL": CHANNEL,
    }
    credentials = register_platform(platform.url, env)
    platform.secret = credentials["webhook_secret"]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_serve(tmp_path, port, env)
    try:
        wait_ready(base, server)
        auth = {"Authorization": f"Bearer {credentials['api_key']}"}
        async with (
            httpx.AsyncClient(base_url=base, headers=auth) as api,
            httpx.AsyncClient(base_url=base, timeout=SLACK_TIMEOUT) as slack_client,
        ):
            yield Stack(standin, platform, SlackSigner(SIGNING_SECRET), api, slack_client)
    finally:
        server.terminate()
        server.wait(timeout=10)


async def _take_and_talk(stack: Stack) -> str:
    """Escalate, take, reply, have a teammate chime in and the customer write back."""
    created = await stack.api.post("/v1/escalations", json=escalation_body())
    assert created.status_code == 201
    esc_id = created.json()["id"]
    card = await until(lambda: stack.slack.top_level(CHANNEL), "the card")
    assert len(card) == 1
    await until(lambda: stack.thread(), "the transcript in the thread")

    await stack.send(stack.signer.block_action_on(stack.card(), user=ANN, action_id=Action.TAKE))
    await until(lambda: f"<@{ANN}>" in json.dumps(stack.card().blocks), "the owner on the card")
    await until(lambda: "escalation.taken" in stack.events(), "escalation.taken")
    taken = next(r for r in stack.platform.delivered() if r.body["type"] == "escalation.taken")
    assert taken.body["data"]["agent"] == {"id": ANN, "name": "Ann"}

    mine = stack.slack.post_as_user(CHANNEL, ANN, "Chào bạn, mình là Ann", stack.card().ts)
    await stack.send(stack.signer.message_event_for(mine))
    await until(lambda: "escalation.message" in stack.events(), "the relayed reply")
    relayed = next(r for r in stack.platform.delivered() if r.body["type"] == "escalation.message")
    assert relayed.body["data"]["message"]["content"] == "Chào bạn, mình là Ann"
    await until(
        lambda: "white_check_mark" in stack.slack.messages[(CHANNEL, mine.ts)].reactions,
        "the delivered mark on Ann's message",
    )

    theirs = stack.slack.post_as_user(CHANNEL, BOB, "Check the refund bug", stack.card().ts)
    await stack.send(stack.signer.message_event_for(theirs))
    await until(lambda: stack.slack.ephemerals_for(BOB), "Bob's hint")

    said = await stack.api.post(
        f"/v1/escalations/{esc_id}/messages", json={"role": "customer", "content": "Cảm ơn!"}
    )
    assert said.status_code == 201
    await until(
        lambda: any("Cảm ơn!" in json.dumps(m.blocks, ensure_ascii=False) for m in stack.thread()),
        "the customer's message in the thread",
    )
    return esc_id


async def test_escalate_take_reply_and_return_to_bot(stack: Stack) -> None:
    esc_id = await _take_and_talk(stack)
    await stack.send(stack.signer.block_action_on(stack.card(), user=ANN, action_id=Action.RETURN))
    await until(lambda: "escalation.returned" in stack.events(), "escalation.returned")
    await until(lambda: "Returned to the bot" in json.dumps(stack.card().blocks), "final card")
    assert not [b for b in stack.card().blocks if b["type"] == "actions"]
    assert stack.events() == [
        "escalation.created",
        "escalation.taken",
        "escalation.message",  # Ann's; Bob's note never left Slack
        "escalation.returned",
    ]
    assert all(r.verified for r in stack.platform.delivered())
    detail = (await stack.api.get(f"/v1/escalations/{esc_id}")).json()
    assert detail["status"] == "returned"


async def test_escalate_take_reply_and_close_through_the_modal(stack: Stack) -> None:
    await _take_and_talk(stack)
    await stack.send(stack.signer.block_action_on(stack.card(), user=ANN, action_id=Action.CLOSE))
    (view,) = await until(lambda: list(stack.slack.views.values()), "the Close modal")
    values = {
        Input.RESOLUTION: {
            Input.RESOLUTION: {"type": "static_select", "selected_option": {"value": "resolved"}}
        },
        Input.CLOSE_NOTE: {Input.CLOSE_NOTE: {"type": "plain_text_input", "value": "refunded"}},
        Input.KEEP_PAUSED: {Input.KEEP_PAUSED: {"type": "checkboxes", "selected_options": []}},
    }
    await stack.send(stack.signer.view_submission_for(view, user=ANN, values=values))
    await until(lambda: "escalation.closed" in stack.events(), "escalation.closed")
    await until(lambda: "Closed" in json.dumps(stack.card().blocks), "the closed card")
    closed = next(r for r in stack.platform.delivered() if r.body["type"] == "escalation.closed")
    assert closed.body["data"]["resolution"] == "resolved"
    assert closed.body["data"]["note"] == "refunded"
    assert stack.events() == [
        "escalation.created",
        "escalation.taken",
        "escalation.message",
        "escalation.closed",
    ]


async def test_clicks_are_answered_at_once_while_the_platform_hangs(stack: Stack) -> None:
    stack.platform.answer = lambda _id, _n: 10.0  # every delivery hangs for ten seconds
    created = await stack.api.post("/v1/escalations", json=escalation_body())
    assert created.status_code == 201
    await until(lambda: stack.slack.top_level(CHANNEL), "the card")
    # The client gives up after Slack's three seconds: an answer at all is the point.
    await stack.send(stack.signer.block_action_on(stack.card(), user=ANN, action_id=Action.TAKE))
    # Nor does the card wait for the platform's ten seconds.
    owner_shown = lambda: f"<@{ANN}>" in json.dumps(stack.card().blocks)  # noqa: E731
    await until(owner_shown, "the owner on the card", seconds=8)
