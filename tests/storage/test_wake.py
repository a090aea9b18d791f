"""The loops that run until cancelled (the outbox drain, here the platform relay's) stop
when cancelled, even when a commit wakes them at that very moment. On Python 3.11,
``asyncio.wait_for`` loses such a cancellation, and stopping the server then waited
forever."""

import asyncio
import contextlib

import pytest
from sqlalchemy import text

from api.relay.platform import Relay
from storage.wake import woken
from tests.conftest import Env


async def _waiting_forever(event: asyncio.Event) -> None:
    while True:
        await woken(event, 10)
        event.clear()


@pytest.mark.parametrize("turns", range(4))
async def test_a_cancel_as_the_event_is_set_ends_the_wait(turns: int) -> None:
    event = asyncio.Event()
    task = asyncio.create_task(_waiting_forever(event))
    await asyncio.sleep(0.01)
    event.set()
    for _ in range(turns):  # the cancel comes in the same turn of the loop, or a few later
        await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)
    assert task in done and task.cancelled()


async def test_the_relay_stops_when_cancelled_as_a_commit_wakes_it(env: Env) -> None:
    for turns in range(4):
        relay = Relay(env.db, env.services.box, allow_private=True)
        running = asyncio.create_task(relay.run())
        await asyncio.sleep(0.05)  # waiting for work
        async with env.db.write() as s:  # a commit that gives it nothing to do: it only wakes
            await s.execute(text("SELECT 1"))
        for _ in range(turns):
            await asyncio.sleep(0)
        running.cancel()
        done, _ = await asyncio.wait({running}, timeout=2)
        if running not in done:  # the cancel was lost: stop it for good before failing
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
        await relay.aclose()
        assert running in done, f"the relay ignored its cancel ({turns} turns after the commit)"
