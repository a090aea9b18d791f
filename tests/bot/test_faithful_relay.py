"""What the customer reads is what the agent wrote in Slack: through the real app, with
messages as Slack sends them (rich_text blocks, ``&amp;``-escaped mrkdwn, files), the Slack
stand-in, and a platform that verifies every signed event."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import update

from api.config import ApiSection, Config
from blocks.ids import Action
from bot.standin import StandIn, StoredMessage
from storage.models import Event, Message, Platform
from tests.bot.conftest import ANN, BOB, CHANNEL, SlackEnv, eventually, running_slack_env
from tests.receiver import Receiver
from tests.slack_requests import SlackRequest

LAN = "U0LAN"
# The issue's reply, as Slack's client sends it: the mrkdwn text and the rich_text block.
ISSUE_TEXT = "Q&amp;A: see <https://help.example.com/refund|refund page>, ask <@U0LAN>"
ISSUE_BLOCKS = [
    {
        "type": "rich_text",
        "block_id": "Xw9a",
        "elements": [
            {
                "type": "rich_text_section",
                "elements": [
                    {"type": "text", "text": "Q&A: see "},
                    {
                        "type": "link",
                        "url": "https://help.example.com/refund",
                        "text": "refund page",
                    },
                    {"type": "text", "text": ", ask "},
                    {"type": "user", "user_id": LAN},
                ],
            }
        ],
    }
]
SCREENSHOT = {
    "id": "F0SCREEN1",
    "created": 1700000003,
    "timestamp": 1700000003,
    "name": "image.png",
    "title": "image.png",
    "mimetype": "image/png",
    "filetype": "png",
    "pretty_type": "PNG",
    "user": ANN,
    "size": 48213,
    "mode": "hosted",
    "url_private": "https://files.slack.com/files-pri/T111-F0SCREEN1/image.png",
    "url_private_download": "https://files.slack.com/files-pri/T111-F0SCREEN1/download/image.png",
    "permalink": "https://acme.slack.com/files/U0ANN/F0SCREEN1/image.png",
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def senv(database_url: str, standin: StandIn, receiver: Receiver) -> AsyncIterator[SlackEnv]:
    """The app, its platform the receiver; Lan is a Slack user."""
    standin.users[LAN] = {
        "id": LAN,
        "name": "lan",
        "real_name": "Lan Nguyen",
        "profile": {"display_name": "Lan", "real_name": "Lan Nguyen"},
    }
    config = Config(api=ApiSection(rate_limit=0))
    async with running_slack_env(database_url, standin, config=config) as environment:
        receiver.secret = environment.env.platform.webhook_secret
        async with environment.env.db.write() as s:
            await s.execute(update(Platform).values(callback_url=receiver.url))
        yield environment


def _event(senv: SlackEnv, msg: StoredMessage, **fields: Any) -> SlackRequest:
    """The message event for ``msg`` with ``fields`` as Slack sets them (text, blocks,
    subtype, files); a field given as None is left out, as Slack leaves it out."""
    event = senv.signer.message_event_for(msg).payload()["event"]
    event.update(fields)
    return senv.signer.event_callback({k: v for k, v in event.items() if v is not None})


async def _say(senv: SlackEnv, esc_id: str, user: str, **fields: Any) -> StoredMessage:
    thread = await senv.thread(esc_id)
    msg = senv.slack.post_as_user(CHANNEL, user, fields.get("text") or "", thread.thread_ts)
    if "blocks" in fields:
        msg.blocks = fields["blocks"] or []
    response = await senv.send(_event(senv, msg, **fields))
    assert response.status_code == 200, response.text
    return msg


async def _delivered(senv: SlackEnv, receiver: Receiver, kind: str) -> list[dict[str, Any]]:
    """Bodies of ``kind`` the platform accepted, once the relay has sent what is due."""

    async def sent() -> list[dict[str, Any]]:
        await senv.relay.drain()
        return [r.body for r in receiver.delivered() if r.body["type"] == kind]

    return await eventually(sent, what=kind)


async def _types(senv: SlackEnv, receiver: Receiver) -> list[str]:
    await senv.relay.drain()
    return [r.body["type"] for r in receiver.delivered()]


async def _events(senv: SlackEnv, esc_id: str, kind: str) -> list[Event]:
    async with senv.env.db.read() as s:
        rows = await s.execute(
            Event.__table__.select().where(Event.escalation_id == esc_id, Event.type == kind)  # type: ignore[attr-defined]
        )
        return [Event(**row._mapping) for row in rows]


async def test_the_issues_reply_reaches_the_customer_as_plain_text_and_markdown(
    senv: SlackEnv, receiver: Receiver
) -> None:
    esc_id = await senv.escalate()
    await senv.take(esc_id, ANN)
    await _say(senv, esc_id, ANN, text=ISSUE_TEXT, blocks=ISSUE_BLOCKS)

    (body,) = await _delivered(senv, receiver, "escalation.message")
    message = body["data"]["message"]
    assert message["content"] == (
        "Q&A: see refund page (https://help.example.com/refund), ask @Lan"
    )
    assert (
        message["markdown"] == "Q&A: see [refund page](https://help.example.com/refund), ask @Lan"
    )
    assert message["agent"] == {"id": ANN, "name": "Ann"}
    async with senv.env.db.read() as s:
        stored = await s.get(Message, message["id"])
    assert stored is not None and stored.content == message["content"]


async def test_mrkdwn_without_blocks_is_resolved_too(senv: SlackEnv, receiver: Receiver) -> None:
    """An API client or an older app sends text only: the same markup, the same result."""
    esc_id = await senv.escalate()
    await senv.take(esc_id, ANN)
    text = (
        "*Done* :white_check_mark: <@U0BOB> checked <https://shop.example/o?id=7&amp;v=2|your "
        "order> in <#C0ESCALATE|escalations> :+1::skin-tone-3:"
    )
    await _say(senv, esc_id, ANN, text=text, blocks=None)

    (body,) = await _delivered(senv, receiver, "escalation.message")
    message = body["data"]["message"]
    assert message["content"] == (
        "Done ✅ @Bob checked your order (https://shop.example/o?id=7&v=2) in #escalations 👍🏼"
    )
    assert message["markdown"] == (
        "**Done** ✅ @Bob checked [your order](https://shop.example/o?id=7&v=2) in "
        "#escalations 👍🏼"
    )


async def test_a_user_slack_cannot_find_stays_an_id(senv: SlackEnv, receiver: Receiver) -> None:
    esc_id = await senv.escalate()
    await senv.take(esc_id, ANN)
    blocks = [
        {
            "type": "rich_text",
            "block_id": "a1",
            "elements": [
                {
                    "type": "rich_text_section",
                    "elements": [
                        {"type": "text", "text": "ask "},
                        {"type": "user", "user_id": "U0GONE"},
                    ],
                }
            ],
        }
    ]
    await _say(senv, esc_id, ANN, text="ask <@U0GONE>", blocks=blocks)
    (body,) = await _delivered(senv, receiver, "escalation.message")
    assert body["data"]["message"]["content"] == "ask @U0GONE"


async def test_a_screenshot_alone_relays_nothing_and_its_author_is_told(
    senv: SlackEnv, receiver: Receiver
) -> None:
    esc_id = await senv.escalate()
    await senv.take(esc_id, ANN)
    await _say(senv, esc_id, ANN, text="", blocks=None, subtype="file_share", files=[SCREENSHOT])

    hints = await eventually(lambda: senv.ephemerals(ANN), what="Ann's hint")
    assert "nothing was sent" in hints[0]
    await asyncio.sleep(0.2)  # give a wrongly relayed message time to show
    assert await _types(senv, receiver) == ["escalation.created", "escalation.taken"]
    async with senv.env.db.read() as s:
        assert (
            await s.execute(Message.__table__.select().where(Message.role == "agent"))
        ).all() == []  # type: ignore[attr-defined]

    # With words, the words go (and the files' hint says only they did).
    await _say(
        senv,
        esc_id,
        ANN,
        text="Here is the receipt",
        subtype="file_share",
        files=[{**SCREENSHOT, "id": "F0SCREEN2"}],
    )
    (body,) = await _delivered(senv, receiver, "escalation.message")
    assert body["data"]["message"]["content"] == "Here is the receipt"
    hints = await eventually(lambda: len(senv.ephemerals(ANN)) == 2 and senv.ephemerals(ANN))
    assert "only the text of your message was" in hints[1]


async def test_a_held_message_is_sent_resolved_on_take_and_send(
    senv: SlackEnv, receiver: Receiver
) -> None:
    esc_id = await senv.escalate()
    await _say(senv, esc_id, BOB, text=ISSUE_TEXT, blocks=ISSUE_BLOCKS)
    prompt = await eventually(lambda: senv.slack.ephemerals_for(BOB), what="the prompt")
    value = next(
        e["value"]
        for b in prompt[0].blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == Action.TAKE_AND_SEND
    )
    click = senv.signer.block_action(
        user=BOB,
        action_id=Action.TAKE_AND_SEND,
        value=value,
        channel=CHANNEL,
        message_ts=prompt[0].ts,
        is_ephemeral=True,
    )
    assert (await senv.send(click)).status_code == 200
    (body,) = await _delivered(senv, receiver, "escalation.message")
    assert body["data"]["message"]["content"] == (
        "Q&A: see refund page (https://help.example.com/refund), ask @Lan"
    )
    assert body["data"]["message"]["markdown"] == (
        "Q&A: see [refund page](https://help.example.com/refund), ask @Lan"
    )
