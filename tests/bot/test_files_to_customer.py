"""An agent's file in the card's thread reaches the customer: the platform gets Baton's own
link to it, and that link gives exactly the bytes the agent shared, streamed from Slack.
Through the real app, the Slack stand-in (which serves files only to the bot token with
files:read, as Slack does) and a platform that verifies every signed event."""

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import update

from api.config import ApiSection, Config, FilesSection
from api.demo.images import png
from api.demo.slack_standin import Fault, StandIn, StoredMessage
from api.http.routes.files import content_disposition
from blocks.ids import Action
from bot.manifest import bot_scopes
from storage.clock import ManualClock
from storage.models import Platform
from tests.bot.conftest import (
    ANN,
    BOB,
    CHANNEL,
    SlackEnv,
    eventually,
    running_slack_env,
    running_standin,
)
from tests.receiver import Receiver

PUBLIC_URL = "https://baton.example.com"
T = TypeVar("T")


PNG = png()


@asynccontextmanager
async def _files_env(
    database_url: str, standin: StandIn, receiver: Receiver, **files: Any
) -> AsyncIterator[SlackEnv]:
    config = Config(api=ApiSection(rate_limit=0), files=FilesSection(**files))
    async with running_slack_env(
        database_url, standin, manual_clock=True, config=config, public_url=PUBLIC_URL
    ) as environment:
        receiver.secret = environment.env.platform.webhook_secret
        async with environment.env.db.write() as s:
            await s.execute(update(Platform).values(callback_url=receiver.url))
        yield environment


@pytest.fixture
async def senv(database_url: str, standin: StandIn, receiver: Receiver) -> AsyncIterator[SlackEnv]:
    async with _files_env(database_url, standin, receiver) as environment:
        yield environment


async def _taken(senv: SlackEnv) -> str:
    """An escalation whose card is in Slack, taken by Ann."""
    esc_id = await senv.escalate()
    await senv.take(esc_id, ANN)
    return esc_id


async def _share(
    senv: SlackEnv, esc_id: str, user: str, name: str, content: bytes, text: str = ""
) -> StoredMessage:
    """``user`` shares a file in the escalation's thread; Slack sends the event."""
    thread = await senv.thread(esc_id)
    msg = senv.slack.post_file_as_user(
        thread.channel_id, user, name, content, thread_ts=thread.thread_ts, text=text
    )
    response = await senv.send(senv.signer.message_event_for(msg))
    assert response.status_code == 200, response.text
    return msg


async def _messages(senv: SlackEnv, receiver: Receiver) -> list[dict[str, Any]]:
    await senv.relay.drain()
    return [
        r.body["data"]["message"]
        for r in receiver.delivered()
        if r.body["type"] == "escalation.message"
    ]


async def _relayed(senv: SlackEnv, receiver: Receiver, count: int = 1) -> list[dict[str, Any]]:
    async def arrived() -> list[dict[str, Any]] | None:
        found = await _messages(senv, receiver)
        return found if len(found) >= count else None

    result: list[dict[str, Any]] = await eventually(arrived, what="the relayed message")
    return result


def _path(url: str) -> str:
    """A link to Baton as the test client asks for it (the link names the public host)."""
    assert url.startswith(PUBLIC_URL + "/v1/files/att_"), url
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def test_an_agents_png_with_words_reaches_the_customer_as_exactly_its_bytes(
    senv: SlackEnv, receiver: Receiver
) -> None:
    esc_id = await _taken(senv)
    await _share(senv, esc_id, ANN, "receipt.png", PNG, text="Here is the receipt")

    (message,) = await _relayed(senv, receiver)
    assert message["content"] == "Here is the receipt"
    (attachment,) = message["attachments"]
    assert attachment["id"].startswith("att_")
    assert {k: attachment[k] for k in ("name", "mime_type", "size")} == {
        "name": "receipt.png",
        "mime_type": "image/png",
        "size": len(PNG),
    }
    # The link alone, with no credentials at all, gives the file.
    response = await senv.client.get(_path(attachment["url"]))
    assert response.status_code == 200, response.text
    assert response.content == PNG
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-length"] == str(len(PNG))
    assert response.headers["content-disposition"].startswith('attachment; filename="receipt.png"')
    assert response.headers["x-content-type-options"] == "nosniff"
    # The API's detail view shows the file on the agent's message.
    detail = (await senv.client.get(f"/v1/escalations/{esc_id}", headers=senv.env.auth)).json()
    (mine,) = [m for m in detail["messages"] if m["role"] == "agent"]
    assert mine["attachments"][0]["id"] == attachment["id"]


async def test_a_file_without_words_relays_the_file_only(
    senv: SlackEnv, receiver: Receiver
) -> None:
    esc_id = await _taken(senv)
    await _share(senv, esc_id, ANN, "screenshot.png", PNG)

    (message,) = await _relayed(senv, receiver)
    assert message["content"] == ""
    (attachment,) = message["attachments"]
    assert attachment["name"] == "screenshot.png"
    assert (await senv.client.get(_path(attachment["url"]))).content == PNG
    assert senv.ephemerals(ANN) == []  # nothing to explain: it went


async def test_a_link_answers_only_with_its_own_signature_in_time_or_the_owners_key(
    senv: SlackEnv, receiver: Receiver
) -> None:
    esc_id = await _taken(senv)
    await _share(senv, esc_id, ANN, "receipt.png", PNG, text="receipt")
    (message,) = await _relayed(senv, receiver)
    attachment = message["attachments"][0]
    path = _path(attachment["url"])
    query = parse_qs(urlsplit(path).query)
    file_path = urlsplit(path).path

    def link(expires: str, signature: str) -> str:
        return f"{file_path}?expires={expires}&signature={signature}"

    tampered = query["signature"][0][:-2] + (
        "AA" if not query["signature"][0].endswith("AA") else "BB"
    )
    stretched = str(int(query["expires"][0]) + 3600)
    for refused in (
        link(query["expires"][0], tampered),
        link(stretched, query["signature"][0]),  # a later expiry with the same signature
        link(query["expires"][0], ""),
        link("never", query["signature"][0]),
    ):
        response = await senv.client.get(refused)
        assert response.status_code == 403, refused
        assert response.json()["error"]["code"] == "forbidden"
    # Another file's id under this file's signature.
    other = file_path.replace(attachment["id"], "att_01J00000000000000000000000")
    assert (await senv.client.get(f"{other}?{urlsplit(path).query}")).status_code == 403

    # No link and no key: 401. Another platform's key: 404. The owning platform's: the bytes.
    assert (await senv.client.get(file_path)).status_code == 401
    stranger = await senv.env.add_platform("globex")
    response = await senv.client.get(
        file_path, headers={"Authorization": f"Bearer {stranger.api_key}"}
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    response = await senv.client.get(file_path, headers=senv.env.auth)
    assert response.status_code == 200 and response.content == PNG

    # Past its time the link no longer works; the key still does.
    clock = senv.env.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(hours=24, seconds=1))
    assert (await senv.client.get(path)).status_code == 403
    assert (await senv.client.get(file_path, headers=senv.env.auth)).content == PNG


@pytest.mark.parametrize("words", ["Here it is", ""])
async def test_a_file_over_the_limit_is_not_relayed_and_its_author_is_told(
    database_url: str, standin: StandIn, receiver: Receiver, words: str
) -> None:
    async with _files_env(database_url, standin, receiver, max_bytes="1KiB") as senv:
        esc_id = await _taken(senv)
        await _share(senv, esc_id, ANN, "scan.pdf", b"%PDF-" + b"x" * 2000, text=words)

        told = await eventually(lambda: senv.ephemerals(ANN), what="Ann told")
        assert "*scan.pdf* (2 KiB) is larger than the 1 KiB" in told[0]
        messages = await _messages(senv, receiver)
        if words:
            (message,) = await _relayed(senv, receiver)
            assert (message["content"], message["attachments"]) == (words, [])
        else:
            assert messages == []


async def test_slack_refusing_the_download_is_an_error_never_a_file(
    database_url: str, receiver: Receiver
) -> None:
    """A token without files:read gets Slack's sign-in page, not the file: the platform
    gets an error it can see, never the page as if it were the file."""
    scopes = [s for s in bot_scopes() if s != "files:read"]
    with running_standin(scopes=scopes) as standin:
        async with _files_env(database_url, standin, receiver) as senv:
            esc_id = await _taken(senv)
            await _share(senv, esc_id, ANN, "receipt.png", PNG, text="receipt")
            (message,) = await _relayed(senv, receiver)

            response = await senv.client.get(_path(message["attachments"][0]["url"]))
            assert response.status_code == 502
            assert response.headers["content-type"] == "application/json"
            error = response.json()["error"]
            assert error["code"] == "bad_gateway"
            assert "files:read" in error["message"]


async def test_a_file_slack_names_only_by_id_is_asked_about(
    senv: SlackEnv, receiver: Receiver
) -> None:
    """Slack may send a shared file as its id and ``file_access: check_file_info``."""
    esc_id = await _taken(senv)
    thread = await senv.thread(esc_id)
    msg = senv.slack.post_file_as_user(
        CHANNEL, ANN, "invoice.png", PNG, thread_ts=thread.thread_ts, text="invoice"
    )
    event = senv.signer.message_event_for(msg).payload()["event"]
    event["files"] = [{"id": msg.files[0]["id"], "file_access": "check_file_info"}]
    response = await senv.send(senv.signer.event_callback(event))
    assert response.status_code == 200

    (message,) = await _relayed(senv, receiver)
    assert message["attachments"][0]["name"] == "invoice.png"
    assert (await senv.client.get(_path(message["attachments"][0]["url"]))).content == PNG
    assert [c.params["file"] for c in senv.slack.calls_to("files.info")] == [msg.files[0]["id"]]


async def test_a_file_held_in_a_queued_thread_goes_with_take_and_send(
    senv: SlackEnv, receiver: Receiver
) -> None:
    esc_id = await senv.escalate()
    await _share(senv, esc_id, BOB, "steps.png", PNG)
    await senv.choose_on_prompt(BOB, Action.TAKE_AND_SEND)

    (message,) = await _relayed(senv, receiver)
    assert message["agent"]["id"] == BOB
    assert message["attachments"][0]["name"] == "steps.png"
    assert (await senv.client.get(_path(message["attachments"][0]["url"]))).content == PNG


async def test_names_cannot_break_out_of_the_download_header(
    senv: SlackEnv, receiver: Receiver
) -> None:
    esc_id = await _taken(senv)
    name = 'hóa đơn "mới"\r\nSet-Cookie: a=b; ../../etc/passwd.pdf'
    await _share(senv, esc_id, ANN, name, b"%PDF-1.7 tiny", text="invoice")
    (message,) = await _relayed(senv, receiver)

    response = await senv.client.get(_path(message["attachments"][0]["url"]))
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    disposition = response.headers["content-disposition"]
    assert disposition == content_disposition(message["attachments"][0]["name"])
    plain = disposition.split('filename="', 1)[1].split('"', 1)[0]
    assert plain.isascii() and "/" not in plain and "\\" not in plain and ";" not in plain
    assert "filename*=UTF-8''h%C3%B3a%20%C4%91%C6%A1n" in disposition


async def test_slacks_retry_while_the_share_is_handled_relays_the_file_once(
    senv: SlackEnv, receiver: Receiver
) -> None:
    """Slack sends the event again while Baton is still asking files.info about the file
    (Slack's answer is late): the file reaches the customer once."""
    esc_id = await _taken(senv)
    thread = await senv.thread(esc_id)
    msg = senv.slack.post_file_as_user(
        CHANNEL, ANN, "فاتورة 🧾.png", PNG, thread_ts=thread.thread_ts, text="الفاتورة 👇"
    )
    event = senv.signer.message_event_for(msg).payload()["event"]
    event["files"] = [{"id": msg.files[0]["id"], "file_access": "check_file_info"}]
    first = senv.signer.event_callback(event)
    senv.slack.fail("files.info", Fault(delay=1.0))
    answers = await asyncio.gather(
        senv.send(first), _after(0.3, senv.send(senv.signer.retried(first)))
    )
    assert [a.status_code for a in answers] == [200, 200]

    (message,) = await _relayed(senv, receiver)
    assert message["content"] == "الفاتورة 👇"
    (attachment,) = message["attachments"]
    assert attachment["name"] == "فاتورة 🧾.png"
    response = await senv.client.get(_path(attachment["url"]))
    assert response.content == PNG
    assert (
        "filename*=UTF-8''%D9%81%D8%A7%D8%AA%D9%88%D8%B1%D8%A9%20%F0%9F%A7%BE.png"
        in (response.headers["content-disposition"])
    )
    await asyncio.sleep(0.2)  # a doubled relay would be queued by now
    assert len(await _messages(senv, receiver)) == 1


async def _after(seconds: float, awaitable: Awaitable[T]) -> T:
    await asyncio.sleep(seconds)
    return await awaitable
