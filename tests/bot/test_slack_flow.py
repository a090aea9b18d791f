"""The Slack side of an escalation, through the real app: card and thread, the buttons,
the modals and the thread messages, against the Slack stand-in."""

import asyncio
import json

import pytest
import respx
from sqlalchemy import update

from api.demo.slack_standin import BOT_ID, BOT_USER, StandIn
from blocks.ids import Action, Input, MoreOption
from storage.models import Escalation, Event, OutboxRow, Topic
from tests.bot.conftest import (
    ANN,
    BOB,
    CHANNEL,
    CHI,
    CROWD,
    SlackEnv,
    eventually,
    running_slack_env,
)


def dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


async def _escalation(senv: SlackEnv, esc_id: str) -> Escalation:
    async with senv.env.db.read() as s:
        esc = await s.get(Escalation, esc_id, populate_existing=True)
    assert esc is not None
    return esc


async def _events(senv: SlackEnv, esc_id: str, kind: str) -> list[Event]:
    async with senv.env.db.read() as s:
        rows = await s.execute(
            Event.__table__.select().where(Event.escalation_id == esc_id, Event.type == kind)  # type: ignore[attr-defined]
        )
        return [Event(**row._mapping) for row in rows]


def _action_ids(blocks: list[dict]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def _card_text(card: object) -> str:
    return dumps(card.blocks) + card.text  # type: ignore[attr-defined]


async def test_card_posted_once_with_metadata_transcript_and_context(slack_env: SlackEnv) -> None:
    esc_id = await slack_env.escalate()
    await slack_env.deliver()  # nothing more to do: still one card
    cards = slack_env.slack.top_level(CHANNEL)
    assert len(cards) == 1
    card = cards[0]
    assert card.metadata == {
        "event_type": "baton_post",
        "event_payload": {"escalation_id": esc_id, "key": "card"},
    }
    assert "Nguyen Van A" in _card_text(card)
    assert _action_ids(card.blocks)[0] == Action.TAKE
    intro = dumps([m.blocks for m in await slack_env.replies(esc_id)])
    assert "Tôi muốn khiếu nại" in intro  # the transcript
    assert "billing" in intro and "gold" in intro  # tags and memory


async def test_take_names_the_owner_and_tells_the_platform(slack_env: SlackEnv) -> None:
    esc_id = await slack_env.escalate()
    await slack_env.click(esc_id, ANN, Action.TAKE)
    esc = await eventually(lambda: _taken_by(slack_env, esc_id, ANN), what="the take")
    assert esc.assignee_name == "Ann"  # display name from users.info
    await slack_env.deliver()
    card = await slack_env.card(esc_id)
    assert f"<@{ANN}>" in _card_text(card)
    actions = [
        e.get("action_id") for b in card.blocks if b["type"] == "actions" for e in b["elements"]
    ]
    assert Action.TAKE not in actions and Action.REPLY in actions
    assert await slack_env.platform_events(esc_id) == ["escalation.created", "escalation.taken"]


async def _taken_by(senv: SlackEnv, esc_id: str, user: str) -> Escalation | None:
    esc = await _escalation(senv, esc_id)
    return esc if esc.assignee_id == user else None


async def test_real_name_when_no_display_name_and_names_are_cached(slack_env: SlackEnv) -> None:
    first = await slack_env.escalate()
    second = await slack_env.escalate()
    await slack_env.click(first, CHI, Action.TAKE)
    await eventually(lambda: _taken_by(slack_env, first, CHI))
    await slack_env.click(second, CHI, Action.TAKE)
    esc = await eventually(lambda: _taken_by(slack_env, second, CHI))
    assert esc.assignee_name == "Chi Pham"
    assert len([c for c in slack_env.slack.calls_to("users.info") if c.params["user"] == CHI]) == 1


async def test_twenty_simultaneous_takes_one_owner_nineteen_told_who(slack_env: SlackEnv) -> None:
    esc_id = await slack_env.escalate()
    card = await slack_env.card(esc_id)
    requests = [
        slack_env.signer.block_action_on(card, user=user, action_id=Action.TAKE) for user in CROWD
    ]
    responses = await asyncio.gather(*(slack_env.send(r) for r in requests))
    assert all(r.status_code == 200 for r in responses)

    def told() -> int:
        return sum(len(slack_env.ephemerals(u)) for u in CROWD)

    await eventually(lambda: told() == 19, what="19 ephemerals")
    esc = await _escalation(slack_env, esc_id)
    assert esc.assignee_id in CROWD
    losers = [u for u in CROWD if u != esc.assignee_id]
    for user in losers:
        (text,) = slack_env.ephemerals(user)
        assert f"Already taken by <@{esc.assignee_id}>" in text
    assert slack_env.ephemerals(esc.assignee_id) == []
    assert (await slack_env.platform_events(esc_id)).count("escalation.taken") == 1


async def test_owner_thread_message_is_relayed_once_teammates_are_notes(
    slack_env: SlackEnv,
) -> None:
    esc_id = await slack_env.escalate()
    await slack_env.take(esc_id, ANN)

    reply = await slack_env.say(esc_id, ANN, "Chào bạn, mình xem ngay nhé")
    await eventually(
        lambda: _has(slack_env, esc_id, "escalation.message"), what="the relayed reply"
    )
    # Slack retries the same event: no second relay.
    again = slack_env.signer.retried(slack_env.signer.message_event_for(reply))
    assert (await slack_env.send(again)).status_code == 200
    # The same message under a new event id (a duplicate delivery): still one relay.
    assert (await slack_env.send(slack_env.signer.message_event_for(reply))).status_code == 200

    await slack_env.say(esc_id, BOB, "I think it's the refund bug")
    await eventually(lambda: slack_env.ephemerals(BOB), what="Bob's hint")
    assert "internal note" in slack_env.ephemerals(BOB)[0]
    await slack_env.say(esc_id, ANN, "note: customer is upset, be gentle")
    await eventually(lambda: _count_events(slack_env, esc_id, "note", 2), what="two notes")
    await asyncio.sleep(0.2)  # give a wrongly relayed message time to show
    events = await slack_env.platform_events(esc_id)
    assert events.count("escalation.message") == 1


async def _has(senv: SlackEnv, esc_id: str, kind: str) -> bool:
    return kind in await senv.platform_events(esc_id)


async def _count_events(senv: SlackEnv, esc_id: str, kind: str, n: int) -> bool:
    return len(await _events(senv, esc_id, kind)) == n


async def test_bot_messages_in_the_thread_are_ignored(slack_env: SlackEnv) -> None:
    esc_id = await slack_env.escalate()
    await slack_env.take(esc_id, ANN)
    thread = await slack_env.thread(esc_id)
    for user, bot_id in ((BOT_USER, BOT_ID), ("U0OTHERBOT", "B0OTHER")):
        event = slack_env.signer.message_event(
            user=user,
            channel=CHANNEL,
            text="automated",
            ts="1.000001",
            thread_ts=thread.thread_ts,
            bot_id=bot_id,
        )
        assert (await slack_env.send(event)).status_code == 200
    await asyncio.sleep(0.2)
    assert "escalation.message" not in await slack_env.platform_events(esc_id)
    assert await _events(slack_env, esc_id, "note") == []


async def test_non_owner_in_a_queued_thread_chooses_take_and_send(slack_env: SlackEnv) -> None:
    esc_id = await slack_env.escalate()
    await slack_env.say(esc_id, BOB, "Hi, Bob here, let me help")
    prompt = await eventually(lambda: slack_env.slack.ephemerals_for(BOB), what="the prompt")
    ids = [
        e["action_id"] for b in prompt[0].blocks if b["type"] == "actions" for e in b["elements"]
    ]
    assert ids == [Action.TAKE_AND_SEND, Action.KEEP_AS_NOTE]
    assert "escalation.message" not in await slack_env.platform_events(esc_id)

    button = next(
        e
        for b in prompt[0].blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == Action.TAKE_AND_SEND
    )
    click = slack_env.signer.block_action(
        user=BOB,
        action_id=Action.TAKE_AND_SEND,
        value=button["value"],
        channel=CHANNEL,
        message_ts=prompt[0].ts,
        is_ephemeral=True,
    )
    assert (await slack_env.send(click)).status_code == 200
    await eventually(lambda: _has(slack_env, esc_id, "escalation.message"))
    assert (await _escalation(slack_env, esc_id)).assignee_id == BOB
    assert await slack_env.platform_events(esc_id) == [
        "escalation.created",
        "escalation.taken",
        "escalation.message",
    ]


async def test_keep_as_note_sends_nothing(slack_env: SlackEnv) -> None:
    esc_id = await slack_env.escalate()
    await slack_env.say(esc_id, BOB, "Looks like fraud to me")
    prompt = await eventually(lambda: slack_env.slack.ephemerals_for(BOB))
    value = next(
        e["value"] for b in prompt[0].blocks if b["type"] == "actions" for e in b["elements"]
    )
    click = slack_env.signer.block_action(
        user=BOB,
        action_id=Action.KEEP_AS_NOTE,
        value=value,
        channel=CHANNEL,
        message_ts=prompt[0].ts,
        is_ephemeral=True,
    )
    await slack_env.send(click)
    (note,) = await eventually(lambda: _events(slack_env, esc_id, "note"))
    assert note.data["content"] == "Looks like fraud to me"
    assert (await _escalation(slack_env, esc_id)).status == "queued"
    assert "escalation.message" not in await slack_env.platform_events(esc_id)


async def test_reply_modal_relays_and_posts_in_the_thread(slack_env: SlackEnv) -> None:
    esc_id = await slack_env.escalate()
    await slack_env.take(esc_id, ANN)
    await slack_env.click(esc_id, ANN, Action.REPLY)
    (view,) = await eventually(lambda: list(slack_env.slack.views.values()), what="the modal")

    empty = {Input.REPLY_TEXT: {Input.REPLY_TEXT: {"type": "plain_text_input", "value": None}}}
    refused = await slack_env.send(
        slack_env.signer.view_submission_for(view, user=ANN, values=empty)
    )
    assert refused.json() == {
        "response_action": "errors",
        "errors": {Input.REPLY_TEXT: "Write a reply first."},
    }
    text = {Input.REPLY_TEXT: {Input.REPLY_TEXT: {"type": "plain_text_input", "value": "Done!"}}}
    accepted = await slack_env.send(
        slack_env.signer.view_submission_for(view, user=ANN, values=text)
    )
    assert accepted.status_code == 200 and accepted.text == ""
    await eventually(lambda: _has(slack_env, esc_id, "escalation.message"))
    await slack_env.deliver()
    assert any("Done!" in dumps(m.blocks) for m in await slack_env.replies(esc_id))


async def test_only_the_owner_gets_the_reply_modal(slack_env: SlackEnv) -> None:
    esc_id = await slack_env.escalate()
    await slack_env.take(esc_id, ANN)
    await slack_env.click(esc_id, BOB, Action.REPLY)
    (hint,) = await eventually(lambda: slack_env.ephemerals(BOB))
    assert f"Only the owner, <@{ANN}>" in hint
    assert slack_env.slack.views == {}


async def test_close_modal_ends_it_with_resolution_and_note(slack_env: SlackEnv) -> None:
    esc_id = await slack_env.escalate()
    await slack_env.take(esc_id, ANN)
    await slack_env.click(esc_id, ANN, Action.CLOSE)
    (view,) = await eventually(lambda: list(slack_env.slack.views.values()))
    values = {
        Input.RESOLUTION: {
            Input.RESOLUTION: {"type": "static_select", "selected_option": {"value": "duplicate"}}
        },
        Input.CLOSE_NOTE: {Input.CLOSE_NOTE: {"type": "plain_text_input", "value": "see #42"}},
        Input.KEEP_PAUSED: {
            Input.KEEP_PAUSED: {
                "type": "checkboxes",
                "selected_options": [{"value": Input.KEEP_PAUSED}],
            }
        },
    }
    await slack_env.send(slack_env.signer.view_submission_for(view, user=ANN, values=values))
    esc = await eventually(
        lambda: _status(slack_env, esc_id, "closed"), what="the escalation to close"
    )
    assert (esc.resolution, esc.close_note, esc.keep_ai_paused) == ("duplicate", "see #42", True)
    await slack_env.deliver()
    card = await slack_env.card(esc_id)
    # Closed for good but for its paused AI: the one button left resumes it.
    actions = [e["action_id"] for b in card.blocks if b["type"] == "actions" for e in b["elements"]]
    assert "Closed" in _card_text(card) and actions == [Action.RESUME_AI]


async def _status(senv: SlackEnv, esc_id: str, status: str) -> Escalation | None:
    esc = await _escalation(senv, esc_id)
    return esc if esc.status == status else None


async def test_return_to_bot_makes_the_card_final(slack_env: SlackEnv) -> None:
    esc_id = await slack_env.escalate()
    await slack_env.take(esc_id, ANN)
    await slack_env.click(esc_id, ANN, Action.RETURN)
    await eventually(lambda: _status(slack_env, esc_id, "returned"))
    await slack_env.deliver()
    card = await slack_env.card(esc_id)
    assert "Returned to the bot" in _card_text(card)
    assert await slack_env.platform_events(esc_id) == [
        "escalation.created",
        "escalation.taken",
        "escalation.returned",
    ]
    # A late click on the old card is refused politely.
    request = slack_env.signer.block_action(
        user=BOB, action_id=Action.TAKE, value=esc_id, channel=CHANNEL, message_ts=card.ts
    )
    await slack_env.send(request)
    (hint,) = await eventually(lambda: slack_env.ephemerals(BOB))
    assert "back with the bot" in hint


async def test_overflow_priority_reassign_and_unassign(slack_env: SlackEnv) -> None:
    esc_id = await slack_env.escalate()
    await slack_env.click(esc_id, ANN, Action.MORE, option=f"{MoreOption.PRIORITY}:{esc_id}")
    (view,) = await eventually(lambda: list(slack_env.slack.views.values()))
    values = {
        Input.PRIORITY: {
            Input.PRIORITY: {"type": "static_select", "selected_option": {"value": "urgent"}}
        }
    }
    await slack_env.send(slack_env.signer.view_submission_for(view, user=ANN, values=values))
    await eventually(lambda: _priority(slack_env, esc_id, "urgent"))

    await slack_env.click(esc_id, ANN, Action.MORE, option=f"{MoreOption.REASSIGN}:{esc_id}")
    await eventually(lambda: len(slack_env.slack.views) == 2)
    view = list(slack_env.slack.views.values())[-1]
    values = {Input.ASSIGNEE: {Input.ASSIGNEE: {"type": "users_select", "selected_user": BOB}}}
    await slack_env.send(slack_env.signer.view_submission_for(view, user=ANN, values=values))
    await eventually(lambda: _taken_by(slack_env, esc_id, BOB))
    await slack_env.deliver()

    await slack_env.click(esc_id, ANN, Action.MORE, option=f"{MoreOption.UNASSIGN}:{esc_id}")
    await eventually(lambda: _status(slack_env, esc_id, "queued"))
    await slack_env.deliver()
    assert "Waiting" in _card_text(await slack_env.card(esc_id))


async def _priority(senv: SlackEnv, esc_id: str, priority: str) -> bool:
    return (await _escalation(senv, esc_id)).priority == priority


async def test_customer_messages_are_mirrored_into_the_thread(slack_env: SlackEnv) -> None:
    esc_id = await slack_env.escalate()
    response = await slack_env.client.post(
        f"/v1/escalations/{esc_id}/messages",
        json={"role": "customer", "content": "Are you there?"},
        headers=slack_env.env.auth,
    )
    assert response.status_code == 201, response.text
    await slack_env.deliver()
    assert "Are you there?" in dumps([m.blocks for m in await slack_env.replies(esc_id)])
    assert "Are you there?" in _card_text(await slack_env.card(esc_id))  # the last message


EVIL = "<!channel> <https://evil.example|your bank> & <@U0BOSS>"


async def test_customer_text_reaches_slack_escaped_everywhere(slack_env: SlackEnv) -> None:
    esc_id = await slack_env.escalate(
        customer={"id": "c1", "name": EVIL, "email": "x@y.z"},
        reason_detail=EVIL,
        transcript=[{"role": "customer", "content": EVIL, "timestamp": "2026-03-12T10:00:00Z"}],
        context={"memory": {"note": EVIL}, "tags": [EVIL]},
    )
    await slack_env.client.post(
        f"/v1/escalations/{esc_id}/messages",
        json={"role": "customer", "content": EVIL},
        headers=slack_env.env.auth,
    )
    await slack_env.deliver()
    sent = [
        dumps(c.params)
        for c in slack_env.slack.calls
        if c.method in ("chat.postMessage", "chat.update")
    ]
    assert len(sent) >= 3
    for body in sent:
        assert "<!channel>" not in body and "<https://evil" not in body and "<@U0BOSS>" not in body
    assert any("&lt;!channel&gt;" in body for body in sent)


async def test_bad_signature_is_refused_and_changes_nothing(slack_env: SlackEnv) -> None:
    esc_id = await slack_env.escalate()
    card = await slack_env.card(esc_id)
    request = slack_env.signer.block_action_on(card, user=ANN, action_id=Action.TAKE)
    request.headers["X-Slack-Signature"] = "v0=" + "0" * 64
    response = await slack_env.send(request)
    assert response.status_code == 401
    await asyncio.sleep(0.1)
    assert (await _escalation(slack_env, esc_id)).status == "queued"


@pytest.mark.usefixtures("platform_ok")
async def test_delivered_reply_is_marked_on_the_agents_message(
    slack_env: SlackEnv, platform_ok: respx.MockRouter
) -> None:
    esc_id = await slack_env.escalate()
    await slack_env.take(esc_id, ANN)
    msg = await slack_env.say(esc_id, ANN, "On it")
    await eventually(lambda: _has(slack_env, esc_id, "escalation.message"))
    await slack_env.relay.drain()
    await slack_env.deliver()
    assert set(slack_env.slack.messages[(CHANNEL, msg.ts)].reactions) == {"white_check_mark"}


async def test_failed_reply_is_marked_and_explained(slack_env: SlackEnv) -> None:
    esc_id = await slack_env.escalate()
    await slack_env.take(esc_id, ANN)
    msg = await slack_env.say(esc_id, ANN, "Refund approved")
    await eventually(lambda: _has(slack_env, esc_id, "escalation.message"))
    with respx.mock(assert_all_called=False) as router:
        router.post("https://203.0.113.9/hook").respond(200)
        await slack_env.relay.run_once()  # created
        await slack_env.relay.run_once()  # taken
        router.post("https://203.0.113.9/hook").respond(503)
        await slack_env.relay.run_once()  # the reply: first failure
    await slack_env.deliver()
    assert set(slack_env.slack.messages[(CHANNEL, msg.ts)].reactions) == {"hourglass_flowing_sand"}
    with respx.mock(assert_all_called=False) as router:
        router.post("https://203.0.113.9/hook").respond(410)
        # The retry is due after its back-off: make it due now.
        async with slack_env.env.db.write() as s:
            await s.execute(
                update(OutboxRow)
                .where(OutboxRow.topic == Topic.platform)
                .values(next_attempt_at=slack_env.env.db.clock.now())
            )
        await slack_env.relay.run_once()
    await slack_env.deliver()
    assert set(slack_env.slack.messages[(CHANNEL, msg.ts)].reactions) == {"x"}
    explanation = dumps([m.blocks for m in await slack_env.replies(esc_id)][-1])
    assert "Refund approved" in explanation and "baton deliveries replay" in explanation


async def test_socket_mode_connects_with_the_app_token(database_url: str, standin: StandIn) -> None:
    async with running_slack_env(database_url, standin, slack_app_token=standin.app_token):
        await eventually(
            lambda: standin.calls_to("apps.connections.open"), what="apps.connections.open"
        )
