"""The signed requests in tests/slack_requests.py are ones Slack's libraries accept as real:
the SDK's verifier passes them, and a Bolt app behind FastAPI routes each to its listener."""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from api.demo.slack_standin import BOT_ID, BOT_USER, StandIn
from tests.slack_requests import FORM, JSON, SlackRequest, SlackSigner

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-standin"
CHANNEL = "C0ESC"


@pytest.fixture
def slack() -> Iterator[StandIn]:
    server = StandIn(TOKEN, channels={CHANNEL: {BOT_USER, "U0MINH"}}).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def signer() -> SlackSigner:
    return SlackSigner(SECRET)


def _valid(request: SlackRequest, secret: str = SECRET) -> bool:
    return SignatureVerifier(secret).is_valid(
        body=request.body,
        timestamp=request.headers["X-Slack-Request-Timestamp"],
        signature=request.headers["X-Slack-Signature"],
    )


def _every_kind(signer: SlackSigner) -> dict[str, SlackRequest]:
    card = "1700000000.000100"
    return {
        "block_action": signer.block_action(
            user="U0MINH", action_id="take", value="esc_1", channel=CHANNEL, message_ts=card
        ),
        "view_submission": signer.view_submission(
            user="U0MINH",
            callback_id="reply",
            private_metadata="{}",
            values={"reply": {"text": {"type": "plain_text_input", "value": "hi"}}},
        ),
        "message_event": signer.message_event(
            user="U0MINH", channel=CHANNEL, text="hi", ts="1700000003.000300", thread_ts=card
        ),
        "message_changed": signer.message_changed(
            user="U0MINH", channel=CHANNEL, ts="1700000003.000300", new_text="b", old_text="a"
        ),
        "message_deleted": signer.message_deleted(
            user="U0MINH", channel=CHANNEL, ts="1700000003.000300", old_text="a"
        ),
        "command": signer.command(user="U0MINH", channel=CHANNEL, command="/baton", text="list"),
        "url_verification": signer.url_verification("challenge-me"),
    }


# --------------------------------------------------------------------------- signatures


async def test_every_kind_verifies_with_the_sdk_and_only_with_its_secret(
    signer: SlackSigner,
) -> None:
    for kind, request in _every_kind(signer).items():
        assert _valid(request), kind
        assert not _valid(request, "another-secret"), kind
        expected = JSON if kind.startswith(("message", "url")) else FORM
        assert request.headers["Content-Type"] == expected, kind


async def test_the_official_test_vector(signer: SlackSigner) -> None:
    body = (
        "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
        "channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
        "command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
        "commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
        "trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    request = signer.sign(body, FORM, timestamp=1531420618)
    assert request.headers["X-Slack-Signature"] == (
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    )


async def test_a_stale_timestamp_fails_and_a_fresh_one_passes(signer: SlackSigner) -> None:
    body = signer.url_verification("x").body
    assert not _valid(signer.sign(body, JSON, timestamp=int(time.time()) - 301))
    assert _valid(signer.sign(body, JSON, timestamp=int(time.time()) - 200))


async def test_a_retry_is_the_same_body_signed_anew(signer: SlackSigner) -> None:
    first = signer.message_event(user="U0MINH", channel=CHANNEL, text="hi", ts="1700000003.0003")
    assert "X-Slack-Retry-Num" not in first.headers
    again = signer.retried(first, retry_num=2)
    assert again.body == first.body
    assert again.payload()["event_id"] == first.payload()["event_id"]
    assert (again.headers["X-Slack-Retry-Num"], again.headers["X-Slack-Retry-Reason"]) == (
        "2",
        "http_timeout",
    )
    assert _valid(again)
    direct = signer.sign(first.body, JSON, retry_num=1, retry_reason="http_error")
    assert direct.headers["X-Slack-Retry-Reason"] == "http_error"


async def test_payload_shapes(signer: SlackSigner) -> None:
    kinds = _every_kind(signer)
    action = kinds["block_action"].payload()
    assert action["type"] == "block_actions"
    assert action["user"] == {
        "id": "U0MINH",
        "username": "u0minh",
        "name": "u0minh",
        "team_id": "T111",
    }
    assert action["container"] == {
        "type": "message",
        "message_ts": "1700000000.000100",
        "channel_id": CHANNEL,
        "is_ephemeral": False,
    }
    assert action["actions"][0]["value"] == "esc_1"
    assert action["message"]["bot_id"] == BOT_ID
    assert action["enterprise"] is None and action["is_enterprise_install"] is False
    assert kinds["block_action"].body.startswith("payload=")

    ephemeral = signer.block_action(
        user="U0MINH",
        action_id="more",
        value="x",
        channel=CHANNEL,
        message_ts="1.2",
        action_type="overflow",
        selected_option_value="close",
        is_ephemeral=True,
        thread_ts="1.1",
    ).payload()
    assert "message" not in ephemeral
    assert ephemeral["container"]["is_ephemeral"] is True
    assert ephemeral["container"]["thread_ts"] == "1.1"
    assert ephemeral["actions"][0]["selected_option"]["value"] == "close"
    assert "value" not in ephemeral["actions"][0]
    assert (
        signer.block_action(
            user="U", action_id="a", value="v", channel=CHANNEL, message_ts="1.2"
        ).payload()["trigger_id"]
        != action["trigger_id"]
    )

    event = kinds["message_event"].payload()
    assert event["type"] == "event_callback" and isinstance(event["event_time"], int)
    assert event["authorizations"][0]["user_id"] == BOT_USER
    inner = event["event"]
    assert inner["thread_ts"] == "1700000000.000100" and inner["parent_user_id"] == BOT_USER
    assert inner["client_msg_id"] and inner["blocks"][0]["type"] == "rich_text"
    assert inner["channel_type"] == "channel" and inner["event_ts"] == inner["ts"]

    changed = kinds["message_changed"].payload()["event"]
    assert changed["subtype"] == "message_changed" and "text" not in changed
    assert (changed["message"]["text"], changed["previous_message"]["text"]) == ("b", "a")
    assert changed["message"]["edited"]["user"] == "U0MINH"
    deleted = kinds["message_deleted"].payload()["event"]
    assert deleted["deleted_ts"] == deleted["previous_message"]["ts"] == "1700000003.000300"

    command = kinds["command"].payload()
    assert (command["command"], command["text"], command["user_id"]) == ("/baton", "list", "U0MINH")
    assert command["is_enterprise_install"] == "false"
    submission = kinds["view_submission"].payload()
    assert submission["view"]["state"]["values"]["reply"]["text"]["value"] == "hi"
    assert submission["view"]["blocks"][0]["block_id"] == "reply"


async def test_payloads_from_stand_in_messages(slack: StandIn, signer: SlackSigner) -> None:
    client = AsyncWebClient(token=TOKEN, base_url=slack.url)
    close = {"text": {"type": "plain_text", "text": "Close", "emoji": True}, "value": "close"}
    blocks = [
        {
            "type": "section",
            "block_id": "head",
            "text": {"type": "mrkdwn", "text": "card"},
            "accessory": {"type": "overflow", "action_id": "more", "options": [close]},
        },
        {
            "type": "actions",
            "block_id": "esc_1",
            "elements": [
                {
                    "type": "button",
                    "action_id": "take",
                    "value": "esc_1",
                    "text": {"type": "plain_text", "text": "Take", "emoji": True},
                }
            ],
        },
    ]
    posted = await client.chat_postMessage(channel=CHANNEL, text="card", blocks=blocks)
    card = slack.top_level(CHANNEL)[0]
    click = signer.block_action_on(card, user="U0MINH", action_id="take").payload()
    assert click["message"]["ts"] == posted["ts"] and click["message"]["text"] == "card"
    assert click["actions"][0] | {"action_ts": "x"} == {
        "type": "button",
        "action_id": "take",
        "block_id": "esc_1",
        "action_ts": "x",
        "text": {"type": "plain_text", "text": "Take", "emoji": True},
        "value": "esc_1",
    }
    with pytest.raises(ValueError):
        signer.block_action_on(card, user="U0MINH", action_id="nope")
    menu = signer.block_action_on(
        card, user="U0MINH", action_id="more", selected_option_value="close"
    ).payload()["actions"][0]
    assert (menu["type"], menu["block_id"], menu["selected_option"]) == ("overflow", "head", close)
    with pytest.raises(ValueError):
        signer.block_action_on(card, user="U0MINH", action_id="more", selected_option_value="x")

    reply = slack.post_as_user(CHANNEL, "U0MINH", "customer says hi", thread_ts=card.ts)
    event = signer.message_event_for(reply).payload()["event"]
    assert (event["user"], event["text"], event["thread_ts"]) == (
        "U0MINH",
        "customer says hi",
        card.ts,
    )
    assert "bot_id" not in event
    echo = signer.message_event_for(card).payload()["event"]
    assert (echo["bot_id"], echo["user"]) == (BOT_ID, BOT_USER) and "client_msg_id" not in echo

    slack.edit_as_user(CHANNEL, reply.ts, "customer says hello")
    changed = signer.message_changed_for(reply, "customer says hi").payload()["event"]
    assert changed["message"]["edited"]["ts"] == reply.edited["ts"]  # type: ignore[index]
    assert changed["message"]["thread_ts"] == card.ts
    removed = slack.delete_as_user(CHANNEL, reply.ts)
    deleted = signer.message_deleted_for(removed).payload()["event"]
    assert deleted["previous_message"]["text"] == "customer says hello"

    modal = {
        "type": "modal",
        "callback_id": "reply",
        "private_metadata": json.dumps({"esc": 1}),
        "title": {"type": "plain_text", "text": "Reply"},
        "blocks": [{"type": "input", "block_id": "reply", "element": {"action_id": "text"}}],
    }
    opened = await client.views_open(trigger_id=click["trigger_id"], view=modal)
    values = {"reply": {"text": {"type": "plain_text_input", "value": "On it"}}}
    submitted = signer.view_submission_for(
        slack.views[opened["view"]["id"]], user="U0MINH", values=values
    ).payload()["view"]
    assert (submitted["id"], submitted["callback_id"]) == (opened["view"]["id"], "reply")
    assert json.loads(submitted["private_metadata"]) == {"esc": 1}


# ---------------------------------------------------------------------- through Bolt


@dataclass
class Bolt:
    http: httpx.AsyncClient
    seen: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def post(self, request: SlackRequest) -> httpx.Response:
        return await self.http.post("/slack/events", content=request.body, headers=request.headers)

    async def wait_for(self, kind: str, count: int = 1) -> list[dict[str, Any]]:
        # Event listeners run after the ack, so their effects come a moment later.
        async with asyncio.timeout(5):
            while len(self.seen.get(kind, [])) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.seen[kind]


@pytest.fixture
async def bolt(slack: StandIn) -> AsyncIterator[Bolt]:
    app = AsyncApp(client=AsyncWebClient(token=TOKEN, base_url=slack.url), signing_secret=SECRET)
    api = FastAPI()
    handler = AsyncSlackRequestHandler(app)

    @api.post("/slack/events")
    async def events(req: Request) -> Response:
        return await handler.handle(req)

    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://baton.test")
    state = Bolt(http)

    def record(kind: str, body: dict[str, Any]) -> None:
        state.seen.setdefault(kind, []).append(body)
        state.arrived.set()

    @app.action("take")
    async def take(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        record("action", body)

    @app.action("more")
    async def more(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        record("overflow", body)

    @app.view("reply")
    async def reply(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        record("view", body)

    @app.command("/baton")
    async def baton(ack: Any, body: dict[str, Any]) -> None:
        await ack("on it")
        record("command", body)

    @app.event("message")
    async def message(event: dict[str, Any]) -> None:
        record(event.get("subtype") or "message", event)

    try:
        yield state
    finally:
        await http.aclose()


async def test_bolt_routes_each_request_to_its_listener(
    bolt: Bolt, signer: SlackSigner, slack: StandIn
) -> None:
    for kind, request in _every_kind(signer).items():
        response = await bolt.post(request)
        assert response.status_code == 200, (kind, response.text)
    assert (await bolt.wait_for("action"))[0]["actions"][0]["value"] == "esc_1"
    assert (await bolt.wait_for("view"))[0]["view"]["state"]["values"]["reply"]["text"][
        "value"
    ] == "hi"
    assert (await bolt.wait_for("command"))[0]["text"] == "list"
    assert (await bolt.wait_for("message"))[0]["text"] == "hi"
    assert (await bolt.wait_for("message_changed"))[0]["message"]["text"] == "b"
    assert (await bolt.wait_for("message_deleted"))[0]["previous_message"]["text"] == "a"
    # Bolt asked the stand-in who it is, once, and found the ids the payloads carry.
    assert len(slack.calls_to("auth.test")) == 1


async def test_bolt_answers_the_url_challenge_and_acks_a_command(
    bolt: Bolt, signer: SlackSigner
) -> None:
    response = await bolt.post(signer.url_verification("challenge-me"))
    assert response.json() == {"challenge": "challenge-me"}
    response = await bolt.post(
        signer.command(user="U0MINH", channel=CHANNEL, command="/baton", text="")
    )
    assert (response.status_code, response.text) == (200, "on it")


async def test_overflow_clicks_retries_and_the_bots_own_echo(
    bolt: Bolt, signer: SlackSigner
) -> None:
    click = signer.block_action(
        user="U0MINH",
        action_id="more",
        value="",
        channel=CHANNEL,
        message_ts="1700000000.000100",
        action_type="overflow",
        selected_option_value="close",
    )
    assert (await bolt.post(click)).status_code == 200
    assert (await bolt.wait_for("overflow"))[0]["actions"][0]["selected_option"]["value"] == "close"

    own = signer.message_event(
        user=BOT_USER, channel=CHANNEL, text="card", ts="1700000005.000500", bot_id=BOT_ID
    )
    first = signer.message_event(user="U0MINH", channel=CHANNEL, text="one", ts="1700000006.0")
    for request in (own, first, signer.retried(first)):
        assert (await bolt.post(request)).status_code == 200
    # Bolt drops the app's own echo and does not de-duplicate retries (FACTS §2.4-2.5).
    seen = await bolt.wait_for("message", 2)
    await asyncio.sleep(0.05)
    assert [m["text"] for m in seen] == ["one", "one"]


async def test_bolt_refuses_bad_signatures(bolt: Bolt, signer: SlackSigner) -> None:
    request = signer.command(user="U0MINH", channel=CHANNEL, command="/baton", text="list")
    forged = SlackSigner("not-the-secret").sign(request.body, FORM)
    stale = signer.sign(request.body, FORM, timestamp=int(time.time()) - 301)
    tampered = SlackRequest(request.body.replace("list", "drop"), request.headers)
    for bad in (forged, stale, tampered):
        response = await bolt.post(bad)
        assert response.status_code == 401
        assert response.json() == {"error": "invalid request"}
    assert "command" not in bolt.seen
