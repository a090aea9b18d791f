"""Agents named through the REST API are Slack people (SPEC §8): a user id or an email is
looked up in Slack (the stand-in), the customer sees that person's name, and their replies
in the card's thread reach the customer. A value that names no one who can own an
escalation is refused, naming the field, and changes nothing; Slack not answering is a 503
unless the person is known from before."""

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import update

from api.demo.slack_standin import Fault, StandIn
from blocks.ids import Action, Input, MoreOption
from storage.clock import ManualClock
from storage.models import Event, Platform
from tests.bot.conftest import (
    ANN,
    BOB,
    CHANNEL,
    CHI,
    SIGNING_SECRET,
    SlackEnv,
    eventually,
    running_slack_env,
)
from tests.conftest import TEST_SECRET_KEY, escalation_body
from tests.processes import clean_env, free_port, register_platform, start_serve, wait_ready
from tests.receiver import Receiver
from tests.slack_requests import SlackSigner

GONE, ROBOT, GRID = "U0GONE", "U0ROBOT", "W0GRID"
NOBODY = [
    "nobody-here",  # neither an id nor an email
    f"{ANN} ",  # a real id, with a stray space
    f"\t{ANN}",
    "ghost@nowhere.example",  # users.lookupByEmail: users_not_found
    "U0NOBODY",  # users.info: user_not_found
    "u0ann",  # Slack's ids are upper case
    GONE,  # deactivated
    "gone@x.test",  # deactivated: lookupByEmail finds nobody
    ROBOT,  # a bot
    "USLACKBOT",
]


@pytest.fixture
def platform(receiver: Receiver) -> Receiver:
    return receiver


@pytest.fixture
async def senv(database_url: str, standin: StandIn, platform: Receiver) -> AsyncIterator[SlackEnv]:
    standin.users.update(
        {
            GONE: _user("Gone", "Gone Away", "gone@x.test", deleted=True),
            ROBOT: _user("Robot", "Help Robot", None, is_bot=True),
            "USLACKBOT": _user("Slackbot", "Slackbot", None),  # is_bot is false for Slackbot
            GRID: _user("Grid", "Grid Nguyen", "grid@org.example"),
        }
    )
    async with running_slack_env(database_url, standin, manual_clock=True) as environment:
        platform.secret = environment.env.platform.webhook_secret
        async with environment.env.db.write() as s:
            await s.execute(update(Platform).values(callback_url=platform.url))
        yield environment


def _user(display: str, real: str, email: str | None, **flags: Any) -> dict[str, Any]:
    profile = {"display_name": display, "real_name": real, **({"email": email} if email else {})}
    return {"real_name": real, "profile": profile, **flags}


async def _post(senv: SlackEnv, path: str, body: dict[str, Any]) -> Any:
    return await senv.client.post(f"/v1/escalations{path}", json=body, headers=senv.env.auth)


async def _delivered(senv: SlackEnv, platform: Receiver, kind: str) -> dict[str, Any]:
    """The data of the one event of ``kind`` the platform received."""
    await senv.relay.drain()
    (event,) = [r.body for r in platform.delivered() if r.body["type"] == kind]
    return event["data"]


async def test_take_by_slack_id_tells_the_customer_the_display_name(
    senv: SlackEnv, platform: Receiver
) -> None:
    esc_id = await senv.escalate()
    taken = await _post(senv, f"/{esc_id}/take", {"agent": ANN})
    assert taken.status_code == 200, taken.text
    assert taken.json()["assignee"] == {"id": ANN, "name": "Ann"}
    data = await _delivered(senv, platform, "escalation.taken")
    assert data["agent"] == {"id": ANN, "name": "Ann"}
    assert data["customer_message"].startswith("Chào bạn, mình là Ann.")
    # Someone without a display name is shown by their real name; Grid users (W…) too.
    for user, name in ((CHI, "Chi Pham"), (GRID, "Grid")):
        other = await senv.escalate()
        response = await _post(senv, f"/{other}/take", {"agent": user})
        assert response.json()["assignee"] == {"id": user, "name": name}


async def test_take_by_email_makes_the_slack_user_the_owner_whose_replies_are_relayed(
    senv: SlackEnv, platform: Receiver
) -> None:
    esc_id = await senv.escalate()
    taken = await _post(senv, f"/{esc_id}/take", {"agent": f"{BOB}@x.test"})
    assert taken.status_code == 200, taken.text
    assert taken.json()["assignee"] == {"id": BOB, "name": "Bob"}
    assert await senv.owner(esc_id) == BOB
    await senv.deliver()

    await senv.say(esc_id, BOB, "Chào bạn, mình là Bob, mình xem ngay nhé")
    await eventually(lambda: _has(senv, esc_id, "escalation.message"), what="Bob's reply relayed")
    message = (await _delivered(senv, platform, "escalation.message"))["message"]
    assert message["content"] == "Chào bạn, mình là Bob, mình xem ngay nhé"
    assert message["agent"] == {"id": BOB, "name": "Bob"}
    assert await _notes(senv, esc_id) == []
    assert senv.ephemerals(BOB) == []  # not told "kept as a note"


async def test_assign_at_create_and_by_patch_resolve_emails_and_ids(
    senv: SlackEnv, platform: Receiver
) -> None:
    created = await senv.env.create(assign_to=f"{CHI}@x.test")
    assert (created["status"], created["assignee"]) == ("taken", {"id": CHI, "name": "Chi Pham"})
    patched = await senv.client.patch(
        f"/v1/escalations/{created['id']}", json={"assignee": ANN}, headers=senv.env.auth
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["assignee"] == {"id": ANN, "name": "Ann"}
    await senv.relay.drain()
    taken = [r.body["data"] for r in platform.delivered() if r.body["type"] == "escalation.taken"]
    assert [t["agent"]["name"] for t in taken] == ["Chi Pham", "Ann"]


async def _has(senv: SlackEnv, esc_id: str, kind: str) -> bool:
    return kind in await senv.platform_events(esc_id)


async def _notes(senv: SlackEnv, esc_id: str) -> list[Event]:
    async with senv.env.db.read() as s:
        rows = await s.execute(
            Event.__table__.select().where(Event.escalation_id == esc_id, Event.type == "note")  # type: ignore[attr-defined]
        )
        return [Event(**row._mapping) for row in rows]


async def _snapshot(senv: SlackEnv, esc_id: str | None) -> Any:
    """What a refused request must leave as it was: the escalation, every table's rows,
    and the events for the platform."""
    detail = None
    if esc_id is not None:
        detail = (await senv.client.get(f"/v1/escalations/{esc_id}", headers=senv.env.auth)).json()
    return detail, await senv.env.counts()


def _refused(response: Any, field: str, value: str) -> None:
    assert response.status_code == 422, (value, response.text)
    error = response.json()["error"]
    assert error["code"] == "validation_error", value
    assert error["details"][0]["field"] == field, value
    assert error["message"].startswith(f"{field}: "), value


@pytest.mark.parametrize("action", ["take", "reply", "notes", "return", "close"])
async def test_an_agent_who_is_no_slack_person_is_refused_and_changes_nothing(
    senv: SlackEnv, action: str
) -> None:
    esc_id = await senv.escalate()
    if action in ("reply", "return", "close"):
        assert (await _post(senv, f"/{esc_id}/take", {"agent": ANN})).status_code == 200
    body = {
        "reply": {"content": "Xin chào"},
        "notes": {"content": "checked the logs"},
        "close": {"resolution": "resolved"},
    }.get(action, {})
    before = await _snapshot(senv, esc_id)
    for value in NOBODY:
        response = await _post(senv, f"/{esc_id}/{action}", {**body, "agent": value})
        _refused(response, "agent", value)
    assert await _snapshot(senv, esc_id) == before


async def test_the_refusals_say_why(senv: SlackEnv) -> None:
    esc_id = await senv.escalate()
    messages = {}
    for value in ("nobody-here", f"{ANN} ", "ghost@nowhere.example", "U0NOBODY", GONE, ROBOT):
        response = await _post(senv, f"/{esc_id}/take", {"agent": value})
        messages[value] = response.json()["error"]["message"]
    assert messages == {
        "nobody-here": "agent: 'nobody-here' is neither a Slack user id (U… or W…) nor an "
        "email address",
        f"{ANN} ": "agent: 'U0ANN ' has spaces or line breaks at its start or end",
        "ghost@nowhere.example": "agent: no Slack user has the email ghost@nowhere.example",
        "U0NOBODY": "agent: no Slack user has the id U0NOBODY",
        GONE: "agent: U0GONE is a deactivated Slack user",
        ROBOT: "agent: U0ROBOT is a bot, not a person",
    }


async def test_assign_to_at_create_naming_no_one_creates_nothing(senv: SlackEnv) -> None:
    before = await _snapshot(senv, None)
    for value in NOBODY:
        response = await senv.client.post(
            "/v1/escalations",
            json=escalation_body(assign_to=value),
            headers={**senv.env.auth, "Idempotency-Key": f"key-{value}"},
        )
        _refused(response, "assign_to", value)
    assert await _snapshot(senv, None) == before
    assert senv.slack.top_level("C0ESCALATE") == []  # no card either


async def test_patch_assignee_naming_no_one_changes_nothing(senv: SlackEnv) -> None:
    esc_id = await senv.escalate()
    await senv.take(esc_id, ANN)  # in Slack
    before = await _snapshot(senv, esc_id)
    for value in NOBODY:
        response = await senv.client.patch(
            f"/v1/escalations/{esc_id}",
            json={"assignee": value, "priority": "urgent"},
            headers=senv.env.auth,
        )
        _refused(response, "assignee", value)
    assert await _snapshot(senv, esc_id) == before


async def test_list_filter_by_assignee_takes_emails_and_past_agents(senv: SlackEnv) -> None:
    mine = await senv.escalate()
    await _post(senv, f"/{mine}/take", {"agent": BOB})
    await senv.escalate()

    async def listed(assignee: str) -> Any:
        return await senv.client.get(
            "/v1/escalations", params={"assignee": assignee}, headers=senv.env.auth
        )

    found = await listed(f"{BOB}@x.test")
    assert [e["id"] for e in found.json()["data"]] == [mine]
    assert (await listed(GONE)).json()["data"] == []  # deactivated, still a valid filter
    for value in ("nobody-here", f"{BOB} ", "ghost@nowhere.example", "U0NOBODY"):
        _refused(await listed(value), "assignee", value)


async def test_each_person_is_looked_up_once_and_known_to_slack_and_rest_alike(
    senv: SlackEnv,
) -> None:
    first, second, third = [await senv.escalate() for _ in range(3)]
    await _post(senv, f"/{first}/take", {"agent": f"{BOB}@x.test"})
    await _post(senv, f"/{second}/take", {"agent": f"{BOB}@x.test"})
    await _post(senv, f"/{third}/take", {"agent": BOB})
    await senv.deliver()
    assert len(senv.slack.calls_to("users.lookupByEmail")) == 1
    assert senv.slack.calls_to("users.info") == []
    # Bob clicks in Slack: he is known already.
    fourth = await senv.escalate()
    await senv.take(fourth, BOB)
    assert senv.slack.calls_to("users.info") == []
    # Someone first seen clicking in Slack is known to the API by id and by email.
    fifth, sixth = await senv.escalate(), await senv.escalate()
    await senv.take(fifth, ANN)
    assert (await _post(senv, f"/{sixth}/take", {"agent": f"{ANN}@x.test"})).status_code == 200
    assert len(senv.slack.calls_to("users.info")) == 1
    assert len(senv.slack.calls_to("users.lookupByEmail")) == 1


@pytest.mark.parametrize(
    ("fault", "times"),
    [
        (Fault(status=500), 2),  # asked again once, then given up
        (Fault(status=503), 2),
        (Fault(drop_connection=True), 10),  # connections are retried, and drop again
        (Fault(retry_after=30), 1),  # too long to keep the platform waiting
        (Fault(error="missing_scope"), 1),
    ],
)
async def test_slack_not_answering_is_503_and_changes_nothing(
    senv: SlackEnv, fault: Fault, times: int
) -> None:
    esc_id = await senv.escalate()
    before = await _snapshot(senv, esc_id)
    senv.slack.fail("users.info", fault, times)
    response = await _post(senv, f"/{esc_id}/take", {"agent": BOB})
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "unavailable"
    assert error["message"].startswith("agent: Slack could not be asked who U0BOB is")
    assert error["details"] == {"field": "agent"}
    expected_wait = "30" if fault.retry_after else "1"
    assert response.headers["Retry-After"] == expected_wait
    assert await _snapshot(senv, esc_id) == before
    # Once Slack answers again, the same request goes through.
    senv.slack.faults.clear()
    assert (await _post(senv, f"/{esc_id}/take", {"agent": BOB})).status_code == 200


async def test_one_slack_hiccup_is_asked_again_and_a_short_rate_limit_waited_out(
    senv: SlackEnv,
) -> None:
    first, second = await senv.escalate(), await senv.escalate()
    senv.slack.fail("users.info", Fault(status=500))
    assert (await _post(senv, f"/{first}/take", {"agent": BOB})).status_code == 200
    senv.slack.fail("users.lookupByEmail", Fault(retry_after=1))
    response = await _post(senv, f"/{second}/take", {"agent": f"{ANN}@x.test"})
    assert response.status_code == 200, response.text
    assert response.json()["assignee"] == {"id": ANN, "name": "Ann"}
    assert len(senv.slack.calls_to("users.lookupByEmail")) == 2


async def test_a_known_agent_needs_no_slack_even_when_the_name_is_old(senv: SlackEnv) -> None:
    first, second, third = [await senv.escalate() for _ in range(3)]
    assert (await _post(senv, f"/{first}/take", {"agent": ANN})).status_code == 200
    clock = senv.env.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(days=2))  # Ann's name is due to be looked up again
    senv.slack.fail("users.info", Fault(status=500), 10)
    senv.slack.fail("users.lookupByEmail", Fault(status=500), 10)
    by_email = await _post(senv, f"/{second}/take", {"agent": f"{ANN}@x.test"})
    assert by_email.status_code == 200, by_email.text
    assert by_email.json()["assignee"] == {"id": ANN, "name": "Ann"}
    # While Slack is down it is asked again every few minutes, not on every request.
    asked = len(senv.slack.calls_to("users.lookupByEmail"))
    note = {"agent": f"{ANN}@x.test", "content": "Slack is down, still here"}
    assert (await _post(senv, f"/{first}/notes", note)).status_code == 201
    assert len(senv.slack.calls_to("users.lookupByEmail")) == asked
    clock.advance(timedelta(minutes=6))
    assert (await _post(senv, f"/{first}/notes", note)).status_code == 201
    assert len(senv.slack.calls_to("users.lookupByEmail")) == asked + 2  # a 5xx, asked twice
    # Someone never seen before cannot be checked: not accepted as a phantom owner.
    assert (await _post(senv, f"/{third}/take", {"agent": CHI})).status_code == 503


async def test_someone_deactivated_since_is_refused_once_looked_up_again(
    senv: SlackEnv,
) -> None:
    first, second, third = [await senv.escalate() for _ in range(3)]
    assert (await _post(senv, f"/{first}/take", {"agent": BOB})).status_code == 200
    senv.slack.users[BOB]["deleted"] = True  # Bob leaves the company
    assert (await _post(senv, f"/{second}/take", {"agent": BOB})).status_code == 200
    clock = senv.env.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(days=1, minutes=1))  # within a day, Slack is asked again
    _refused(await _post(senv, f"/{third}/take", {"agent": BOB}), "agent", BOB)
    _refused(await _post(senv, f"/{third}/take", {"agent": f"{BOB}@x.test"}), "agent", BOB)


async def test_standin_answers_users_lookups_as_slack_does(standin: StandIn) -> None:
    standin.users[GONE] = _user("Gone", "Gone Away", "gone@x.test", deleted=True)
    client = AsyncWebClient(token=standin.token, base_url=standin.url)
    assert (await client.users_info(user=GONE))["user"]["deleted"] is True
    for call, error in (
        (lambda: client.users_info(user="U0NOBODY"), "user_not_found"),
        (lambda: client.users_lookupByEmail(email="ghost@nowhere.example"), "users_not_found"),
        # Slack finds no deactivated user by email (users.lookupByEmail's documentation).
        (lambda: client.users_lookupByEmail(email="gone@x.test"), "users_not_found"),
    ):
        with pytest.raises(SlackApiError) as raised:
            await call()
        assert raised.value.response.status_code == 200
        assert raised.value.response.data == {"ok": False, "error": error}


async def test_baton_serve_relays_the_replies_of_an_agent_named_by_email(
    tmp_path: Path, standin: StandIn, platform: Receiver
) -> None:
    """The same through a real ``baton serve`` process, as a platform and Slack reach it."""
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
    base = f"http://127.0.0.1:{free_port()}"
    server = start_serve(tmp_path, int(base.rsplit(":", 1)[1]), env)

    def received(kind: str) -> list[dict[str, Any]]:
        return [r.body["data"] for r in platform.delivered() if r.body["type"] == kind]

    try:
        wait_ready(base, server)
        auth = {"Authorization": f"Bearer {credentials['api_key']}"}
        async with (
            httpx.AsyncClient(base_url=base, headers=auth) as api,
            httpx.AsyncClient(base_url=base) as slack,
        ):
            esc_id = (await api.post("/v1/escalations", json=escalation_body())).json()["id"]
            (card,) = await eventually(lambda: standin.top_level(CHANNEL), what="the card")
            refused = await api.post(f"/v1/escalations/{esc_id}/take", json={"agent": "bob"})
            _refused(refused, "agent", "bob")
            taken = await api.post(f"/v1/escalations/{esc_id}/take", json={"agent": "U0BOB@x.test"})
            assert taken.json()["assignee"] == {"id": BOB, "name": "Bob"}
            (data,) = await eventually(lambda: received("escalation.taken"), what="the take")
            assert data["agent"] == {"id": BOB, "name": "Bob"}
            assert "mình là Bob" in data["customer_message"]

            mine = standin.post_as_user(CHANNEL, BOB, "Mình kiểm tra đơn hàng nhé 🙏", card.ts)
            event = SlackSigner(SIGNING_SECRET).message_event_for(mine)
            answer = await slack.post(
                "/slack/events", content=event.body.encode(), headers=event.headers
            )
            assert answer.status_code == 200
            (data,) = await eventually(lambda: received("escalation.message"), what="the reply")
            assert data["message"]["content"] == "Mình kiểm tra đơn hàng nhé 🙏"
            assert data["message"]["agent"] == {"id": BOB, "name": "Bob"}
            assert standin.ephemerals_for(BOB) == []
    finally:
        server.terminate()
        server.wait(timeout=10)


async def test_the_reassign_modal_refuses_a_bot_and_changes_nothing(senv: SlackEnv) -> None:
    esc_id = await senv.escalate()
    await senv.take(esc_id, ANN)
    await senv.click(esc_id, ANN, Action.MORE, option=f"{MoreOption.REASSIGN}:{esc_id}")
    (view,) = await eventually(lambda: list(senv.slack.views.values()))
    values = {Input.ASSIGNEE: {Input.ASSIGNEE: {"type": "users_select", "selected_user": ROBOT}}}
    response = await senv.send(senv.signer.view_submission_for(view, user=ANN, values=values))
    assert response.status_code == 200
    assert response.json() == {
        "response_action": "errors",
        "errors": {Input.ASSIGNEE: f"{ROBOT} is a bot, not a person."},
    }
    assert await senv.owner(esc_id) == ANN
