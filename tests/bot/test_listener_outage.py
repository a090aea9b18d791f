"""Slack asks while the database is down. The real app reaches the real PostgreSQL through a
TCP proxy that refuses and resets every connection during the outage; each click, modal,
Home, command or thread message still gets its answer from Slack's point of view (HTTP 200
in time), the person who asked is told it did not work, and once the database is back
nothing has changed behind their back, and asking again works."""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from api.demo.slack_standin import StandIn
from blocks import commands, notices
from blocks.home import ENTRIES_PER_PAGE
from blocks.ids import Action, Input, MoreOption
from storage import homes
from storage.models import Escalation
from tests.bot.conftest import ANN, BOB, SlackEnv, eventually, running_slack_env
from tests.faults.tcp_proxy import TcpProxy
from tests.slack_requests import SlackRequest

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("database_url", ["postgres"], indirect=True),
]

SLACK_WAITS = 3.0  # seconds Slack gives an answer


@dataclass
class Outage:
    senv: SlackEnv
    proxy: TcpProxy
    down: bool = False

    async def begin(self) -> None:
        await asyncio.to_thread(self.proxy.outage)
        self.down = True

    async def end(self) -> None:
        await asyncio.to_thread(self.proxy.restore)
        self.down = False

    async def send(self, request: SlackRequest) -> httpx.Response:
        """Sends as Slack does; the answer must come in time, and be a 200."""
        started = time.monotonic()
        response = await self.senv.send(request)
        assert time.monotonic() - started < SLACK_WAITS, "Slack gives up after 3 seconds"
        assert response.status_code == 200, response.text
        return response


@pytest.fixture
async def outage(database_url: str, standin: StandIn) -> AsyncIterator[Outage]:
    direct = make_url(database_url)
    proxy = TcpProxy(direct.host or "127.0.0.1", direct.port or 5432).start()
    through = direct.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        async with running_slack_env(through, standin) as senv:
            cut = Outage(senv, proxy)
            yield cut
            if cut.down:
                await cut.end()
    finally:
        proxy.stop()


async def _escalation(senv: SlackEnv, esc_id: str) -> Escalation:
    async with senv.env.db.read() as s:
        esc = await s.get(Escalation, esc_id, populate_existing=True)
    assert esc is not None
    return esc


async def _taken_by_ann(senv: SlackEnv) -> str:
    esc_id = await senv.escalate()  # priority high
    await senv.take(esc_id, ANN)
    return esc_id


async def _as_it_was(senv: SlackEnv, esc_id: str) -> None:
    """Nothing changed: still Ann's, as it was, and the platform heard of nothing new."""
    esc = await _escalation(senv, esc_id)
    assert (esc.status, esc.assignee_id, esc.priority) == ("taken", ANN, "high")
    assert await senv.platform_events(esc_id) == ["escalation.created", "escalation.taken"]


# ---------------------------------------------------------------------------- card buttons

CLICKS = {
    "reply": (Action.REPLY, None),
    "close": (Action.CLOSE, None),
    "more-priority": (Action.MORE, MoreOption.PRIORITY),
    "more-reassign": (Action.MORE, MoreOption.REASSIGN),
    "more-unassign": (Action.MORE, MoreOption.UNASSIGN),
}


@pytest.mark.parametrize("clicked", list(CLICKS))
async def test_a_card_button_tells_the_agent_and_works_once_the_database_is_back(
    outage: Outage, clicked: str
) -> None:
    senv = outage.senv
    esc_id = await _taken_by_ann(senv)
    action_id, option = CLICKS[clicked]
    card = await senv.card(esc_id)
    chosen = f"{option}:{esc_id}" if option else None

    def click() -> SlackRequest:
        return senv.signer.block_action_on(
            card, user=ANN, action_id=action_id, selected_option_value=chosen
        )

    await outage.begin()
    await outage.send(click())
    told = await eventually(lambda: senv.ephemerals(ANN), what="Ann to be told")
    assert told == [notices.trouble()]
    assert senv.slack.calls_to("views.open") == []  # no modal for what could not be read
    await outage.end()
    await _as_it_was(senv, esc_id)

    await outage.send(click())
    if option == MoreOption.UNASSIGN:
        await eventually(lambda: _status_is(senv, esc_id, "queued"), what="the unassign")
    else:
        await eventually(lambda: senv.slack.calls_to("views.open"), what="the modal")
    assert senv.ephemerals(ANN) == told  # nothing more to tell


async def _status_is(senv: SlackEnv, esc_id: str, status: str) -> bool:
    return (await _escalation(senv, esc_id)).status == status


# ---------------------------------------------------------------------------------- modals


def _select(input_id: str, value: str) -> dict[str, Any]:
    return {input_id: {input_id: {"type": "static_select", "selected_option": {"value": value}}}}


async def _has_message(senv: SlackEnv, esc_id: str) -> bool:
    return "escalation.message" in await senv.platform_events(esc_id)


async def _owned_by_bob(senv: SlackEnv, esc_id: str) -> bool:
    return (await _escalation(senv, esc_id)).assignee_id == BOB


async def _urgent(senv: SlackEnv, esc_id: str) -> bool:
    return (await _escalation(senv, esc_id)).priority == "urgent"


# modal: the button (and overflow option) that opens it, the input that shows the error,
# what is submitted, and the change it makes once the database is back.
MODALS: dict[str, tuple[Action, str | None, Input, dict[str, Any], Callable[..., Awaitable]]] = {
    "reply": (
        Action.REPLY,
        None,
        Input.REPLY_TEXT,
        {Input.REPLY_TEXT: {Input.REPLY_TEXT: {"type": "plain_text_input", "value": "On it!"}}},
        _has_message,
    ),
    "close": (
        Action.CLOSE,
        None,
        Input.RESOLUTION,
        _select(Input.RESOLUTION, "resolved"),
        lambda senv, esc_id: _status_is(senv, esc_id, "closed"),
    ),
    "reassign": (
        Action.MORE,
        MoreOption.REASSIGN,
        Input.ASSIGNEE,
        {Input.ASSIGNEE: {Input.ASSIGNEE: {"type": "users_select", "selected_user": BOB}}},
        _owned_by_bob,
    ),
    "priority": (
        Action.MORE,
        MoreOption.PRIORITY,
        Input.PRIORITY,
        _select(Input.PRIORITY, "urgent"),
        _urgent,
    ),
}


@pytest.mark.parametrize("modal", list(MODALS))
async def test_a_modal_submitted_stays_open_with_why_and_goes_through_when_sent_again(
    outage: Outage, modal: str
) -> None:
    senv = outage.senv
    action_id, option, input_id, values, done = MODALS[modal]
    esc_id = await _taken_by_ann(senv)
    await senv.click(esc_id, ANN, action_id, f"{option}:{esc_id}" if option else None)
    (view,) = await eventually(lambda: list(senv.slack.views.values()), what="the modal")

    await outage.begin()
    refused = await outage.send(senv.signer.view_submission_for(view, user=ANN, values=values))
    assert refused.json() == {  # the modal stays open, what Ann chose or wrote still in it
        "response_action": "errors",
        "errors": {input_id: notices.trouble_in_modal()},
    }
    await outage.end()
    await _as_it_was(senv, esc_id)

    accepted = await outage.send(senv.signer.view_submission_for(view, user=ANN, values=values))
    assert accepted.text == ""  # the modal closes
    await eventually(lambda: done(senv, esc_id), what=f"the {modal}")
    assert senv.ephemerals(ANN) == []  # the modal said it all


# ---------------------------------------------------------------------------------- App Home


def _dm(senv: SlackEnv, user: str) -> list[str]:
    """What the bot wrote to ``user`` in their DM with it (the app's Messages tab)."""
    return [m.text for m in senv.slack.top_level(f"D{user}")]


def _homes_published(senv: SlackEnv) -> int:
    return len(senv.slack.calls_to("views.publish"))


async def _shown(senv: SlackEnv, user: str) -> bool:
    home = await homes.load(senv.env.db, user)
    return home is not None and home.view_hash is not None


HOME = ["opened", "priority", "page"]


@pytest.mark.parametrize("done", HOME)
async def test_the_home_tells_the_user_in_their_dm(outage: Outage, done: str) -> None:
    senv = outage.senv
    if done == "page":
        for _ in range(ENTRIES_PER_PAGE + 1):  # a second page
            await senv.env.create()
    await outage.send(senv.signer.app_home_opened(user=ANN))
    await eventually(lambda: _shown(senv, ANN), what="Ann's Home, recorded as shown")
    view = senv.slack.views[f"home:{ANN}"]
    if done == "opened":
        request = senv.signer.app_home_opened(user=ANN, view=view)
    elif done == "priority":
        request = senv.signer.block_action_in_view(
            view, user=ANN, action_id=Action.HOME_PRIORITY, selected_option_value="urgent"
        )
    else:
        request = senv.signer.block_action_in_view(
            view, user=ANN, action_id=Action.HOME_PAGE, value="1"
        )
    published = _homes_published(senv)

    await outage.begin()
    await outage.send(request)
    assert await eventually(lambda: _dm(senv, ANN), what="a DM to Ann") == [notices.trouble()]
    assert _homes_published(senv) == published
    await outage.end()
    home = await homes.load(senv.env.db, ANN)
    assert home is not None and (home.priority, home.page) == (None, 0)  # as it was

    await outage.send(request)  # asked again, the Home comes
    await eventually(lambda: _homes_published(senv) > published, what="the Home")
    assert _dm(senv, ANN) == [notices.trouble()]


# ------------------------------------------------------------------------- the slash command


async def test_the_slash_command_answers_that_it_cannot_read_the_queue(outage: Outage) -> None:
    senv = outage.senv
    await _taken_by_ann(senv)
    await outage.begin()
    answer = (await outage.send(senv.signer.escalations(user=ANN, text="mine"))).json()
    assert answer["response_type"] == "ephemeral"
    assert answer["text"] == commands.trouble().text
    await outage.end()
    answer = (await outage.send(senv.signer.escalations(user=ANN, text="mine"))).json()
    assert "Your queue* (1)" in json.dumps(answer["blocks"])


# ------------------------------------------------------------------------ a thread message


async def test_a_reply_in_the_thread_is_not_sent_later_behind_its_writers_back(
    outage: Outage,
) -> None:
    senv = outage.senv
    esc_id = await _taken_by_ann(senv)
    thread = await senv.thread(esc_id)

    await outage.begin()
    said = senv.slack.post_as_user(thread.channel_id, ANN, "Refund approved", thread.thread_ts)
    event = senv.signer.message_event_for(said)
    await outage.send(event)  # a 200: Slack does not deliver it again later
    (told,) = await eventually(lambda: senv.slack.ephemerals_for(ANN), what="Ann to be told")
    assert (told.text, told.thread_ts) == (notices.trouble(), thread.thread_ts)
    # Someone's thread under another person's message is none of Baton's business.
    other = senv.slack.post_as_user(thread.channel_id, BOB, "lunch?")
    aside = senv.slack.post_as_user(thread.channel_id, ANN, "yes", other.ts)
    await outage.send(senv.signer.message_event_for(aside))
    await outage.end()
    await _as_it_was(senv, esc_id)
    assert len(senv.ephemerals(ANN)) == 1

    again = senv.slack.post_as_user(thread.channel_id, ANN, "Refund approved", thread.thread_ts)
    await outage.send(senv.signer.message_event_for(again))
    await eventually(lambda: _has_message(senv, esc_id), what="the reply, sent again")
