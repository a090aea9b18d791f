"""Slack allows about one chat.postMessage per second per channel, counted as posts arrive.
The worker keeps to that pace itself instead of finding the limit through 429s.

Posts to a channel go one at a time, and each leaves a full interval after Slack *answered*
the one before: Slack counted that post before it answered, so however long either post
spends on the way, they arrive at least an interval apart. Spacing posts by the time they
were sent is not enough: a post held up on the way arrives late, and the next one then
arrives early."""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass
class _Channel:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    not_before: float = 0.0
    queued: int = 0  # posts waiting for the lock


class ChannelPacer:
    def __init__(self, interval: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.interval = interval
        self._clock = clock
        self._channels: dict[str, _Channel] = {}

    def wait_for(self, channel: str) -> float:
        """About how many seconds a post queued for ``channel`` now would wait."""
        state = self._channels.get(channel)
        if state is None:
            return 0.0
        waiting = state.queued + state.lock.locked()
        return max(0.0, state.not_before - self._clock()) + waiting * self.interval

    @asynccontextmanager
    async def slot(self, channel: str) -> AsyncIterator[None]:
        """Hold ``channel``'s turn for one post: waits for the posts queued before it and
        for the pace, and counts the interval from when the block (the post) ends. An
        interval of 0 paces nothing (the demo, tests)."""
        if self.interval <= 0:
            yield
            return
        state = self._channels.setdefault(channel, _Channel())
        state.queued += 1
        try:
            await state.lock.acquire()
        finally:
            state.queued -= 1
        try:
            wait = state.not_before - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                yield
            finally:
                state.not_before = max(state.not_before, self._clock() + self.interval)
        finally:
            state.lock.release()

    def hold(self, channel: str, seconds: float) -> None:
        """Slack said to wait (429 Retry-After): no post to ``channel`` before then."""
        state = self._channels.setdefault(channel, _Channel())
        state.not_before = max(state.not_before, self._clock() + seconds)
