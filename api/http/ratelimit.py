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

from sqlalchemy import text

from storage.database import Database


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


_DRAW = text(
    """
    WITH cur AS (
        SELECT key_id,
               LEAST(:burst, tokens + :rate * EXTRACT(EPOCH FROM (clock_timestamp() - updated_at)))
                   AS avail
        FROM rate_buckets WHERE key_id = :key FOR UPDATE
    )
    UPDATE rate_buckets AS b
       SET tokens = cur.avail - LEAST(:chunk, FLOOR(cur.avail)),
           updated_at = clock_timestamp()
      FROM cur
     WHERE b.key_id = cur.key_id
    RETURNING LEAST(:chunk, FLOOR(cur.avail)) AS granted, cur.avail AS avail
    """
)
_SEED = text(
    "INSERT INTO rate_buckets (key_id, tokens, updated_at) "
    "VALUES (:key, :burst, clock_timestamp()) ON CONFLICT (key_id) DO NOTHING"
)


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
            granted, avail = await self._draw(key_id)
            if granted >= 1:
                self._local[key_id] = granted - 1
                return None
            return retry_after(1 - avail, self.rate)

    async def _draw(self, key_id: str) -> tuple[int, float]:
        params = {"key": key_id, "burst": self.burst, "rate": self.rate, "chunk": self.chunk}
        async with self.db.write() as s:
            row = (await s.execute(_DRAW, params)).first()
            if row is None:
                await s.execute(_SEED, params)
                row = (await s.execute(_DRAW, params)).first()
            assert row is not None
            return int(row.granted), float(row.avail)


def make_rate_limiter(db: Database, rate: float) -> RateLimiter:
    if rate <= 0:
        return Unlimited()
    if db.dialect == "postgresql":
        return SharedRateLimiter(db, rate, 2 * rate)
    return MemoryRateLimiter(rate, 2 * rate)
