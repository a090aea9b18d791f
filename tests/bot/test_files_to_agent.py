"""A customer's attachment shows in the card's thread as the file itself: fetched from the
customer's side under the callback rules and uploaded with Slack's upload v2 flow, once,
whatever fails on the way; a file that cannot be fetched shows as its link, with why.
Through the real app, the Slack stand-in and a real local file server."""

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import select

from api.config import ApiSection, Config, FilesSection
from api.demo.images import png
from api.demo.slack_standin import BOT_USER, UPLOAD, Fault, StandIn, StoredFile
from storage.clock import ManualClock
from storage.models import FileAttachment, FileState
from tests.bot.conftest import SlackEnv, running_slack_env
from tests.conftest import escalation_body
from tests.file_server import FileServer, Hosted

PHOTO = png(64, 48, seed=5)


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    server = FileServer().start()
    try:
        yield server
    finally:
        server.stop()


@asynccontextmanager
async def _senv(
    database_url: str, standin: StandIn, *, max_bytes: str = "25MiB", **settings: Any
) -> AsyncIterator[SlackEnv]:
    config = Config(api=ApiSection(rate_limit=0), files=FilesSection(max_bytes=max_bytes))
    async with running_slack_env(
        database_url, standin, manual_clock=True, config=config, **settings
    ) as environment:
        yield environment


@pytest.fixture
async def senv(database_url: str, standin: StandIn) -> AsyncIterator[SlackEnv]:
    async with _senv(database_url, standin) as environment:
        yield environment


def _attachment(url: str, name: str = "photo.png") -> dict[str, str]:
    return {"url": url, "name": name, "mime_type": "image/png"}


async def _uploaded(senv: SlackEnv, esc_id: str) -> list[StoredFile]:
    thread = await senv.thread(esc_id)
    return [
        f
        for f in senv.slack.files_in_thread(thread.channel_id, thread.thread_ts)
        if f.user == BOT_USER
    ]


async def _shown(senv: SlackEnv, esc_id: str) -> list[str]:
    """The thread's posts as people read them (their blocks' text)."""
    return [
        "\n".join(b["text"]["text"] for b in m.blocks if "text" in b and "text" in b["text"])
        for m in await senv.replies(esc_id)
    ]


async def _states(senv: SlackEnv, esc_id: str) -> list[tuple[str, str | None]]:
    async with senv.env.db.read() as s:
        rows = (
            await s.execute(
                select(FileAttachment.state, FileAttachment.error)
                .where(FileAttachment.escalation_id == esc_id)
                .order_by(FileAttachment.created_at, FileAttachment.id)
            )
        ).all()
    return [(str(state), error) for state, error in rows]


async def _deliver_with_retries(senv: SlackEnv, rounds: int = 6) -> None:
    """Drain the Slack outbox, moving the clock past each back-off."""
    clock = senv.env.clock
    assert isinstance(clock, ManualClock)
    for _ in range(rounds):
        await senv.deliver()
        clock.advance(timedelta(minutes=6))
    await senv.deliver()


async def test_a_transcripts_and_a_messages_files_are_uploaded_into_the_thread(
    senv: SlackEnv, file_server: FileServer
) -> None:
    receipt = png(32, 32, seed=9)
    body = escalation_body()
    body["transcript"][0]["attachments"] = [
        _attachment(file_server.put("receipt.png", Hosted(receipt, "image/png")), "receipt.png")
    ]
    esc_id = await senv.escalate(transcript=body["transcript"])
    (first,) = await _uploaded(senv, esc_id)
    assert (first.name, first.content) == ("receipt.png", receipt)

    url = file_server.put("photo.png", Hosted(PHOTO, "image/png"))
    response = await senv.client.post(
        f"/v1/escalations/{esc_id}/messages",
        json={"content": "here is the photo", "attachments": [_attachment(url)]},
        headers=senv.env.auth,
    )
    assert response.status_code == 201
    await senv.deliver()

    files = await _uploaded(senv, esc_id)
    assert [(f.name, f.content) for f in files] == [("receipt.png", receipt), ("photo.png", PHOTO)]
    # In the thread after the message it came with.
    thread = await senv.replies(esc_id)
    said = next(i for i, m in enumerate(thread) if "here is the photo" in str(m.blocks))
    shown = next(i for i, m in enumerate(thread) if m.files and m.files[0]["name"] == "photo.png")
    assert said < shown
    assert await _states(senv, esc_id) == [("uploaded", None), ("uploaded", None)]


async def test_a_slack_500_on_upload_and_a_lost_answer_still_upload_once(
    senv: SlackEnv, file_server: FileServer
) -> None:
    esc_id = await senv.escalate()
    senv.slack.fail(UPLOAD, Fault(status=500))
    senv.slack.fail("files.completeUploadExternal", Fault(drop_connection=True))
    url = file_server.put("photo.png", Hosted(PHOTO, "image/png"))
    await senv.client.post(
        f"/v1/escalations/{esc_id}/messages",
        json={"content": "photo", "attachments": [_attachment(url)]},
        headers=senv.env.auth,
    )
    await _deliver_with_retries(senv)

    (uploaded,) = await _uploaded(senv, esc_id)
    assert uploaded.content == PHOTO
    shares = [s for f in senv.slack.files.values() if f.user == BOT_USER for s in f.shares]
    assert len(shares) == 1
    # The bytes went twice (the first upload failed); the upload was finished once, and
    # when its answer was lost, Slack was asked about it rather than finishing it again.
    assert len(senv.slack.calls_to("files.getUploadURLExternal")) == 2
    (finished,) = senv.slack.calls_to("files.completeUploadExternal")
    asked = [c.params["file"] for c in senv.slack.calls_to("files.info")]
    assert asked[-1] == uploaded.id and uploaded.id in finished.params["files"]
    assert await _states(senv, esc_id) == [("uploaded", None)]


async def test_a_slow_file_server_never_holds_up_the_api(
    senv: SlackEnv, file_server: FileServer
) -> None:
    """While the Slack worker waits on a file server that does not answer, creates and
    messages are answered: the fetch is the worker's, after the commit."""
    release = threading.Event()
    url = file_server.put("slow.png", Hosted(PHOTO, "image/png", hold=release))
    worker = asyncio.create_task(senv.delivery.run())
    try:
        body = escalation_body(conversation_id="conv_slow")
        body["transcript"][0]["attachments"] = [_attachment(url, "slow.png")]
        response = await senv.client.post("/v1/escalations", json=body, headers=senv.env.auth)
        assert response.status_code == 201
        esc_id = response.json()["id"]
        assert await asyncio.to_thread(file_server.arrived.wait, 10)  # the worker is waiting
        # Held up on the file, the worker has not answered it; the API answers all the same.
        for n in range(3):
            created = await senv.env.create(conversation_id=f"conv_meanwhile_{n}")
            assert created["status"] == "queued"
        message = await senv.client.post(
            f"/v1/escalations/{esc_id}/messages",
            json={"content": "still there?"},
            headers=senv.env.auth,
        )
        assert message.status_code == 201
        assert await _uploaded(senv, esc_id) == []
        release.set()
        for _ in range(500):
            if await _uploaded(senv, esc_id):
                break
            await asyncio.sleep(0.02)
    finally:
        release.set()
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    (uploaded,) = await _uploaded(senv, esc_id)
    assert uploaded.content == PHOTO


async def test_a_missing_or_failing_file_shows_its_link_and_why(
    senv: SlackEnv, file_server: FileServer
) -> None:
    esc_id = await senv.escalate()
    missing = file_server.url("gone.png")
    failing = file_server.put("broken.png", Hosted(b"", status=503))
    await senv.client.post(
        f"/v1/escalations/{esc_id}/messages",
        json={
            "content": "two files",
            "attachments": [_attachment(missing, "gone.png"), _attachment(failing, "broken.png")],
        },
        headers=senv.env.auth,
    )
    await _deliver_with_retries(senv)

    assert await _uploaded(senv, esc_id) == []
    texts = await _shown(senv, esc_id)
    (gone,) = [t for t in texts if "gone.png" in t and "could not be attached" in t]
    assert "404" in gone and missing in gone
    (broken,) = [t for t in texts if "broken.png" in t and "could not be attached" in t]
    assert "503" in broken and failing in broken
    assert file_server.asked_for("gone.png") == 1  # a 404 is final
    assert file_server.asked_for("broken.png") > 1  # a 503 was tried again, then given up
    states = await _states(senv, esc_id)
    assert [s for s, _ in states] == [FileState.failed, FileState.failed]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_file_over_the_limit_shows_its_link_and_why(
    database_url: str, standin: StandIn, file_server: FileServer
) -> None:
    async with _senv(database_url, standin, max_bytes="1KiB") as senv:
        esc_id = await senv.escalate()
        url = file_server.put("big.png", Hosted(b"x" * 5000, "image/png"))
        await senv.client.post(
            f"/v1/escalations/{esc_id}/messages",
            json={"content": "big", "attachments": [_attachment(url, "big.png")]},
            headers=senv.env.auth,
        )
        await _deliver_with_retries(senv)

        assert await _uploaded(senv, esc_id) == []
        (shown,) = [t for t in await _shown(senv, esc_id) if "could not be attached" in t]
        assert "1 KiB" in shown and url in shown


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_file_at_a_private_address_is_never_fetched(
    database_url: str, standin: StandIn, file_server: FileServer
) -> None:
    async with _senv(database_url, standin, allow_private_callbacks=False) as senv:
        esc_id = await senv.escalate()
        url = file_server.put("inside.png", Hosted(PHOTO, "image/png"))
        await senv.client.post(
            f"/v1/escalations/{esc_id}/messages",
            json={"content": "internal", "attachments": [_attachment(url, "inside.png")]},
            headers=senv.env.auth,
        )
        await _deliver_with_retries(senv)

        assert file_server.asked_for("inside.png") == 0
        assert await _uploaded(senv, esc_id) == []
        (shown,) = [t for t in await _shown(senv, esc_id) if "could not be attached" in t]
        assert "BATON_ALLOW_PRIVATE_CALLBACKS" in shown


async def test_a_file_sent_without_a_name_is_named_from_its_link(
    senv: SlackEnv, file_server: FileServer
) -> None:
    """Platforms often send only the URL: the file in the thread takes the link's last
    part, decoded (here Vietnamese and an emoji)."""
    esc_id = await senv.escalate()
    file_server.put("hóa đơn 🧾.png", Hosted(PHOTO, "image/png"))
    url = file_server.url(quote("hóa đơn 🧾.png")) + "?sig=abc#preview"
    response = await senv.client.post(
        f"/v1/escalations/{esc_id}/messages",
        json={"content": "đây ạ", "attachments": [{"url": url}]},
        headers=senv.env.auth,
    )
    assert response.status_code == 201
    await senv.deliver()
    (uploaded,) = await _uploaded(senv, esc_id)
    assert (uploaded.name, uploaded.content) == ("hóa đơn 🧾.png", PHOTO)
