"""Files in the Slack stand-in, both ways, as Slack handles them: the upload v2 flow that
slack_sdk's ``files_upload_v2`` drives, ``files.info``, downloads of ``url_private`` and
``url_private_download`` (the bot token with files:read, or the sign-in page), and a
person's file share with the event Slack sends for it."""

import gc
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import aiohttp
import httpx
import psutil
import pytest
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from api.demo.slack_standin import (
    BOT_USER,
    DOWNLOAD,
    UPLOAD,
    Fault,
    Share,
    StandIn,
    StoredFile,
    generated,
)
from bot.manifest import bot_scopes
from tests.slack_requests import SlackSigner

TOKEN = "xoxb-standin"
CHANNEL, ELSEWHERE = "C0ESC", "C0OUT"  # the bot is in the first only
MINH = "U0MINH"
WITH_FILES_READ = sorted(bot_scopes())  # the manifest asks for files:read
PDF = b"%PDF-1.7 a receipt"
MiB = 1024 * 1024


def _standin(scopes: list[str]) -> StandIn:
    return StandIn(
        TOKEN,
        channels={CHANNEL: {BOT_USER, MINH}, ELSEWHERE: {MINH}},
        users={MINH: {"id": MINH, "real_name": "Minh Tran"}},
        scopes=scopes,
    ).start()


@pytest.fixture
def slack() -> Iterator[StandIn]:
    server = _standin(WITH_FILES_READ)
    try:
        yield server
    finally:
        server.stop()


def _client(slack: StandIn, token: str = TOKEN) -> AsyncWebClient:
    # As Baton's worker builds it: every retry is decided by the caller.
    return AsyncWebClient(token=token, base_url=slack.url, retry_handlers=[])


async def _card(slack: StandIn) -> str:
    posted = await _client(slack).chat_postMessage(channel=CHANNEL, text="card")
    return str(posted["ts"])


def _only_file(slack: StandIn) -> StoredFile:
    [stored] = slack.files.values()
    return stored


# ------------------------------------------------------------------------- upload v2


async def test_files_upload_v2_shares_the_file_once_in_the_thread(slack: StandIn) -> None:
    card = await _card(slack)
    response = await _client(slack).files_upload_v2(
        channel=CHANNEL,
        thread_ts=card,
        content=PDF,
        filename="receipt.pdf",
        title="Receipt",
        initial_comment="From the customer",
    )
    stored = _only_file(slack)
    assert response["file"]["id"] == stored.id
    assert (stored.content, stored.name, stored.title, stored.mimetype, stored.size) == (
        PDF,
        "receipt.pdf",
        "Receipt",
        "application/pdf",
        len(PDF),
    )
    [shown] = slack.thread(CHANNEL, card)
    assert stored.shares == [Share(CHANNEL, shown.ts, card)]
    assert (shown.user, shown.text, shown.subtype) == (BOT_USER, "From the customer", "file_share")
    assert [f["id"] for f in shown.files] == [stored.id]
    assert [c.method for c in slack.calls if c.method != "chat.postMessage"] == [
        "files.getUploadURLExternal",
        UPLOAD,
        "files.completeUploadExternal",
    ]
    # As conversations.replies shows it: a reply carrying the file, counted on the card.
    replies = await _client(slack).conversations_replies(channel=CHANNEL, ts=card)
    parent, reply = replies["messages"]
    assert parent["reply_count"] == 1
    assert reply["files"][0]["name"] == "receipt.pdf" and reply["upload"] is True


async def test_the_upload_url_is_the_stand_ins_own_and_takes_the_announced_length(
    slack: StandIn,
) -> None:
    client = _client(slack)
    ticket = await client.files_getUploadURLExternal(filename="a.png", length=3)
    assert ticket["upload_url"].startswith(slack.base_url + "/upload/v1/")
    async with httpx.AsyncClient() as http:
        short = await http.post(ticket["upload_url"], content=b"ab")
        assert short.status_code == 400
        # A multipart form, as curl -F sends it, is taken as well as raw bytes.
        taken = await http.post(ticket["upload_url"], files={"filename": ("a.png", b"abc")})
        assert (taken.status_code, taken.text) == (200, "OK - 3")
        unknown = await http.post(slack.base_url + "/upload/v1/nothing", content=b"abc")
        assert unknown.status_code == 404
    done = await client.files_completeUploadExternal(files=[{"id": ticket["file_id"]}])
    assert done["files"][0]["title"] == "a.png"  # the file name when no title is given
    assert _only_file(slack).content == b"abc"
    assert _only_file(slack).shares == []  # no channel: the bot's private file


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"filename": "a.png", "length": 0}, "missing_argument"),
        ({"filename": "", "length": 3}, "missing_argument"),
        ({"filename": "a.png", "length": 3, "alt_txt": "x" * 1001}, "alt_txt_too_large"),
    ],
)
async def test_an_upload_url_is_refused_as_slack_refuses_it(
    slack: StandIn, params: dict[str, Any], error: str
) -> None:
    with pytest.raises(SlackApiError) as refused:
        await _client(slack).files_getUploadURLExternal(**params)
    assert refused.value.response["error"] == error
    assert slack.files == {}


async def test_completing_is_refused_as_slack_refuses_it(slack: StandIn) -> None:
    client = _client(slack)
    card = await _card(slack)
    ticket = await client.files_getUploadURLExternal(filename="a.txt", length=3)
    mine: list[dict[str, str | None]] = [{"id": ticket["file_id"], "title": "A"}]
    # Not uploaded yet, and someone else's file: neither is a file of this upload.
    minh_share = slack.post_file_as_user(CHANNEL, MINH, "b.txt", b"bee", "text/plain", card)
    others: list[list[dict[str, str | None]]] = [
        [{"id": "F0NOSUCH"}],
        [{"id": minh_share.files[0]["id"]}],
    ]
    for files in [mine, *others]:
        with pytest.raises(SlackApiError) as refused:
            await client.files_completeUploadExternal(files=files, channel_id=CHANNEL)
        assert refused.value.response["error"] == "file_not_found"
    async with httpx.AsyncClient() as http:
        assert (await http.post(ticket["upload_url"], content=b"abc")).status_code == 200
    for channel, thread_ts, error in [
        ("C0NONE", None, "channel_not_found"),
        (ELSEWHERE, None, "not_in_channel"),
        (CHANNEL, "1.000001", "thread_not_found"),
    ]:
        with pytest.raises(SlackApiError) as refused:
            await client.files_completeUploadExternal(
                files=mine, channel_id=channel, thread_ts=thread_ts
            )
        assert refused.value.response["error"] == error
    assert [m.ts for m in slack.thread(CHANNEL, card)] == [minh_share.ts]  # nothing shared
    with pytest.raises(SlackApiError) as refused:
        await client.api_call("files.completeUploadExternal", params={"files": "not json"})
    assert refused.value.response["error"] == "invalid_arguments"


async def test_a_file_is_shared_in_a_dm_by_the_persons_id(slack: StandIn) -> None:
    await _client(slack).files_upload_v2(channel=MINH, content=b"x", filename="x.txt")
    assert _only_file(slack).channel == f"D{MINH}"
    [shown] = slack.top_level(f"D{MINH}")
    assert shown.files[0]["mimetype"] == "text/plain"


# ----------------------------------------------------------------- scopes and faults


async def test_uploads_and_files_info_need_their_scopes(slack: StandIn) -> None:
    for needed in ("files:write", "files:read"):
        refusing = _standin([s for s in bot_scopes() if s != needed])
        try:
            client = _client(refusing)
            call = (
                client.files_upload_v2(channel=CHANNEL, content=b"x", filename="x.txt")
                if needed == "files:write"
                else client.files_info(file="F00000001")
            )
            with pytest.raises(SlackApiError) as refused:
                await call
            answer = refused.value.response
            assert (answer.status_code, answer["error"], answer["needed"]) == (
                200,
                "missing_scope",
                needed,
            )
            assert refusing.files == {} and refusing.top_level(CHANNEL) == []
        finally:
            refusing.stop()


async def _three_steps(slack: StandIn, client: AsyncWebClient) -> str:
    """The upload's first two steps by hand, as a caller that keeps the file's id does."""
    ticket = await client.files_getUploadURLExternal(filename="receipt.pdf", length=len(PDF))
    async with httpx.AsyncClient() as http:
        assert (await http.post(ticket["upload_url"], content=PDF)).status_code == 200
    return str(ticket["file_id"])


async def test_a_failed_completion_shares_nothing_and_can_be_completed_again(
    slack: StandIn,
) -> None:
    client = _client(slack)
    card = await _card(slack)
    file_id = await _three_steps(slack, client)
    slack.fail("files.completeUploadExternal", Fault(status=500))
    with pytest.raises(SlackApiError) as failed:
        await client.files_completeUploadExternal(
            files=[{"id": file_id}], channel_id=CHANNEL, thread_ts=card
        )
    assert failed.value.response.status_code == 500
    # Looking before trying again: not finished, so not a file yet; the upload still is.
    with pytest.raises(SlackApiError) as looked:
        await client.files_info(file=file_id)
    assert looked.value.response["error"] == "file_not_found"
    assert slack.thread(CHANNEL, card) == []
    await client.files_completeUploadExternal(
        files=[{"id": file_id}], channel_id=CHANNEL, thread_ts=card
    )
    assert len(slack.thread(CHANNEL, card)) == 1


async def test_a_completion_whose_answer_was_lost_is_found_by_files_info(
    slack: StandIn,
) -> None:
    client = _client(slack)
    card = await _card(slack)
    file_id = await _three_steps(slack, client)
    slack.fail("files.completeUploadExternal", Fault(drop_connection=True))
    with pytest.raises(aiohttp.ClientConnectionError):  # the answer never came
        await client.files_completeUploadExternal(
            files=[{"id": file_id}], channel_id=CHANNEL, thread_ts=card
        )
    # Slack did share it: files.info says where, the thread shows it.
    info = (await client.files_info(file=file_id))["file"]
    [shown] = slack.thread(CHANNEL, card)
    assert info["shares"]["public"][CHANNEL] == [
        {
            "ts": shown.ts,
            "channel_name": CHANNEL.lower(),
            "thread_ts": card,
            "reply_count": 1,
            "reply_users": [BOT_USER],
            "reply_users_count": 1,
            "latest_reply": shown.ts,
            "team_id": "T111",
        }
    ]
    assert info["channels"] == [CHANNEL]
    replies = await client.conversations_replies(channel=CHANNEL, ts=card)
    assert [f["id"] for m in replies["messages"] for f in m.get("files", [])] == [file_id]
    # Completing it blindly again shares it a second time: the double a retry must avoid.
    await client.files_completeUploadExternal(
        files=[{"id": file_id}], channel_id=CHANNEL, thread_ts=card
    )
    assert len(slack.thread(CHANNEL, card)) == 2


async def test_a_failed_upload_of_the_bytes_fails_files_upload_v2(slack: StandIn) -> None:
    slack.fail(UPLOAD, Fault(status=503))
    with pytest.raises(SlackRequestError, match="status: 503"):
        await _client(slack).files_upload_v2(channel=CHANNEL, content=b"x", filename="x.txt")
    assert slack.calls_to("files.completeUploadExternal") == []
    assert slack.top_level(CHANNEL) == []


@pytest.mark.parametrize(
    "method", ["files.getUploadURLExternal", "files.completeUploadExternal", "files.info"]
)
async def test_faults_reach_the_files_methods(slack: StandIn, method: str) -> None:
    slack.fail(method, Fault(retry_after=2))
    with pytest.raises(SlackApiError) as failed:
        await _client(slack).api_call(method, params={"file": "F1", "files": "[]"})
    assert failed.value.response.status_code == 429
    assert failed.value.response.headers["Retry-After"] == "2"


# -------------------------------------------------------------------------- files.info


async def test_files_info_gives_the_file_and_its_urls(slack: StandIn) -> None:
    card = await _card(slack)
    shared = slack.post_file_as_user(CHANNEL, MINH, "shot.png", b"\x89PNG..", thread_ts=card)
    file_id = shared.files[0]["id"]
    info = await _client(slack).files_info(file=file_id)
    file = info["file"]
    assert {k: file[k] for k in ("id", "name", "title", "mimetype", "size", "user")} == {
        "id": file_id,
        "name": "shot.png",
        "title": "shot.png",
        "mimetype": "image/png",
        "size": 6,
        "user": MINH,
    }
    where = f"{slack.base_url}/files-pri/T111-{file_id}"
    assert file["url_private"] == f"{where}/shot.png"
    assert file["url_private_download"] == f"{where}/download/shot.png"
    assert file["shares"]["public"][CHANNEL][0]["ts"] == shared.ts
    # Files the bot cannot see are not found: shared only where it is not, or nowhere.
    hidden = slack.post_file_as_user(ELSEWHERE, MINH, "hidden.png", b"x")
    private = slack.add_file("private.png", b"x", user=MINH)
    for other in (hidden.files[0]["id"], private.id, "F0NOSUCH"):
        with pytest.raises(SlackApiError) as refused:
            await _client(slack).files_info(file=other)
        assert refused.value.response["error"] == "file_not_found"


# --------------------------------------------------------------------------- downloads


async def test_a_download_needs_the_bot_token_with_files_read(slack: StandIn) -> None:
    card = await _card(slack)
    shared = slack.post_file_as_user(CHANNEL, MINH, "receipt.pdf", PDF, thread_ts=card)
    file = shared.files[0]
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient() as http:
        for url, disposition in [
            (file["url_private_download"], "attachment"),
            (file["url_private"], "inline"),
        ]:
            got = await http.get(url, headers=bearer)
            assert (got.status_code, got.content) == (200, PDF)
            assert got.headers["content-type"] == "application/pdf"
            assert got.headers["content-disposition"].startswith(disposition)
        head = await http.head(file["url_private_download"], headers=bearer)
        assert (head.status_code, head.headers["content-length"], head.content) == (
            200,
            str(len(PDF)),
            b"",
        )
        for headers in ({}, {"Authorization": "Bearer xoxb-someone-else"}):
            refused = await http.get(file["url_private_download"], headers=headers)
            assert refused.status_code == 302
            assert refused.headers["location"].startswith(slack.base_url + "/?redir=%2Ffiles-pri")
            assert PDF not in refused.content
            # Followed, the redirect ends on Slack's sign-in page: 200, HTML, not the file.
            landed = await http.get(
                file["url_private_download"], headers=headers, follow_redirects=True
            )
            assert landed.status_code == 200
            assert landed.headers["content-type"].startswith("text/html")
            assert "Sign in" in landed.text and PDF not in landed.content
        unknown = await http.get(f"{slack.base_url}/files-pri/T111-F0NOSUCH/x.pdf", headers=bearer)
        assert unknown.status_code == 404
        hidden = slack.post_file_as_user(ELSEWHERE, MINH, "hidden.pdf", PDF)
        refused = await http.get(hidden.files[0]["url_private_download"], headers=bearer)
        assert refused.status_code == 302
    assert [c.params["file"] for c in slack.calls_to(DOWNLOAD)][:2] == [file["id"]] * 2


async def test_without_files_read_a_download_lands_on_the_sign_in_page() -> None:
    slack = _standin([s for s in bot_scopes() if s != "files:read"])
    try:
        shared = slack.post_file_as_user(CHANNEL, MINH, "receipt.pdf", PDF)
        async with httpx.AsyncClient() as http:
            got = await http.get(
                shared.files[0]["url_private_download"],
                headers={"Authorization": f"Bearer {TOKEN}"},
                follow_redirects=True,
            )
        assert got.status_code == 200 and got.headers["content-type"].startswith("text/html")
        assert PDF not in got.content
    finally:
        slack.stop()


async def test_a_download_cut_short_ends_before_its_length(slack: StandIn) -> None:
    shared = slack.post_file_as_user(CHANNEL, MINH, "big.bin", generated(MiB), size=MiB)
    slack.fail(DOWNLOAD, Fault(drop_connection=True))
    slack.fail(DOWNLOAD, Fault(status=500))
    url = shared.files[0]["url_private_download"]
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(url, headers=bearer)
        assert (await http.get(url, headers=bearer)).status_code == 500
        assert len((await http.get(url, headers=bearer)).content) == MiB


async def test_a_big_generated_file_streams_without_being_held(slack: StandIn) -> None:
    size = 50 * MiB
    shared = slack.post_file_as_user(
        CHANNEL, MINH, "video.mp4", generated(size, seed=7), size=size, text="the recording"
    )
    stored = slack.files[shared.files[0]["id"]]
    assert shared.files[0]["size"] == size and stored.data is None
    process = psutil.Process()
    gc.collect()
    before = peak = process.memory_info().rss
    digest, received = hashlib.sha256(), 0
    async with (
        httpx.AsyncClient() as http,
        http.stream(
            "GET",
            shared.files[0]["url_private_download"],
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as response,
    ):
        assert response.headers["content-length"] == str(size)
        async for chunk in response.aiter_bytes():
            digest.update(chunk)
            received += len(chunk)
            peak = max(peak, process.memory_info().rss)
    assert received == size
    assert digest.hexdigest() == stored.sha256()  # the same bytes each time they are made
    assert peak - before < 20 * MiB, f"grew by {(peak - before) / MiB:.0f} MiB"


# ------------------------------------------------------------- a person's file share


async def test_a_persons_file_share_and_its_event(slack: StandIn) -> None:
    card = await _card(slack)
    signer = SlackSigner("8f742231b10e8888abcd99yyyzzz85a5")
    alone = slack.post_file_as_user(CHANNEL, MINH, "shot.png", b"\x89PNG..", "image/png", card)
    worded = slack.post_file_as_user(
        CHANNEL, MINH, "receipt.pdf", PDF, thread_ts=card, text="Here is the receipt"
    )
    assert [m.ts for m in slack.thread(CHANNEL, card)] == [alone.ts, worded.ts]
    for message, text in [(alone, ""), (worded, "Here is the receipt")]:
        request = signer.message_event_for(message)
        assert SignatureVerifier(signer.verifier.signing_secret).is_valid(
            body=request.body,
            timestamp=request.headers["X-Slack-Request-Timestamp"],
            signature=request.headers["X-Slack-Signature"],
        )
        event = request.payload()["event"]
        assert (event["type"], event["subtype"], event["text"], event["user"]) == (
            "message",
            "file_share",
            text,
            MINH,
        )
        assert (event["thread_ts"], event["parent_user_id"], event["channel"]) == (
            card,
            BOT_USER,
            CHANNEL,
        )
        assert (event["upload"], event["display_as_bot"]) == (False, False)
        assert "bot_id" not in event and event["client_msg_id"]
        assert ("blocks" in event) == bool(text)  # words come with their rich_text block
        [file] = event["files"]
        stored = slack.files[file["id"]]
        assert (file["name"], file["mimetype"], file["size"]) == (
            stored.name,
            stored.mimetype,
            stored.size,
        )
        assert file["url_private_download"].endswith(
            f"/files-pri/T111-{stored.id}/download/{stored.name}"
        )
        assert stored.shares == [Share(CHANNEL, message.ts, card)]
        assert json.loads(json.dumps(message.as_dict()))["files"] == event["files"]
