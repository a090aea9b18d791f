"""Thread messages as Slack really delivers them: a reply that comes before Baton has
recorded its card, and a retry that comes while the first delivery is still being handled."""

import asyncio

import httpx
import pytest

from api.demo.slack_standin import Fault, StandIn
from blocks.ids import Action
from storage import slack_events, threads
from storage.models import Event
from tests.bot.conftest import ANN, BOB, CHANNEL, SlackEnv, eventually, running_slack_env


async def _events(senv: SlackEnv, esc_id: str, kind: str) -> list[Event]:
    async with senv.env.db.read() as s:
        rows = await s.execute(
            Event.__table__.select().where(Event.escalation_id == esc_id, Event.type == kind)  # type: ignore[attr-defined]
        )
        return [Event(**row._mapping) for row in rows]


async def _card_posted_but_not_recorded(senv: SlackEnv) -> tuple[str, object]:
    """An escalation whose card is in Slack, while Baton never heard Slack's answer."""
    senv.slack.fail("chat.postMessage", Fault(drop_connection=True))
    esc_id = (await senv.env.create())["id"]
    await senv.delivery.run_once()
    [card] = senv.slack.top_level(CHANNEL)
    assert await threads.thread_of(senv.env.db, esc_id) is None
    return esc_id, card


async def test_a_reply_under_a_card_not_yet_recorded_reaches_the_customer(
    slack_env: SlackEnv,
) -> None:
    esc_id, card = await _card_posted_but_not_recorded(slack_env)
    take = slack_env.signer.block_action_on(card, user=ANN, action_id=Action.TAKE)  # type: ignore[arg-type]
    assert (await slack_env.send(take)).status_code == 200
    await eventually(lambda: _owned_by(slack_env, esc_id, ANN), what="Ann to own it")

    reply = slack_env.slack.post_as_user(CHANNEL, ANN, "Chào bạn, mình đây", card.ts)  # type: ignore[attr-defined]
    assert (await slack_env.send(slack_env.signer.message_event_for(reply))).status_code == 200

    assert "escalation.message" in await slack_env.platform_events(esc_id)
    thread = await threads.thread_of(slack_env.env.db, esc_id)
    assert thread is not None and thread.thread_ts == card.ts  # type: ignore[attr-defined]
    # The card's sender, retrying, finds the card recorded: it is not posted again.
    await slack_env.deliver()
    assert [m.ts for m in slack_env.slack.top_level(CHANNEL)] == [card.ts]  # type: ignore[attr-defined]
    assert slack_env.ephemerals(ANN) == []


async def test_the_writer_is_told_when_slack_cannot_show_the_unrecorded_card(
    slack_env: SlackEnv,
) -> None:
    esc_id, card = await _card_posted_but_not_recorded(slack_env)
    slack_env.slack.fail("conversations.history", Fault(error="internal_error"))
    reply = slack_env.slack.post_as_user(CHANNEL, ANN, "Hello?", card.ts)  # type: ignore[attr-defined]
    assert (await slack_env.send(slack_env.signer.message_event_for(reply))).status_code == 200

    [told] = slack_env.ephemerals(ANN)
    assert "Nothing was sent to the customer" in told
    assert await slack_env.platform_events(esc_id) == ["escalation.created"]
    assert await _events(slack_env, esc_id, "held") == []


async def test_replies_under_other_posts_of_the_bot_are_left_alone(slack_env: SlackEnv) -> None:
    async with httpx.AsyncClient() as http:
        posted = await http.post(
            slack_env.slack.url + "chat.postMessage",
            headers={"Authorization": f"Bearer {slack_env.slack.token}"},
            json={"channel": CHANNEL, "text": "Good morning, team"},
        )
    ts = posted.json()["ts"]
    reply = slack_env.slack.post_as_user(CHANNEL, ANN, "Morning!", ts)
    assert (await slack_env.send(slack_env.signer.message_event_for(reply))).status_code == 200
    assert slack_env.ephemerals(ANN) == []
    assert [c.method for c in slack_env.slack.calls].count("conversations.history") == 1


async def test_a_retry_while_the_first_delivery_is_handled_makes_one_note(
    slack_env: SlackEnv,
) -> None:
    esc_id = await slack_env.escalate()
    await slack_env.take(esc_id, ANN)
    # Bob is new to Baton: looking up his name is slow, and Slack retries meanwhile.
    slack_env.slack.fail("users.info", Fault(delay=1.5))
    thread = await slack_env.thread(esc_id)
    msg = slack_env.slack.post_as_user(CHANNEL, BOB, "Customer is a VIP", thread.thread_ts)
    first = slack_env.signer.message_event_for(msg)
    handling = asyncio.create_task(slack_env.send(first))
    await asyncio.sleep(0.5)
    again = await slack_env.send(slack_env.signer.retried(first))
    assert again.status_code == 200
    assert (await handling).status_code == 200

    assert len(await _events(slack_env, esc_id, "note")) == 1
    assert len(slack_env.ephemerals(BOB)) == 1


async def _owned_by(senv: SlackEnv, esc_id: str, user: str) -> bool:
    return await senv.owner(esc_id) == user


async def test_a_reply_while_the_cards_answer_is_still_on_its_way_is_relayed_once(
    slack_env: SlackEnv,
) -> None:
    slack_env.slack.fail("chat.postMessage", Fault(late=1.5))
    esc_id = (await slack_env.env.create(assign_to=ANN))["id"]
    posting = asyncio.create_task(slack_env.delivery.run_once())
    card = await eventually(lambda: slack_env.slack.top_level(CHANNEL), what="the card")
    reply = slack_env.slack.post_as_user(CHANNEL, ANN, "Chào bạn 👋", card[0].ts)
    assert (await slack_env.send(slack_env.signer.message_event_for(reply))).status_code == 200
    assert not posting.done()  # the reply was handled before Slack's answer came

    await posting
    await slack_env.deliver()
    assert (await slack_env.platform_events(esc_id)).count("escalation.message") == 1
    assert [m.ts for m in slack_env.slack.top_level(CHANNEL)] == [card[0].ts]
    assert (await slack_env.thread(esc_id)).thread_ts == card[0].ts


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_retry_after_a_crash_mid_reply_is_relayed_at_once(
    database_url: str, standin: StandIn
) -> None:
    """Baton claimed Ann's reply and was killed before handling it. On the embedded database
    one process serves, so the restarted Baton knows the claim is a crash's: Slack's retry is
    relayed, not dropped as a duplicate for the next half minute."""
    async with running_slack_env(database_url, standin) as senv:
        esc_id = (await senv.env.create(assign_to=ANN))["id"]
        await senv.deliver()
        [card] = senv.slack.top_level(CHANNEL)
        reply = senv.slack.post_as_user(CHANNEL, ANN, "Mình xem ngay nhé", card.ts)
        request = senv.signer.message_event_for(reply, event_id="Ev0CRASHED")
        assert await slack_events.claim(senv.env.db, "Ev0CRASHED")  # then the kill

    async with running_slack_env(database_url, standin, platform="restarted") as senv:
        response = await senv.send(senv.signer.retried(request))
        assert response.status_code == 200

        async def relayed() -> bool:
            return "escalation.message" in await senv.platform_events(esc_id)

        await eventually(relayed, what="the reply's event")
        assert (await senv.platform_events(esc_id)).count("escalation.message") == 1
