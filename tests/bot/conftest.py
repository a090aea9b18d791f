"""The real app with Slack set up against the stand-in: cards, clicks, modals and thread
messages, with the Slack worker and the relay driven step by step by the test."""

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
import respx

from api.demo.slack_standin import BOT_USER, StandIn, StoredMessage
from api.http.app import build_relay, build_slack_delivery
from api.relay.platform import Relay
from blocks.ids import Action
from bot.delivery import SlackDelivery
from storage.models import Escalation, OutboxRow, SlackThread, Topic
from tests.conftest import Env, start_env
from tests.slack_requests import SlackRequest, SlackSigner

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
CHANNEL = "C0ESCALATE"
MANAGERS = "C0MANAGERS"
ANN, BOB, CHI = "U0ANN", "U0BOB", "U0CHI"
CROWD = [f"U0AGENT{n:02d}" for n in range(20)]


def _user(user_id: str, display: str, real: str) -> dict[str, Any]:
    return {
        "id": user_id,
        "team_id": "T111",
        "name": display.lower(),
        "real_name": real,
        "is_bot": False,
        "profile": {"display_name": display, "real_name": real, "email": f"{user_id}@x.test"},
    }


def people() -> dict[str, dict[str, Any]]:
    users = {
        ANN: _user(ANN, "Ann", "Ann Le"),
        BOB: _user(BOB, "Bob", "Bob Tran"),
        CHI: _user(CHI, "", "Chi Pham"),  # no display name: the real name is shown
    }
    users.update({u: _user(u, f"Agent {u[-2:]}", f"Agent {u}") for u in CROWD})
    return users


@contextmanager
def running_standin(*more_channels: str, **options: Any) -> Iterator[StandIn]:
    """Slack with everyone in the escalation channel, and the bot in the managers' channel
    and in ``more_channels``; ``options`` as ``StandIn`` takes them (``post_interval``…)."""
    users = people()
    channels = {CHANNEL: {BOT_USER, *users}, **{c: {BOT_USER} for c in (MANAGERS, *more_channels)}}
    server = StandIn(channels=channels, users=users, **options).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with running_standin() as server:
        yield server


@dataclass
class SlackEnv:
    env: Env
    slack: StandIn
    signer: SlackSigner
    delivery: SlackDelivery
    relay: Relay

    @property
    def client(self) -> httpx.AsyncClient:
        return self.env.client

    async def send(self, request: SlackRequest) -> httpx.Response:
        return await self.client.post(
            "/slack/events", content=request.body.encode(), headers=request.headers
        )

    async def escalate(self, **fields: Any) -> str:
        """An escalation from the platform, its card posted."""
        esc_id = (await self.env.create(**fields))["id"]
        await self.deliver()
        return esc_id

    async def deliver(self) -> None:
        """Let the Slack worker post everything due."""
        await self.delivery.drain()

    async def thread(self, esc_id: str) -> SlackThread:
        async with self.env.db.read() as s:
            thread = await s.get(SlackThread, esc_id)
        assert thread is not None, f"no card for {esc_id}"
        return thread

    async def card(self, esc_id: str) -> StoredMessage:
        thread = await self.thread(esc_id)
        return self.slack.messages[(thread.channel_id, thread.thread_ts)]

    async def replies(self, esc_id: str) -> list[StoredMessage]:
        thread = await self.thread(esc_id)
        return self.slack.thread(thread.channel_id, thread.thread_ts)

    async def click(
        self, esc_id: str, user: str, action_id: str, option: str | None = None
    ) -> httpx.Response:
        card = await self.card(esc_id)
        request = self.signer.block_action_on(
            card, user=user, action_id=action_id, selected_option_value=option
        )
        response = await self.send(request)
        assert response.status_code == 200, response.text
        return response

    async def owner(self, esc_id: str) -> str | None:
        async with self.env.db.read() as s:
            esc = await s.get(Escalation, esc_id, populate_existing=True)
        assert esc is not None
        return esc.assignee_id

    async def take(self, esc_id: str, user: str) -> None:
        """``user`` clicks Take; returns once they own it and the card says so."""
        await self.click(esc_id, user, Action.TAKE)

        async def owned() -> bool:
            return await self.owner(esc_id) == user

        await eventually(owned, what=f"{user} to own {esc_id}")
        await self.deliver()

    async def say(self, esc_id: str, user: str, text: str) -> StoredMessage:
        """``user`` writes ``text`` in the escalation's thread; Slack sends the event."""
        thread = await self.thread(esc_id)
        msg = self.slack.post_as_user(thread.channel_id, user, text, thread.thread_ts)
        response = await self.send(self.signer.message_event_for(msg))
        assert response.status_code == 200, response.text
        return msg

    async def platform_events(self, esc_id: str) -> list[str]:
        """Event types queued for the platform, in order."""
        async with self.env.db.read() as s:
            rows = (
                await s.execute(
                    OutboxRow.__table__.select()  # type: ignore[attr-defined]
                    .where(OutboxRow.topic == Topic.platform, OutboxRow.escalation_id == esc_id)
                    .order_by(OutboxRow.id)
                )
            ).all()
        return [row.kind for row in rows]

    async def choose_on_prompt(self, user: str, action_id: str) -> None:
        """``user`` clicks ``action_id`` on the prompt Baton showed them after they wrote
        in the thread of an escalation nobody owns (Take and send, Keep as note)."""
        prompt = await eventually(lambda: self.slack.ephemerals_for(user), what="the prompt")
        value = next(
            e["value"]
            for b in prompt[-1].blocks
            if b["type"] == "actions"
            for e in b["elements"]
            if e["action_id"] == action_id
        )
        click = self.signer.block_action(
            user=user,
            action_id=action_id,
            value=value,
            channel=CHANNEL,
            message_ts=prompt[-1].ts,
            is_ephemeral=True,
        )
        assert (await self.send(click)).status_code == 200

    def ephemerals(self, user: str) -> list[str]:
        return [e.text for e in self.slack.ephemerals_for(user)]


async def eventually(
    check: Callable[[], Any], seconds: float = 10.0, what: str = "condition"
) -> Any:
    """Listeners run after the ack; wait until their effect shows."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def running_slack_env(
    database_url: str, standin: StandIn, **settings: Any
) -> AsyncIterator[SlackEnv]:
    """The app with Slack set up against ``standin``; the Slack worker and the relay are
    driven by the test."""
    env, lifespan = await start_env(
        database_url,
        slack_bot_token=standin.token,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=standin.url,
        escalation_channel=CHANNEL,
        **settings,
    )
    assert env.services.slack is not None
    env.services.slack = replace(env.services.slack, post_interval=0.0)
    delivery = build_slack_delivery(env.services)
    assert delivery is not None
    relay = build_relay(env.services)
    try:
        yield SlackEnv(env, standin, SlackSigner(SIGNING_SECRET), delivery, relay)
    finally:
        await delivery.aclose()
        await relay.aclose()
        await env.client.aclose()
        await lifespan.__aexit__(None, None, None)


@pytest.fixture
async def slack_env(database_url: str, standin: StandIn) -> AsyncIterator[SlackEnv]:
    async with running_slack_env(database_url, standin) as environment:
        yield environment


@pytest.fixture
def platform_ok() -> Iterator[respx.MockRouter]:
    """The platform's callback accepts every event."""
    with respx.mock(assert_all_called=False) as router:
        router.post("https://203.0.113.9/hook").respond(200)
        yield router
