"""``Idempotency-Key``: the same key and body get the same answer; a new body is refused.

A key is claimed in its own short transaction (so a duplicate arriving meanwhile sees it in
flight), and its answer is stored in the transaction that does the work, so an answer is
on record if and only if the work committed. A claim whose process died is taken over
once its lease runs out.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.database import Database, rowcount
from storage.errors import IdempotencyInFlight, IdempotencyMismatch
from storage.models import IdempotencyRecord

KEEP_FOR = timedelta(hours=24)
LEASE = timedelta(seconds=30)


@dataclass(frozen=True)
class IdempotencyClaim:
    platform_id: str
    key: str


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: dict[str, Any]


def request_fingerprint(body: Any) -> str:
    """A hash of the JSON body that ignores key order and white space."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def claim(
    db: Database, platform_id: str, key: str, fingerprint: str
) -> IdempotencyClaim | StoredResponse:
    """Claim the key for this request, or return the answer already given under it."""
    now = db.clock.now()
    fresh = {
        "request_hash": fingerprint,
        "in_flight": True,
        "locked_until": now + LEASE,
        "status_code": None,
        "response": None,
        "created_at": now,
        "expires_at": now + KEEP_FOR,
    }
    async with db.write() as s:
        inserted = await s.execute(
            db.insert(IdempotencyRecord)
            .values(platform_id=platform_id, key=key, **fresh)
            .on_conflict_do_nothing(index_elements=["platform_id", "key"])
            .returning(IdempotencyRecord.key)
        )
        if inserted.first() is not None:
            return IdempotencyClaim(platform_id, key)
        record = await s.get_one(
            IdempotencyRecord, (platform_id, key), with_for_update=True, populate_existing=True
        )
        abandoned = record.in_flight and record.locked_until <= now
        if record.expires_at <= now or (abandoned and record.request_hash == fingerprint):
            await _take_over(s, platform_id, key, fresh)
            return IdempotencyClaim(platform_id, key)
        if record.request_hash != fingerprint:
            raise IdempotencyMismatch()
        if record.in_flight:
            raise IdempotencyInFlight()
        assert record.status_code is not None and record.response is not None
        return StoredResponse(record.status_code, record.response)


async def _take_over(s: AsyncSession, platform_id: str, key: str, fresh: dict[str, Any]) -> None:
    await s.execute(
        update(IdempotencyRecord)
        .where(col(IdempotencyRecord.platform_id) == platform_id, col(IdempotencyRecord.key) == key)
        .values(**fresh)
    )


async def store_response(
    s: AsyncSession, claim_: IdempotencyClaim, status_code: int, body: dict[str, Any]
) -> None:
    """Record the answer, inside the transaction that did the work."""
    await s.execute(
        update(IdempotencyRecord)
        .where(
            col(IdempotencyRecord.platform_id) == claim_.platform_id,
            col(IdempotencyRecord.key) == claim_.key,
        )
        .values(in_flight=False, status_code=status_code, response=body)
    )


async def release(db: Database, claim_: IdempotencyClaim) -> None:
    """Give a claim back after the work failed, so the client may retry with the same key."""
    async with db.write() as s:
        await s.execute(
            delete(IdempotencyRecord).where(
                col(IdempotencyRecord.platform_id) == claim_.platform_id,
                col(IdempotencyRecord.key) == claim_.key,
                col(IdempotencyRecord.in_flight).is_(True),
            )
        )


async def release_in_flight(db: Database) -> int:
    """Give back every claim still in flight: for a single-process database at start-up,
    where a claim left over belongs to a process that died before its work committed. The
    client's retry with the same key then does the work at once, instead of being told
    for a lease's length that the request is still being processed."""
    async with db.write() as s:
        result = await s.execute(
            delete(IdempotencyRecord).where(col(IdempotencyRecord.in_flight).is_(True))
        )
        return rowcount(result) or 0


async def purge_expired(db: Database) -> int:
    """Forget keys past their retention; returns how many."""
    async with db.write() as s:
        result = await s.execute(
            delete(IdempotencyRecord).where(col(IdempotencyRecord.expires_at) <= db.clock.now())
        )
        return rowcount(result) or 0
