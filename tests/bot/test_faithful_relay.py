"""What the customer reads is what the agent wrote in Slack: through the real app, with
messages as Slack sends them (rich_text blocks, ``&amp;``-escaped mrkdwn, files), the Slack
stand-in, and a platform that verifies every signed event."""

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from api.config import ApiSection, Config, ConfigError, RelaySection, parse_config
from api.demo.slack_standin import StandIn, StoredMessage
from blocks.ids import Action
from storage.clock import ManualClock
from storage.models import Event, Message, Platform
from tests.bot.conftest import ANN, BOB, CHANNEL, SlackEnv, eventually, running_slack_env
from tests.receiver import Receiver
from tests.slack_requests import SlackRequest

LAN = "U0LAN"


def _section(*elements: dict[str, Any]) -> list[dict[str, Any]]:
    """A message's rich_text blocks as Slack's client sends them: one section."""
    section = {"type": "rich_text_section", "elements": list(elements)}
    return [{"type": "rich_text", "block_id": "b1", "elements": [section]}]


# The issue's reply, as Slack's client sends it: the mrkdwn text and the rich_text block.
ISSUE_TEXT = "Q&amp;A: see <https://help.example.com/refund|refund page>, ask <@U0LAN>"
ISSUE_BLOCKS = _section(
    {"type": "text", "text": "Q&A: see "},
    {"type": "link", "url": "https://help.example.com/refund", "text": "refund page"},
    {"type": "text", "text": ", ask "},
    {"type": "user", "user_id": LAN},
)
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
async def senv(
    request: pytest.FixtureRequest, database_url: str, standin: StandIn, receiver: Receiver
) -> AsyncIterator[SlackEnv]:
    """The app on a clock the test moves, its platform the receiver; Lan is a Slack user.
    The edit window is the default unless the test passes another (indirect parameter)."""
    standin.users[LAN] = {
        "id": LAN,
        "name": "lan",
        "real_name": "Lan Nguyen",
        "profile": {"display_name": "Lan", "real_name": "Lan Nguyen"},
    }
    relay = RelaySection(edit_window=getattr(request, "param", "15m"))  # type: ignore[arg-type]
    config = Config(api=ApiSection(rate_limit=0), relay=relay)
    async with running_slack_env(
        database_url, standin, manual_clock=True, config=config
    ) as environment:
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
    blocks = _section({"type": "text", "text": "ask "}, {"type": "user", "user_id": "U0GONE"})
    await _say(senv, esc_id, ANN, text="ask <@U0GONE>", blocks=blocks)
    (body,) = await _delivered(senv, receiver, "escalation.message")
    assert body["data"]["message"]["content"] == "ask @U0GONE"


async def test_a_channel_named_only_by_id_is_looked_up_once(
    senv: SlackEnv, receiver: Receiver
) -> None:
    """A rich_text channel mention is a bare id, and Slack's text may leave the name out
    (``<#C…|>``): conversations.info names it, once."""
    esc_id = await senv.escalate()
    await senv.take(esc_id, ANN)
    blocks = _section(
        {"type": "text", "text": "ask in "}, {"type": "channel", "channel_id": "C0MANAGERS"}
    )
    await _say(senv, esc_id, ANN, text="ask in <#C0MANAGERS|>", blocks=blocks)
    await _say(senv, esc_id, ANN, text="again: <#C0MANAGERS|>", blocks=None)

    async def both() -> list[dict[str, Any]] | None:
        sent = await _delivered(senv, receiver, "escalation.message")
        return sent if len(sent) == 2 else None

    first, second = await eventually(both, what="both replies")
    assert first["data"]["message"]["content"] == "ask in #c0managers"
    assert second["data"]["message"]["content"] == "again: #c0managers"
    lookups = senv.slack.calls_to("conversations.info")
    assert [c.params.get("channel") for c in lookups].count("C0MANAGERS") == 1


async def test_a_held_message_is_sent_resolved_on_take_and_send(
    senv: SlackEnv, receiver: Receiver
) -> None:
    esc_id = await senv.escalate()
    await _say(senv, esc_id, BOB, text=ISSUE_TEXT, blocks=ISSUE_BLOCKS)
    await senv.choose_on_prompt(BOB, Action.TAKE_AND_SEND)
    (body,) = await _delivered(senv, receiver, "escalation.message")
    assert body["data"]["message"]["content"] == (
        "Q&A: see refund page (https://help.example.com/refund), ask @Lan"
    )
    assert body["data"]["message"]["markdown"] == (
        "Q&A: see [refund page](https://help.example.com/refund), ask @Lan"
    )


# --------------------------------------------------------------- edits and deletes


def _bold_blocks(before: str, bold: str) -> list[dict[str, Any]]:
    return _section(
        {"type": "text", "text": before}, {"type": "text", "text": bold, "style": {"bold": True}}
    )


def _plain_blocks(value: str) -> list[dict[str, Any]]:
    return _section({"type": "text", "text": value})


async def _edit(senv: SlackEnv, msg: StoredMessage, text: str, blocks: list[Any]) -> None:
    old = msg.text
    edited = senv.slack.edit_as_user(CHANNEL, msg.ts, text)
    edited.blocks = blocks
    request = senv.signer.message_changed_for(edited, old_text=old)
    event = request.payload()["event"]
    event["message"]["blocks"] = blocks
    response = await senv.send(senv.signer.event_callback(event))
    assert response.status_code == 200


async def _delete(senv: SlackEnv, msg: StoredMessage) -> None:
    deleted = senv.slack.delete_as_user(CHANNEL, msg.ts)
    response = await senv.send(senv.signer.message_deleted_for(deleted))
    assert response.status_code == 200


async def test_edit_and_delete_within_the_window_reach_the_customer(
    senv: SlackEnv, receiver: Receiver
) -> None:
    esc_id = await senv.escalate()
    await senv.take(esc_id, ANN)
    first = await _say(senv, esc_id, ANN, text="Your refund is 100$")
    (sent,) = await _delivered(senv, receiver, "escalation.message")
    message_id = sent["data"]["message"]["id"]

    clock = senv.env.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(minutes=14))
    await _edit(senv, first, "Your refund is *10$*", _bold_blocks("Your refund is ", "10$"))
    (edited,) = await _delivered(senv, receiver, "escalation.message_edited")
    assert edited["data"]["message"]["id"] == message_id
    assert edited["data"]["message"]["content"] == "Your refund is 10$"
    assert edited["data"]["message"]["markdown"] == "Your refund is **10$**"
    assert edited["data"]["message"]["edited_at"] == edited["timestamp"]
    assert edited["data"]["message"]["sent_at"] == sent["data"]["message"]["sent_at"]

    await _delete(senv, first)
    (deleted,) = await _delivered(senv, receiver, "escalation.message_deleted")
    assert deleted["data"]["message_id"] == message_id
    assert await _types(senv, receiver) == [
        "escalation.created",
        "escalation.taken",
        "escalation.message",
        "escalation.message_edited",
        "escalation.message_deleted",
    ]
    # Both are in the audit trail; the customer's transcript no longer has the message.
    (edit_event,) = await _events(senv, esc_id, "message_edited")
    assert edit_event.data["previous"] == "Your refund is 100$"
    (delete_event,) = await _events(senv, esc_id, "message_deleted")
    assert delete_event.data == {"message_id": message_id, "content": "Your refund is 10$"}
    detail = (await senv.client.get(f"/v1/escalations/{esc_id}", headers=senv.env.auth)).json()
    assert message_id not in {m["id"] for m in detail["messages"]}
    assert senv.ephemerals(ANN) == []  # nothing to tell: the customer has the change


async def test_after_the_window_the_customer_keeps_the_original(
    senv: SlackEnv, receiver: Receiver
) -> None:
    esc_id = await senv.escalate()
    await senv.take(esc_id, ANN)
    first = await _say(senv, esc_id, ANN, text="Your refund is 100$")
    await _delivered(senv, receiver, "escalation.message")

    clock = senv.env.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(minutes=15, seconds=1))
    await _edit(senv, first, "Your refund is *10$*", _bold_blocks("Your refund is ", "10$"))
    (note,) = await eventually(lambda: _events(senv, esc_id, "note"), what="the edit's note")
    assert note.data["content"] == (
        "Edited a message already sent to the customer in Slack. Now: Your refund is 10$"
    )
    await _delete(senv, first)

    async def two_notes() -> bool:
        return len(await _events(senv, esc_id, "note")) == 2

    await eventually(two_notes, what="the delete's note")
    hints = await eventually(lambda: len(senv.ephemerals(ANN)) == 2 and senv.ephemerals(ANN))
    assert "keeps your original message" in hints[0] and "keeps this message" in hints[1]
    await asyncio.sleep(0.2)
    assert await _types(senv, receiver) == [
        "escalation.created",
        "escalation.taken",
        "escalation.message",
    ]


async def test_an_edit_after_a_reassignment_stays_in_slack(
    senv: SlackEnv, receiver: Receiver
) -> None:
    """Within the window, but the escalation is someone else's now: the customer, who has
    met a new agent since, keeps the original."""
    esc_id = await senv.escalate()
    await senv.take(esc_id, ANN)
    first = await _say(senv, esc_id, ANN, text="Your refund is 100$")
    await _delivered(senv, receiver, "escalation.message")
    assigned = await senv.client.patch(
        f"/v1/escalations/{esc_id}", json={"assignee": BOB}, headers=senv.env.auth
    )
    assert assigned.status_code == 200, assigned.text
    await _edit(senv, first, "Your refund is 10$", _plain_blocks("Your refund is 10$"))
    hints = await eventually(lambda: senv.ephemerals(ANN), what="Ann's hint")
    assert "keeps your original message" in hints[0]
    assert "escalation.message_edited" not in await _types(senv, receiver)


@pytest.mark.parametrize("senv", ["5m"], indirect=True)
async def test_a_shorter_configured_window_is_the_one_kept(
    senv: SlackEnv, receiver: Receiver
) -> None:
    esc_id = await senv.escalate()
    await senv.take(esc_id, ANN)
    first = await _say(senv, esc_id, ANN, text="Your refund is 100$")
    await _delivered(senv, receiver, "escalation.message")
    clock = senv.env.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(minutes=6))
    await _edit(senv, first, "Your refund is 10$", _plain_blocks("Your refund is 10$"))
    hints = await eventually(lambda: senv.ephemerals(ANN), what="Ann's hint")
    assert "keeps your original message" in hints[0]
    assert "escalation.message_edited" not in await _types(senv, receiver)


def test_the_edit_window_is_configured_and_checked() -> None:
    assert Config().relay.edit_window == timedelta(minutes=15)
    config = parse_config({"relay": {"edit_window": "5m"}})
    assert config.relay.edit_window == timedelta(minutes=5)
    for bad in ("soon", "0m", 15):
        with pytest.raises(ConfigError, match=r"relay\.edit_window"):
            parse_config({"relay": {"edit_window": bad}})
    with pytest.raises(ConfigError, match=r"relay\.window: unknown key"):
        parse_config({"relay": {"window": "5m"}})
