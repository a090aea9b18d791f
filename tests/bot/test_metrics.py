"""/metrics as an operator reads it: every move counted whether it came from Slack, the
API or a timed job, and gauges of what is open and what waits, read at scrape time."""

import re
from datetime import timedelta

from api.config import ApiSection, Config, LifecycleSection
from api.demo.slack_standin import StandIn
from blocks.ids import Action, Input
from storage.clock import ManualClock
from tests.bot.conftest import ANN, BOB, SlackEnv, eventually, running_slack_env


def _samples(text: str, name: str) -> dict[str, float]:
    """``name``'s samples, by their labels as written (``kind="taken",via="slack"``)."""
    found = {}
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(?:\{{(.*)\}})? (\S+)", line)
        if match:
            found[match.group(1) or ""] = float(match.group(2))
    return found


async def _metrics(senv: SlackEnv) -> str:
    response = await senv.client.get("/metrics")
    assert response.status_code == 200
    return response.text


async def test_moves_are_counted_wherever_they_come_from(
    database_url: str, standin: StandIn
) -> None:
    quiet_hour = LifecycleSection(auto_close_after=timedelta(hours=1))
    config = Config(api=ApiSection(rate_limit=0), lifecycle=quiet_hour)
    async with running_slack_env(database_url, standin, config=config, manual_clock=True) as senv:
        clock = senv.env.clock
        assert isinstance(clock, ManualClock)
        by_slack = await senv.escalate(priority="urgent")
        by_api = await senv.escalate(priority="high")
        quiet = await senv.escalate(priority="high")
        await senv.take(by_slack, ANN)
        await senv.say(by_slack, ANN, "On it!")
        await eventually(lambda: _has_reply(senv, by_slack), what="the reply")
        await senv.click(by_slack, ANN, Action.CLOSE)
        (view,) = await eventually(lambda: list(senv.slack.views.values()), what="the modal")
        values = {
            Input.RESOLUTION: {
                Input.RESOLUTION: {
                    "type": "static_select",
                    "selected_option": {"value": "resolved"},
                }
            }
        }
        submitted = await senv.send(senv.signer.view_submission_for(view, user=ANN, values=values))
        assert submitted.text == "", "the modal closes"
        await eventually(lambda: _status(senv, by_slack, "closed"), what="the close")
        taken = await senv.client.post(
            f"/v1/escalations/{by_api}/take",
            json={"agent": BOB},
            headers=senv.env.auth,
        )
        assert taken.status_code == 200, taken.text
        await senv.take(quiet, ANN)
        clock.advance(timedelta(hours=2))
        closed = await senv.env.services.machine.close_quiet(timedelta(hours=1))
        assert sorted(e.id for e in closed) == sorted([by_api, quiet])

        counted = _samples(await _metrics(senv), "baton_transitions_total")
        assert counted['kind="created",via="api"'] == 3
        assert counted['kind="taken",via="slack"'] == 2
        assert counted['kind="taken",via="api"'] == 1
        assert counted['kind="reply",via="slack"'] == 1
        assert counted['kind="closed",via="slack"'] == 1
        assert counted['kind="closed",via="baton"'] == 2


async def _has_reply(senv: SlackEnv, esc_id: str) -> bool:
    return "escalation.message" in await senv.platform_events(esc_id)


async def _status(senv: SlackEnv, esc_id: str, status: str) -> bool:
    response = await senv.client.get(f"/v1/escalations/{esc_id}", headers=senv.env.auth)
    return bool(response.json()["status"] == status)


async def test_gauges_show_what_is_open_what_waits_and_the_backlog(
    database_url: str, standin: StandIn
) -> None:
    async with running_slack_env(database_url, standin, manual_clock=True) as senv:
        clock = senv.env.clock
        assert isinstance(clock, ManualClock)
        empty = await _metrics(senv)
        assert _samples(empty, "baton_oldest_waiting_seconds") == {"": 0.0}
        assert _samples(empty, "baton_open_escalations") == {}

        first = (await senv.env.create(priority="urgent"))["id"]
        clock.advance(timedelta(minutes=10))
        await senv.env.create(priority="urgent")
        await senv.env.create(priority="low")
        shown = await _metrics(senv)
        assert _samples(shown, "baton_oldest_waiting_seconds") == {"": 600.0}
        assert _samples(shown, "baton_open_escalations") == {
            'priority="urgent",status="queued"': 2.0,
            'priority="low",status="queued"': 1.0,
        }
        pending = _samples(shown, "baton_outbox_pending")
        assert pending['topic="slack"'] == 3 and pending['topic="platform"'] == 3
        assert pending['topic="notify"'] == 0

        await senv.deliver()
        await senv.relay.drain()
        await senv.take(first, ANN)
        await senv.relay.drain()
        clock.advance(timedelta(minutes=5))
        shown = await _metrics(senv)
        assert _samples(shown, "baton_oldest_waiting_seconds") == {"": 300.0}
        assert _samples(shown, "baton_open_escalations") == {
            'priority="urgent",status="queued"': 1.0,
            'priority="urgent",status="taken"': 1.0,
            'priority="low",status="queued"': 1.0,
        }
        assert _samples(shown, "baton_outbox_pending")['topic="slack"'] == 0
