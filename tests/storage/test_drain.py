"""The outbox worker's loop through a database outage: it keeps polling, says so once
rather than once a second with a traceback, and claims again as soon as the database is
back."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import make_url

from storage.models import Topic
from storage.outbox import deliveries
from storage.outbox.deliveries import Claimed
from storage.outbox.drain import Drainer
from tests.bot.conftest import eventually
from tests.faults.tcp_proxy import TcpProxy
from tests.storage.test_deliveries import Queue, _queue

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("database_url", ["postgres"], indirect=True),
]


@pytest.fixture
async def proxied(database_url: str) -> AsyncIterator[tuple[TcpProxy, Queue]]:
    direct = make_url(database_url)
    proxy = TcpProxy(direct.host or "127.0.0.1", direct.port or 5432).start()
    through = direct.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        async for queue in _queue(through):
            yield proxy, queue
    finally:
        proxy.stop()


async def test_an_outage_is_logged_once_and_claiming_resumes_after_it(
    proxied: tuple[TcpProxy, Queue], caplog: pytest.LogCaptureFixture
) -> None:
    proxy, queue = proxied
    delivered: list[int] = []

    async def deliver(row: Claimed) -> None:
        assert await deliveries.mark_done(queue.db, row, "w1")
        delivered.append(row.id)

    drainer = Drainer(queue.db, Topic.platform, "w1", deliver, concurrency=4, poll_interval=0.1)
    running = asyncio.create_task(drainer.run())
    try:
        before = await queue.row(await queue.escalation())
        await eventually(lambda: delivered == [before], what="the row before the outage")
        caplog.set_level(logging.INFO, logger="baton.outbox")
        await asyncio.to_thread(proxy.outage)
        await asyncio.sleep(2.0)  # some twenty polls
        await asyncio.to_thread(proxy.restore)
        after = await queue.row(await queue.escalation())
        await eventually(lambda: delivered == [before, after], what="the row after the outage")
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await drainer.aclose()
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "baton.outbox"]
    assert len(said) == 2, said
    assert said[0][0] == "WARNING" and "the database is unavailable" in said[0][1]
    assert said[1] == ("INFO", "platform: the database answers again; claiming")
    assert not any(r.exc_info for r in caplog.records if r.name == "baton.outbox")
