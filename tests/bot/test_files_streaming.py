"""A large file streams from Slack to the customer's side through Baton without ever being
held whole: 200 MiB, made by the Slack stand-in as it is read, through the real server over
a real socket, with the process's memory sampled all along."""

import asyncio
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn

from api.demo.slack_standin import StandIn, generated
from api.http.app import create_app
from tests.bot.conftest import ANN, SlackEnv, eventually
from tests.bot.test_files_to_customer import _files_env, _relayed
from tests.processes import free_port
from tests.receiver import Receiver

SIZE = 200 * 1024**2
MiB = 1024**2


@contextmanager
def peak_rss_growth() -> Iterator[list[int]]:
    """The process's resident memory sampled every 5 ms; yields a list that holds, once
    the block ends, the largest growth over the start (bytes)."""
    status = Path("/proc/self/status")

    def rss() -> int:
        line = next(x for x in status.read_text().splitlines() if x.startswith("VmRSS:"))
        return int(line.split()[1]) * 1024

    start, peak, done = rss(), [0], threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], rss())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    growth: list[int] = []
    try:
        yield growth
    finally:
        done.set()
        sampler.join()
        growth.append(max(peak[0], rss()) - start)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_200_mib_file_streams_with_flat_memory(
    database_url: str, standin: StandIn, receiver: Receiver
) -> None:
    async with _files_env(database_url, standin, receiver, max_bytes="300MiB") as senv:
        await _stream_a_large_file(senv, standin, receiver)


async def _stream_a_large_file(senv: SlackEnv, standin: StandIn, receiver: Receiver) -> None:
    esc_id = await senv.escalate()
    await senv.take(esc_id, ANN)
    thread = await senv.thread(esc_id)
    msg = standin.post_file_as_user(
        thread.channel_id,
        ANN,
        "backup.tar",
        generated(SIZE, seed=7),
        size=SIZE,
        thread_ts=thread.thread_ts,
    )
    assert (await senv.send(senv.signer.message_event_for(msg))).status_code == 200
    (message,) = await _relayed(senv, receiver)
    link = urlsplit(message["attachments"][0]["url"])

    # The same app on a real socket: the ASGI test client would gather the whole body.
    app = create_app(services=senv.env.services, migrate=False, run_scheduler=False)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, lifespan="off", log_level="warning"))
    serving = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, what="the server")
    digest, received = hashlib.sha256(), 0
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            with peak_rss_growth() as growth:
                async with client.stream("GET", f"{link.path}?{link.query}") as response:
                    assert response.status_code == 200
                    assert response.headers["content-length"] == str(SIZE)
                    async for chunk in response.aiter_raw():
                        digest.update(chunk)
                        received += len(chunk)
    finally:
        server.should_exit = True
        await serving

    assert received == SIZE
    assert digest.hexdigest() == standin.files[msg.files[0]["id"]].sha256()
    # Stand-in, Baton and client share this process: a whole copy anywhere would show as
    # 200 MiB more.
    assert growth[0] < 48 * MiB, f"memory grew by {growth[0] / MiB:.0f} MiB"
