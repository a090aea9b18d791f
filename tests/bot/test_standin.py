"""The Slack stand-in answers slack_sdk's real client the way Slack does."""

from collections.abc import Iterator

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.standin import BOT_ID, BOT_USER, TEAM, Fault, StandIn

TOKEN = "xoxb-standin"


@pytest.fixture
def slack() -> Iterator[StandIn]:
    server = StandIn(
        TOKEN,
        channels={"C0ESC": {BOT_USER, "U0MINH"}, "C0OUT": {"U0MINH"}},
        users={
            "U0MINH": {
                "id": "U0MINH",
                "real_name": "Minh Tran",
                "profile": {"display_name": "Minh", "email": "minh@acme.example"},
            }
        },
    ).start()
    try:
        yield server
    finally:
        server.stop()


def _client(slack: StandIn, token: str = TOKEN) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=slack.url)


async def test_auth_test_names_the_bot_and_its_scopes(slack: StandIn) -> None:
    response = await _client(slack).auth_test()
    assert (response["user_id"], response["bot_id"], response["team_id"]) == (
        BOT_USER,
        BOT_ID,
        TEAM,
    )
    assert "chat:write" in response.headers["x-oauth-scopes"]
    with pytest.raises(SlackApiError) as error:
        await _client(slack, "xoxb-wrong").auth_test()
    assert error.value.response["error"] == "invalid_auth"
    assert error.value.response.status_code == 200


async def test_messages_threads_metadata_and_history(slack: StandIn) -> None:
    client = _client(slack)
    card = await client.chat_postMessage(
        channel="C0ESC",
        text="card",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}],
        metadata={"event_type": "baton_escalation", "event_payload": {"id": "esc_1"}},
    )
    reply = await client.chat_postMessage(channel="C0ESC", text="in thread", thread_ts=card["ts"])
    assert float(reply["ts"]) > float(card["ts"])
    history = await client.conversations_history(channel="C0ESC", include_all_metadata=True)
    assert [m["ts"] for m in history["messages"]] == [card["ts"]]
    assert history["messages"][0]["metadata"]["event_payload"] == {"id": "esc_1"}
    replies = await client.conversations_replies(channel="C0ESC", ts=card["ts"])
    assert [m["text"] for m in replies["messages"]] == ["card", "in thread"]
    await client.chat_update(channel="C0ESC", ts=card["ts"], text="card, updated")
    assert slack.top_level("C0ESC")[0].text == "card, updated"
    for channel, expected in [("C0OUT", "not_in_channel"), ("C0NONE", "channel_not_found")]:
        with pytest.raises(SlackApiError) as error:
            await client.chat_postMessage(channel=channel, text="x")
        assert error.value.response["error"] == expected


async def test_rate_limits_answer_429_and_the_sdk_waits_them_out(slack: StandIn) -> None:
    slack.fail("chat.postMessage", Fault(retry_after=1))
    client = _client(slack)
    with pytest.raises(SlackApiError) as error:
        await client.chat_postMessage(channel="C0ESC", text="x")
    assert error.value.response.status_code == 429
    assert error.value.response.headers["Retry-After"] == "1"
    slack.fail("chat.postMessage", Fault(retry_after=1))
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=1))
    await client.chat_postMessage(channel="C0ESC", text="y")
    assert len(slack.calls_to("chat.postMessage")) == 3
    assert [m.text for m in slack.top_level("C0ESC")] == ["y"]


async def test_a_paced_channel_refuses_posts_that_come_too_soon(slack: StandIn) -> None:
    slack.post_interval = 1.0
    client = _client(slack)
    await client.chat_postMessage(channel="C0ESC", text="first")
    with pytest.raises(SlackApiError) as error:
        await client.chat_postMessage(channel="C0ESC", text="second")
    assert error.value.response.status_code == 429


async def test_faults_server_errors_and_dropped_connections(slack: StandIn) -> None:
    client = _client(slack)
    slack.fail("chat.postMessage", Fault(status=500))
    with pytest.raises(SlackApiError) as error:
        await client.chat_postMessage(channel="C0ESC", text="x")
    assert error.value.response.status_code == 500
    slack.fail("chat.postMessage", Fault(drop_connection=True))
    # The connection drops after the post was made; the SDK's default connection-error
    # retry posts again: exactly the doubled card Baton has to guard against.
    await client.chat_postMessage(channel="C0ESC", text="posted, answer lost")
    assert len(slack.calls_to("chat.postMessage")) == 3
    assert [m.text for m in slack.top_level("C0ESC")] == ["posted, answer lost"] * 2


async def test_users_reactions_and_views(slack: StandIn) -> None:
    client = _client(slack)
    user = await client.users_info(user="U0MINH")
    assert user["user"]["profile"]["display_name"] == "Minh"
    by_email = await client.users_lookupByEmail(email="MINH@acme.example")
    assert by_email["user"]["id"] == "U0MINH"
    posted = await client.chat_postMessage(channel="C0ESC", text="reply")
    await client.reactions_add(channel="C0ESC", timestamp=posted["ts"], name="white_check_mark")
    assert "white_check_mark" in slack.top_level("C0ESC")[0].reactions
    await client.reactions_remove(channel="C0ESC", timestamp=posted["ts"], name="white_check_mark")
    assert slack.top_level("C0ESC")[0].reactions == {}
    home = {
        "type": "home",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "queue"}}],
    }
    await client.views_publish(user_id="U0MINH", view=home)
    assert slack.views["home:U0MINH"]["blocks"][0]["text"]["text"] == "queue"
    with pytest.raises(SlackApiError) as error:
        await client.views_publish(user_id="U0MINH", view={"type": "home", "blocks": []})
    assert error.value.response["error"] == "invalid_arguments"
