"""The App Home through the real app and the Slack stand-in: the three groups, the filters
that stay with each user, pages under Slack's 100 blocks, and refreshes when escalations
change, throttled and waiting out 429s."""

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert

from api.config import ApiSection, Config, SlaSection, SlaTarget
from api.demo.slack_standin import BOT_USER, Fault, StandIn
from blocks.ids import Action
from bot.app_home import AppHomes, HomePace
from storage import homes
from storage.clock import ManualClock
from storage.models import Escalation, Priority
from tests.bot.conftest import (
    ANN,
    BOB,
    CHANNEL,
    SlackEnv,
    eventually,
    people,
    running_slack_env,
)

SLA = SlaSection(targets={Priority.high: SlaTarget(first_take=timedelta(minutes=15))})
QUICK = HomePace(interval=0.0, gap=0.0, settle=0.0)
_GROUP = re.compile(r"^\*(My queue|Waiting|Teammates)\* \((\d+)\)$")


@pytest.fixture
async def home_env(database_url: str, standin: StandIn) -> AsyncIterator[SlackEnv]:
    config = Config(api=ApiSection(rate_limit=0), sla=SLA)
    async with running_slack_env(database_url, standin, config=config) as senv:
        app_homes(senv).pace = QUICK
        yield senv


def app_homes(senv: SlackEnv) -> AppHomes:
    found = senv.env.services.homes
    assert found is not None
    return found


def customer(name: str) -> dict[str, Any]:
    return {"id": f"cust_{name.lower().replace(' ', '_')}", "name": name}


def published(senv: SlackEnv, user: str) -> list[dict[str, Any]]:
    """Every Home view published for ``user``, oldest first."""
    return [
        c.params["view"] if isinstance(c.params["view"], dict) else json.loads(c.params["view"])
        for c in senv.slack.calls_to("views.publish")
        if c.params.get("user_id") == user
    ]


def home(senv: SlackEnv, user: str) -> dict[str, Any]:
    view = senv.slack.views.get(f"home:{user}")
    assert view is not None, f"no Home published for {user}"
    return view


async def open_home(senv: SlackEnv, user: str) -> dict[str, Any]:
    before = len(published(senv, user))
    view = senv.slack.views.get(f"home:{user}")
    response = await senv.send(senv.signer.app_home_opened(user=user, view=view))
    assert response.status_code == 200, response.text
    await eventually(lambda: len(published(senv, user)) > before, what=f"{user}'s Home")
    return home(senv, user)


async def click(
    senv: SlackEnv,
    user: str,
    action_id: str,
    *,
    value: str | None = None,
    option: str | None = None,
) -> dict[str, Any]:
    """``user`` clicks in their Home; returns the Home published in answer."""
    before = len(published(senv, user))
    request = senv.signer.block_action_in_view(
        home(senv, user), user=user, action_id=action_id, value=value, selected_option_value=option
    )
    response = await senv.send(request)
    assert response.status_code == 200, response.text
    await eventually(lambda: len(published(senv, user)) > before, what="the Home again")
    return home(senv, user)


def groups(view: dict[str, Any]) -> dict[str, list[str]]:
    """Customer names listed under each group heading, in order."""
    found: dict[str, list[str]] = {}
    current = None
    for block in view["blocks"]:
        text = (block.get("text") or {}).get("text", "") if block["type"] == "section" else ""
        heading = _GROUP.match(text)
        if heading:
            current = heading.group(1)
            found[current] = []
        elif text and current is not None:
            found[current].append(text.split("*")[1])
    return found


def counts_line(view: dict[str, Any]) -> str:
    (line,) = [
        b["elements"][0]["text"]
        for b in view["blocks"]
        if b["type"] == "context" and "in your queue" in b["elements"][0]["text"]
    ]
    return line


def entry(view: dict[str, Any], name: str) -> tuple[str, list[dict[str, Any]]]:
    """The text of ``name``'s entry and the buttons under it."""
    blocks = view["blocks"]
    for i, block in enumerate(blocks):
        text = (block.get("text") or {}).get("text", "")
        if block["type"] == "section" and text.startswith(f"*{name}*"):
            after = blocks[i + 1] if i + 1 < len(blocks) else {}
            return text, after.get("elements", []) if after.get("type") == "actions" else []
    raise AssertionError(f"no entry for {name} in the Home")


def selected(view: dict[str, Any], action_id: str) -> str:
    for block in view["blocks"]:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return element["initial_option"]["value"]
    raise AssertionError(f"no {action_id} in the Home")


async def test_home_shows_my_queue_waiting_and_teammates(home_env: SlackEnv) -> None:
    senv = home_env
    first = await senv.escalate(customer=customer("Quynh Old"), channel="whatsapp")
    await senv.escalate(customer=customer("Wendy New"), channel="widget", priority="urgent")
    mine = await senv.escalate(customer=customer("Minh Mine"))
    theirs = await senv.escalate(customer=customer("Tuan Team"))
    await senv.escalate(customer=customer("<!channel> Eve"), priority="low")
    await senv.take(mine, ANN)
    await senv.take(theirs, BOB)

    view = await open_home(senv, ANN)

    assert groups(view) == {
        "My queue": ["Minh Mine"],
        "Waiting": ["Quynh Old", "Wendy New", "&lt;!channel&gt; Eve"],  # oldest first
        "Teammates": ["Tuan Team"],
    }
    assert counts_line(view).startswith("*1* in your queue · *3* waiting · *1* with teammates")
    text, buttons = entry(view, "Quynh Old")
    assert "High" in text and "whatsapp" in text and "3x gate failure" in text
    assert "waiting <!date^" in text and "{ago}" in text
    assert "SLA to take: :large_green_circle: on track" in text
    take, thread = buttons
    assert (take["action_id"], take["value"]) == (Action.TAKE, first)
    card = await senv.card(first)
    assert thread["url"] == (
        f"https://standin.slack.test/archives/{CHANNEL}/p{card.ts.replace('.', '')}"
    )
    text, buttons = entry(view, "Tuan Team")
    assert f"taken by <@{BOB}>" in text
    assert [b["action_id"] for b in buttons] == [Action.OPEN_THREAD]  # taken: nothing to take
    assert "<!channel>" not in json.dumps(view)  # a customer's name pings nobody

    # Bob's Home has the same escalations the other way round.
    assert groups(await open_home(senv, BOB))["My queue"] == ["Tuan Team"]


async def test_take_from_the_home_takes_it(home_env: SlackEnv) -> None:
    senv = home_env
    esc_id = await senv.escalate(customer=customer("Quynh"))
    await open_home(senv, ANN)
    request = senv.signer.block_action_in_view(
        home(senv, ANN), user=ANN, action_id=Action.TAKE, value=esc_id
    )
    assert (await senv.send(request)).status_code == 200
    await eventually(lambda: _owner_is(senv, esc_id, ANN), what="Ann's take")
    await app_homes(senv).refresh_due()
    assert groups(home(senv, ANN))["My queue"] == ["Quynh"]


async def _owner_is(senv: SlackEnv, esc_id: str, user: str) -> bool:
    return await senv.owner(esc_id) == user


async def test_filters_narrow_the_home_and_stay_with_each_user(home_env: SlackEnv) -> None:
    senv = home_env
    await senv.escalate(customer=customer("High Whatsapp"), channel="whatsapp")
    await senv.escalate(customer=customer("Urgent Widget"), channel="widget", priority="urgent")
    await senv.escalate(customer=customer("Low Whatsapp"), channel="whatsapp", priority="low")
    await open_home(senv, ANN)
    await open_home(senv, BOB)

    view = await click(senv, ANN, Action.HOME_PRIORITY, option="urgent")
    assert groups(view)["Waiting"] == ["Urgent Widget"]
    assert selected(view, Action.HOME_PRIORITY) == "urgent"
    assert "*1* waiting" in counts_line(view) and "filtered: :red_circle: Urgent" in counts_line(
        view
    )

    view = await click(senv, ANN, Action.HOME_PRIORITY, option="all")
    view = await click(senv, ANN, Action.HOME_CHANNEL, option="whatsapp")
    assert groups(view)["Waiting"] == ["High Whatsapp", "Low Whatsapp"]

    # Ann comes back later: her filter is still on. Bob never chose one.
    view = await open_home(senv, ANN)
    assert selected(view, Action.HOME_CHANNEL) == "whatsapp"
    assert groups(view)["Waiting"] == ["High Whatsapp", "Low Whatsapp"]
    assert len(groups(await open_home(senv, BOB))["Waiting"]) == 3
    stored = await homes.load(senv.env.db, ANN)
    assert stored is not None and (stored.priority, stored.channel) == (None, "whatsapp")

    # A filter that matches nothing says so instead of showing an empty page.
    view = await click(senv, ANN, Action.HOME_PRIORITY, option="medium")
    assert groups(view) == {"My queue": [], "Waiting": [], "Teammates": []}
    assert "Nobody is waiting" in json.dumps(view)


async def test_a_click_while_the_last_publish_is_being_recorded_is_answered(
    home_env: SlackEnv,
) -> None:
    """Slack shows the filtered Home but its answer is late, so Baton has not yet recorded
    what it published when Ann takes the filter off again: that click still gets its Home."""
    senv = home_env
    await senv.escalate(customer=customer("High Whatsapp"), channel="whatsapp")
    await senv.escalate(customer=customer("Urgent Widget"), channel="widget", priority="urgent")
    await open_home(senv, ANN)

    senv.slack.fail("views.publish", Fault(late=1.5))
    view = await click(senv, ANN, Action.HOME_PRIORITY, option="urgent")
    assert groups(view)["Waiting"] == ["Urgent Widget"]
    view = await click(senv, ANN, Action.HOME_PRIORITY, option="all")
    assert groups(view)["Waiting"] == ["High Whatsapp", "Urgent Widget"]


async def _many(senv: SlackEnv, mine: int, waiting: int, theirs: int) -> None:
    """Open escalations straight into the database: the API is not what is tested here."""
    now = senv.env.db.clock.now()
    rows = []
    for n in range(mine + waiting + theirs):
        owner = ANN if n < mine else BOB if n >= mine + waiting else None
        rows.append(
            {
                "id": f"esc_bulk{n:04d}",
                "platform_id": senv.env.platform.platform.id,
                "conversation_id": f"bulk_{n}",
                "status": "taken" if owner else "queued",
                "priority": "high",
                "reason": "keyword",
                "channel": "whatsapp",
                "customer": customer(f"Bulk {n:04d}"),
                "customer_name": f"Bulk {n:04d}",
                "context": {},
                "assignee_id": owner,
                "assignee_name": owner,
                "created_at": now + timedelta(seconds=n),
                "updated_at": now,
                "keep_ai_paused": False,
                "version": 1,
            }
        )
    async with senv.env.db.write() as s:
        await s.execute(insert(Escalation), rows)


async def test_five_hundred_open_escalations_page_under_a_hundred_blocks(
    home_env: SlackEnv,
) -> None:
    senv = home_env
    await _many(senv, mine=50, waiting=400, theirs=50)
    view = await open_home(senv, ANN)
    assert counts_line(view).startswith("*50* in your queue · *400* waiting · *50* with")

    seen: list[str] = []
    pages = 0
    while True:
        pages += 1
        assert len(view["blocks"]) <= 100
        listed = groups(view)
        seen += [name for names in listed.values() for name in names]
        more = [
            e
            for b in view["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if e.get("action_id") == Action.HOME_PAGE and e["text"]["text"] == "More"
        ]
        if not more:
            break
        view = await click(senv, ANN, Action.HOME_PAGE, value=more[0]["value"])
    assert pages == 13  # 40 a page
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == 500  # each once, in order
    assert "Page 13 of 13" in json.dumps(view)
    assert list(groups(view)) == ["Teammates"]  # the last page continues one group only

    back = await click(senv, ANN, Action.HOME_PAGE, value="11")
    assert "Page 12 of 13" in json.dumps(back)


async def test_a_take_by_someone_else_refreshes_an_open_home(home_env: SlackEnv) -> None:
    senv = home_env
    esc_id = await senv.escalate(customer=customer("Quynh"))
    await open_home(senv, ANN)
    await app_homes(senv).refresh_due()
    assert len(published(senv, ANN)) == 1  # nothing changed: nothing published

    await senv.take(esc_id, BOB)
    assert await app_homes(senv).refresh_due() == 1
    view = home(senv, ANN)
    assert groups(view) == {"My queue": [], "Waiting": [], "Teammates": ["Quynh"]}
    assert f"taken by <@{BOB}>" in entry(view, "Quynh")[0]
    assert len(published(senv, ANN)) == 2
    assert await app_homes(senv).refresh_due() == 0  # and only once


async def test_homes_not_opened_lately_are_not_refreshed(home_env: SlackEnv) -> None:
    senv = home_env
    await senv.escalate(customer=customer("Quynh"))
    app_homes(senv).pace = HomePace(interval=0.0, gap=0.0, settle=0.0, open_for=timedelta(0))
    await open_home(senv, ANN)
    await senv.escalate(customer=customer("Second"))
    assert await app_homes(senv).refresh_due() == 0
    assert len(published(senv, ANN)) == 1


@pytest.fixture
async def clocked_home_env(database_url: str, standin: StandIn) -> AsyncIterator[SlackEnv]:
    config = Config(api=ApiSection(rate_limit=0))
    async with running_slack_env(database_url, standin, config=config, manual_clock=True) as senv:
        yield senv


async def test_a_burst_of_changes_is_one_publish_per_interval(clocked_home_env: SlackEnv) -> None:
    senv = clocked_home_env
    clock = senv.env.clock
    assert isinstance(clock, ManualClock)
    app_homes(senv).pace = HomePace(interval=30.0, gap=0.0, settle=1.0)
    await open_home(senv, ANN)
    for n in range(10):
        clock.advance(timedelta(milliseconds=100))
        await senv.escalate(customer=customer(f"Burst {n}"))
        await app_homes(senv).refresh_due()
    assert len(published(senv, ANN)) == 2  # opening it, then the first change
    assert len(groups(home(senv, ANN))["Waiting"]) == 1

    clock.advance(timedelta(seconds=31))
    assert await app_homes(senv).refresh_due() == 1  # everything else, at once
    assert len(groups(home(senv, ANN))["Waiting"]) == 10
    clock.advance(timedelta(seconds=31))
    assert await app_homes(senv).refresh_due() == 0  # the settling look found nothing new


async def test_a_429_holds_the_home_for_its_retry_after(clocked_home_env: SlackEnv) -> None:
    senv = clocked_home_env
    clock = senv.env.clock
    assert isinstance(clock, ManualClock)
    app_homes(senv).pace = HomePace(interval=0.0, gap=0.0, settle=0.0)
    await open_home(senv, ANN)
    clock.advance(timedelta(seconds=1))
    await senv.escalate(customer=customer("Quynh"))
    senv.slack.fail("views.publish", Fault(status=429, retry_after=1))

    assert await app_homes(senv).refresh_due() == 0
    assert await app_homes(senv).refresh_due() == 0  # held: Slack is not asked again
    assert len(published(senv, ANN)) == 2  # the open, and the call that got the 429

    clock.advance(timedelta(seconds=2))
    assert await app_homes(senv).refresh_due() == 1
    assert groups(home(senv, ANN))["Waiting"] == ["Quynh"]


async def test_homes_opened_together_keep_under_the_publish_rate(database_url: str) -> None:
    """The stand-in refuses views.publish calls closer than 50 ms; paced 500 ms apart (room
    for a busy machine, whose calls may reach the stand-in bunched up), twelve Homes opened
    at once all go through on the first try."""
    users = people()
    slack = StandIn(
        channels={CHANNEL: {BOT_USER, *users}}, users=users, publish_interval=0.05
    ).start()
    opening = [f"U0MANY{n:02d}" for n in range(12)]
    try:
        async with running_slack_env(database_url, slack) as senv:
            app_homes(senv).pace = HomePace(interval=0.0, gap=0.5, settle=0.0)
            await senv.escalate(customer=customer("Quynh"))
            for user in opening:
                await senv.send(senv.signer.app_home_opened(user=user))
            await eventually(lambda: all(f"home:{u}" in slack.views for u in opening), seconds=30)
            assert len(slack.calls_to("views.publish")) == len(opening)  # not one 429
    finally:
        slack.stop()


async def test_the_refresher_runs_by_itself_after_commits(home_env: SlackEnv) -> None:
    senv = home_env
    esc_id = await senv.escalate(customer=customer("Quynh"))
    await open_home(senv, ANN)
    refresher = asyncio.create_task(app_homes(senv).run())
    try:
        await senv.take(esc_id, BOB)
        await eventually(
            lambda: groups(home(senv, ANN))["Teammates"] == ["Quynh"], what="Ann's Home"
        )
    finally:
        refresher.cancel()
        await asyncio.gather(refresher, return_exceptions=True)
