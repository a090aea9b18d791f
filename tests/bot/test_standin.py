"""The Slack stand-in answers slack_sdk's real client the way Slack does."""

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from api.demo.slack_standin import BOT_ID, BOT_USER, TEAM, Ephemeral, Fault, StandIn
from bot.manifest import bot_scopes
from bot.scopes import KIND_SCOPE, NO_SCOPE, ONE_SCOPE

TOKEN = "xoxb-standin"
SLACK_FAMILIES = {"auth", "apps", "chat", "conversations", "files", "reactions", "users", "views"}


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


async def test_a_post_to_a_user_id_lands_in_the_bots_dm_with_them(slack: StandIn) -> None:
    client = _client(slack)
    posted = await client.chat_postMessage(channel="U0MINH", text="hello")
    opened = await client.conversations_open(users="U0MINH")
    assert posted["channel"] == opened["channel"]["id"] == "DU0MINH"
    assert [m.text for m in slack.top_level("DU0MINH")] == ["hello"]


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


async def test_people_post_edit_and_delete_and_threads_count_their_replies(
    slack: StandIn,
) -> None:
    client = _client(slack)
    card = await client.chat_postMessage(channel="C0ESC", text="card")
    said = slack.post_as_user("C0ESC", "U0MINH", "hello", thread_ts=card["ts"])
    assert said.user == "U0MINH" and float(said.ts) > float(card["ts"])
    await client.reactions_add(channel="C0ESC", timestamp=said.ts, name="eyes")
    ours = await client.chat_postMessage(channel="C0ESC", text="hi Minh", thread_ts=card["ts"])
    replies = (await client.conversations_replies(channel="C0ESC", ts=card["ts"]))["messages"]
    parent, first, second = replies
    assert (parent["reply_count"], parent["reply_users_count"]) == (2, 2)
    assert (parent["reply_users"], parent["latest_reply"]) == (["U0MINH", BOT_USER], ours["ts"])
    assert parent["thread_ts"] == card["ts"]
    assert "bot_id" not in first and first["client_msg_id"]
    assert first["blocks"][0]["type"] == "rich_text"
    assert (first["parent_user_id"], first["reactions"][0]["name"]) == (BOT_USER, "eyes")
    assert (second["bot_id"], second["parent_user_id"]) == (BOT_ID, BOT_USER)
    # Any message of the thread names the whole thread.
    by_reply = await client.conversations_replies(channel="C0ESC", ts=said.ts)
    assert [m["ts"] for m in by_reply["messages"]] == [m["ts"] for m in replies]

    edited = slack.edit_as_user("C0ESC", said.ts, "hello again")
    assert edited.as_dict()["edited"]["user"] == "U0MINH"
    replies = (await client.conversations_replies(channel="C0ESC", ts=card["ts"]))["messages"]
    assert replies[1]["text"] == "hello again"
    removed = slack.delete_as_user("C0ESC", said.ts)
    assert removed.text == "hello again"
    parent = (await client.conversations_history(channel="C0ESC"))["messages"][0]
    assert (parent["reply_count"], parent["reply_users"]) == (1, [BOT_USER])
    with pytest.raises(ValueError):
        slack.post_as_user("C0ESC", "U0MINH", "x", thread_ts="1.000001")
    with pytest.raises(ValueError):
        slack.delete_as_user("C0ESC", said.ts)


async def test_a_deleted_parent_leaves_a_tombstone_until_its_replies_go(slack: StandIn) -> None:
    client = _client(slack)
    question = slack.post_as_user("C0ESC", "U0MINH", "question")
    answer = await client.chat_postMessage(channel="C0ESC", text="answer", thread_ts=question.ts)
    slack.delete_as_user("C0ESC", question.ts)
    tomb = (await client.conversations_history(channel="C0ESC"))["messages"][0]
    assert (tomb["subtype"], tomb["reply_count"], tomb["ts"]) == ("tombstone", 1, question.ts)
    slack.delete_as_user("C0ESC", answer["ts"])
    assert (await client.conversations_history(channel="C0ESC"))["messages"] == []


async def test_ephemerals_are_recorded_and_need_the_user_in_the_channel(slack: StandIn) -> None:
    client = _client(slack)
    sent = await client.chat_postEphemeral(
        channel="C0ESC", user="U0MINH", text="only you", thread_ts="1.000001"
    )
    assert slack.ephemerals_for("U0MINH") == [
        Ephemeral("C0ESC", "U0MINH", "only you", [], "1.000001", sent["message_ts"])
    ]
    assert slack.top_level("C0ESC") == []
    for channel, user, expected in [
        ("C0ESC", "U0NOBODY", "user_not_in_channel"),
        ("C0OUT", "U0MINH", "not_in_channel"),
        ("C0NONE", "U0MINH", "channel_not_found"),
    ]:
        with pytest.raises(SlackApiError) as error:
            await client.chat_postEphemeral(channel=channel, user=user, text="x")
        assert error.value.response["error"] == expected
    assert slack.ephemerals_for("U0NOBODY") == []
    assert len(slack.ephemerals) == 1


async def test_history_pages_newest_first_within_its_bounds(slack: StandIn) -> None:
    client = _client(slack)
    ts = [(await client.chat_postMessage(channel="C0ESC", text=str(i)))["ts"] for i in range(5)]
    page = await client.conversations_history(channel="C0ESC", limit=2)
    assert [m["ts"] for m in page["messages"]] == [ts[4], ts[3]]
    assert page["has_more"] is True
    cursor = page["response_metadata"]["next_cursor"]
    page = await client.conversations_history(channel="C0ESC", limit=2, cursor=cursor)
    assert [m["ts"] for m in page["messages"]] == [ts[2], ts[1]]
    page = await client.conversations_history(
        channel="C0ESC", limit=2, cursor=page["response_metadata"]["next_cursor"]
    )
    assert [m["ts"] for m in page["messages"]] == [ts[0]]
    assert page["has_more"] is False and "response_metadata" not in page

    # The SDK's own paginator follows the cursors to the end.
    # (It reuses one response object, so take each page's messages as it comes.)
    followed = []
    async for page in await client.conversations_history(channel="C0ESC", limit=2):
        followed += [m["ts"] for m in page["messages"]]
    assert followed == ts[::-1]

    exclusive = await client.conversations_history(channel="C0ESC", oldest=ts[1], latest=ts[3])
    assert [m["ts"] for m in exclusive["messages"]] == [ts[2]]
    for inclusive in (True, "true", 1):
        within = await client.conversations_history(
            channel="C0ESC", oldest=ts[1], latest=ts[3], inclusive=inclusive
        )
        assert [m["ts"] for m in within["messages"]] == [ts[3], ts[2], ts[1]]
    for bad, error_code in [
        ({"cursor": "not a cursor!"}, "invalid_cursor"),
        ({"oldest": "yesterday"}, "invalid_ts_oldest"),
        ({"latest": "soon"}, "invalid_ts_latest"),
    ]:
        with pytest.raises(SlackApiError) as error:
            await client.conversations_history(channel="C0ESC", **bad)
        assert error.value.response["error"] == error_code


async def test_replies_page_oldest_first_with_the_parent_leading(slack: StandIn) -> None:
    client = _client(slack)
    card = (await client.chat_postMessage(channel="C0ESC", text="card"))["ts"]
    ts = [slack.post_as_user("C0ESC", "U0MINH", str(i), thread_ts=card).ts for i in range(4)]
    page = await client.conversations_replies(channel="C0ESC", ts=card, limit=2)
    assert [m["ts"] for m in page["messages"]] == [card, ts[0], ts[1]]
    assert page["has_more"] is True
    page = await client.conversations_replies(
        channel="C0ESC", ts=card, limit=2, cursor=page["response_metadata"]["next_cursor"]
    )
    assert [m["ts"] for m in page["messages"]] == [ts[2], ts[3]]
    assert page["has_more"] is False
    newer = await client.conversations_replies(channel="C0ESC", ts=card, oldest=ts[1])
    assert [m["ts"] for m in newer["messages"]] == [card, ts[2], ts[3]]
    upto = await client.conversations_replies(
        channel="C0ESC", ts=card, oldest=ts[1], latest=ts[2], inclusive=True
    )
    assert [m["ts"] for m in upto["messages"]] == [card, ts[1], ts[2]]
    with pytest.raises(SlackApiError) as error:
        await client.conversations_replies(channel="C0ESC", ts="1.000001")
    assert error.value.response["error"] == "thread_not_found"


async def test_metadata_only_when_asked_for(slack: StandIn) -> None:
    client = _client(slack)
    metadata = {"event_type": "baton_escalation", "event_payload": {"id": "esc_1"}}
    posted = await client.chat_postMessage(channel="C0ESC", text="card", metadata=metadata)
    await client.chat_postMessage(channel="C0ESC", text="reply", thread_ts=posted["ts"])
    assert posted["message"]["metadata"] == metadata
    history = await client.conversations_history(channel="C0ESC")
    replies = await client.conversations_replies(channel="C0ESC", ts=posted["ts"])
    assert all("metadata" not in m for m in history["messages"] + replies["messages"])
    for flag in (True, "1", "true"):
        history = await client.conversations_history(channel="C0ESC", include_all_metadata=flag)
        assert history["messages"][0]["metadata"] == metadata
        replies = await client.conversations_replies(
            channel="C0ESC", ts=posted["ts"], include_all_metadata=flag
        )
        assert replies["messages"][0]["metadata"] == metadata
    with pytest.raises(SlackApiError) as error:
        await client.chat_postMessage(channel="C0ESC", text="x", metadata={"event_payload": {}})
    assert error.value.response["error"] == "invalid_metadata_format"


async def test_socket_mode_handshake_wants_the_app_token(slack: StandIn) -> None:
    client = _client(slack)
    opened = await client.apps_connections_open(app_token="xapp-standin")
    port = slack.url.split(":")[2].split("/")[0]
    assert opened["url"].startswith(f"ws://127.0.0.1:{port}/link/?ticket=")
    for token in (TOKEN, "xapp-wrong"):
        with pytest.raises(SlackApiError) as error:
            await client.apps_connections_open(app_token=token)
        assert error.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError) as error:
        await _client(slack, "xapp-standin").auth_test()
    assert error.value.response["error"] == "invalid_auth"
    other = StandIn(app_token="xapp-other").start()
    try:
        opened = await AsyncWebClient(base_url=other.url).apps_connections_open(
            app_token="xapp-other"
        )
        assert opened["ok"] is True
    finally:
        other.stop()


async def test_users_info_has_the_fields_slack_always_sends(slack: StandIn) -> None:
    user = (await _client(slack).users_info(user="U0MINH"))["user"]
    assert (user["id"], user["team_id"], user["real_name"]) == ("U0MINH", TEAM, "Minh Tran")
    assert user["profile"]["display_name"] == "Minh"
    assert user["profile"]["real_name"] == "Minh Tran"
    assert user["is_bot"] is False
    with pytest.raises(SlackApiError) as error:
        await _client(slack).users_info(user="U0NOBODY")
    assert error.value.response["error"] == "user_not_found"


@pytest.mark.parametrize(
    ("method", "call"),
    [
        (
            "chat.postEphemeral",
            lambda c: c.chat_postEphemeral(channel="C0ESC", user="U0MINH", text="x"),
        ),
        ("conversations.history", lambda c: c.conversations_history(channel="C0ESC")),
        ("conversations.replies", lambda c: c.conversations_replies(channel="C0ESC", ts="1.1")),
        ("users.info", lambda c: c.users_info(user="U0MINH")),
        ("apps.connections.open", lambda c: c.apps_connections_open(app_token="xapp-standin")),
    ],
)
async def test_faults_reach_every_method(slack: StandIn, method: str, call: Any) -> None:
    slack.fail(method, Fault(error="fatal_error"))
    slack.fail(method, Fault(retry_after=3))
    with pytest.raises(SlackApiError) as error:
        await call(_client(slack))
    assert error.value.response["error"] == "fatal_error"
    with pytest.raises(SlackApiError) as error:
        await call(_client(slack))
    assert error.value.response.status_code == 429
    assert error.value.response.headers["Retry-After"] == "3"


@pytest.fixture
def chat_only() -> Iterator[StandIn]:
    """A token granted chat:write and nothing else."""
    server = StandIn(
        TOKEN,
        channels={"C0ESC": {BOT_USER, "U0MINH"}},
        users={"U0MINH": {"id": "U0MINH", "real_name": "Minh Tran"}},
        scopes=["chat:write"],
    ).start()
    try:
        yield server
    finally:
        server.stop()


async def test_a_method_whose_scope_was_not_granted_is_refused_like_slack(
    chat_only: StandIn,
) -> None:
    client = _client(chat_only)
    posted = await client.chat_postMessage(channel="C0ESC", text="card")
    refusals = [
        ("users:read", client.users_info(user="U0MINH")),
        (
            "reactions:write",
            client.reactions_add(channel="C0ESC", timestamp=posted["ts"], name="x"),
        ),
        ("im:write", client.conversations_open(users="U0MINH")),
        ("files:write", client.files_getUploadURLExternal(filename="a.png", length=3)),
        ("channels:history", client.conversations_history(channel="C0ESC")),
        ("im:history", client.conversations_history(channel="DU0MINH")),
        ("groups:read", client.conversations_info(channel="G0PRIVATE")),
    ]
    for needed, call in refusals:
        with pytest.raises(SlackApiError) as error:
            await call
        answer = error.value.response
        assert answer.status_code == 200
        assert (answer["error"], answer["needed"], answer["provided"]) == (
            "missing_scope",
            needed,
            "chat:write",
        )
        assert answer.headers["x-oauth-scopes"] == "chat:write"
    assert chat_only.top_level("C0ESC")[0].reactions == {}  # a refusal changes nothing
    assert chat_only.files == {}
    # What chat:write allows still works; a DM by the person's id needs nothing more.
    await client.chat_postMessage(channel="U0MINH", text="a DM")
    assert [m.text for m in chat_only.top_level("DU0MINH")] == ["a DM"]


async def test_every_answer_names_the_tokens_scopes(slack: StandIn) -> None:
    client = _client(slack)
    granted = ",".join(bot_scopes())
    posted = await client.chat_postMessage(channel="C0ESC", text="x")
    assert posted.headers["x-oauth-scopes"] == granted
    with pytest.raises(SlackApiError) as error:
        await client.chat_postMessage(channel="C0NONE", text="x")
    assert error.value.response.headers["x-oauth-scopes"] == granted
    slack.fail("chat.update", Fault(retry_after=1))
    with pytest.raises(SlackApiError) as error:
        await client.chat_update(channel="C0ESC", ts=posted["ts"], text="y")
    assert error.value.response.headers["x-oauth-scopes"] == granted
    with pytest.raises(SlackApiError) as error:
        await _client(slack, "xoxb-wrong").chat_postMessage(channel="C0ESC", text="x")
    assert "x-oauth-scopes" not in error.value.response.headers  # Slack knows no such token


def test_every_method_the_stand_in_answers_has_its_scope_declared() -> None:
    answered = [
        name.removeprefix("_").replace("_", ".")
        for name in vars(StandIn)
        if name.startswith("_") and name[1:].split("_")[0] in SLACK_FAMILIES
    ]
    assert "chat.postMessage" in answered and "users.lookupByEmail" in answered
    declared = NO_SCOPE | ONE_SCOPE.keys() | KIND_SCOPE.keys()
    assert [m for m in answered if m not in declared] == []


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _button(text: str, value: str = "v") -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": "a",
        "text": {"type": "plain_text", "text": text},
        "value": value,
    }


OVER_SLACKS_LIMITS = {
    "51 blocks": [_section("x")] * 51,
    "section text over 3000": [_section("x" * 3001)],
    "empty section": [{"type": "section"}],
    "11 fields": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}],
    "field over 2000": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}],
    "header over 150": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
    "11 context elements": [
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}
    ],
    "26 buttons": [{"type": "actions", "elements": [_button("b")] * 26}],
    "button text over 75": [{"type": "actions", "elements": [_button("b" * 76)]}],
    "button value over 2000": [{"type": "actions", "elements": [_button("b", "v" * 2001)]}],
    "block_id over 255": [{**_section("x"), "block_id": "b" * 256}],
}


@pytest.mark.parametrize("blocks", OVER_SLACKS_LIMITS.values(), ids=OVER_SLACKS_LIMITS.keys())
async def test_blocks_over_slacks_limits_are_refused_and_nothing_is_posted(
    slack: StandIn, blocks: list[dict[str, Any]]
) -> None:
    client = _client(slack)
    for call in (
        lambda: client.chat_postMessage(channel="C0ESC", text="t", blocks=blocks),
        lambda: client.chat_postEphemeral(channel="C0ESC", user="U0MINH", text="t", blocks=blocks),
    ):
        with pytest.raises(SlackApiError) as refused:
            await call()
        assert refused.value.response["error"] == "invalid_blocks"
    assert slack.top_level("C0ESC") == [] and slack.ephemerals == []


async def test_blocks_at_slacks_limits_are_posted(slack: StandIn) -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 150}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2000}] * 10},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 10},
        {"type": "actions", "elements": [_button("b" * 75, "v" * 2000)] * 25},
        *[_section("x" * 3000)] * 46,
    ]
    response = await _client(slack).chat_postMessage(channel="C0ESC", text="t", blocks=blocks)
    assert response["ok"]


async def test_a_late_answer_comes_after_the_work_is_done(slack: StandIn) -> None:
    slack.fail("chat.postMessage", Fault(late=0.5))
    posting = asyncio.create_task(_client(slack).chat_postMessage(channel="C0ESC", text="hi"))
    await asyncio.sleep(0.25)
    [stored] = slack.top_level("C0ESC")  # in the channel, while its answer is on the way
    assert not posting.done()
    assert (await posting)["ts"] == stored.ts
