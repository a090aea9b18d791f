"""Slack allows about one chat.postMessage per second per channel. The worker keeps to that
pace itself instead of finding the limit through 429s."""

import time
from collections.abc import Callable


class ChannelPacer:
    def __init__(self, interval: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.interval = interval
        self._clock = clock
        self._next: dict[str, float] = {}

    def wait_for(self, channel: str) -> float:
        """Seconds until ``channel`` takes another post, without reserving it."""
        return max(0.0, self._next.get(channel, 0.0) - self._clock())

    def reserve(self, channel: str) -> float:
        """Take the channel's next slot; returns the seconds to wait for it."""
        now = self._clock()
        slot = max(now, self._next.get(channel, 0.0))
        self._next[channel] = slot + self.interval
        return slot - now

    def hold(self, channel: str, seconds: float) -> None:
        """Slack said to wait (429 Retry-After): no post to ``channel`` before then."""
        until = self._clock() + seconds
        self._next[channel] = max(self._next.get(channel, 0.0), until)
