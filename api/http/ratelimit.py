"""Per-API-key request budgets: a token bucket (rate per second, bursts up to twice that).

With one process the bucket lives in memory. On PostgreSQL, where replicas share the load,
the bucket lives in the database and each replica draws tokens from it a few at a time,
so N replicas share one budget instead of each granting the full rate.
"""

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Protocol

from storage.database import Database
from storage.rate_buckets import draw_tokens


class RateLimiter(Protocol):
    async def acquire(self, key_id: str) -> float | None:
        """None if the request may go ahead, else the seconds to wait before retrying."""
        ...


def retry_after(deficit: float, rate: float) -> float:
    return max(1.0, math.ceil(deficit / rate))


class Unlimited:
    async def acquire(self, key_id: str) -> float | None:
        return None


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class MemoryRateLimiter:
    rate: float
    burst: float
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    async def acquire(self, key_id: str) -> float | None:
        now = time.monotonic()
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        return retry_after(1 - bucket.tokens, self.rate)


@dataclass
class SharedRateLimiter:
    """Draws tokens in small chunks from a bucket row shared by every replica."""

    db: Database
    rate: float
    burst: float
    _local: dict[str, int] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    @property
    def chunk(self) -> int:
        return max(1, min(int(self.burst), int(self.rate // 10)))

    async def acquire(self, key_id: str) -> float | None:
        if self._local.get(key_id, 0) > 0:
            self._local[key_id] -= 1
            return None
        lock = self._locks.setdefault(key_id, asyncio.Lock())
        async with lock:
            if self._local.get(key_id, 0) > 0:
                self._local[key_id] -= 1
                return None
            granted, avail = await draw_tokens(
                self.db, key_id, rate=self.rate, burst=self.burst, chunk=self.chunk
            )
            if granted >= 1:
                self._local[key_id] = granted - 1
                return None
            return retry_after(1 - avail, self.rate)


def make_rate_limiter(db: Database, rate: float) -> RateLimiter:
    if rate <= 0:
        return Unlimited()
    if db.dialect == "postgresql":
        return SharedRateLimiter(db, rate, 2 * rate)
    return MemoryRateLimiter(rate, 2 * rate)
