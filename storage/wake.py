"""Sleeping until woken, for the loops that run until cancelled (the outbox drain, the App
Home refresher)."""

import asyncio
import contextlib


async def woken(event: asyncio.Event, within: float) -> None:
    """Until ``event`` is set or ``within`` seconds have passed.

    Not ``asyncio.wait_for``: on Python 3.11 it loses a cancellation that arrives as the
    event is set (it returns the event's result instead), and a loop waiting that way can
    no longer be stopped. ``asyncio.timeout`` cancels this task itself, so a cancellation
    from outside always ends it."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within):
            await event.wait()
