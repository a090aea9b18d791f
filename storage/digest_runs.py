"""Claims on a day's digest, so it is sent once however many replicas run the job.

A day has one row. The first replica to insert it holds a lease while it sends; the others
insert nothing and leave. A sender that fails (or dies) gives the day back once its lease
ends, and the next claim knows an earlier attempt may already have posted.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import or_, select, update
from sqlmodel import col

from storage.database import Database, rowcount
from storage.models import DigestRun

LEASE = timedelta(minutes=2)
RETRY_AFTER = timedelta(minutes=5)


@dataclass(frozen=True)
class DigestClaim:
    day: date
    worker: str
    uncertain: bool  # held before: an earlier attempt may have posted


async def claim(db: Database, day: date, worker: str) -> DigestClaim | None:
    """Hold ``day`` for sending, or None if it is sent or someone else holds it."""
    now = db.clock.now()
    async with db.write() as s:
        created = await s.execute(
            db.insert(DigestRun)
            .values(day=day, claimed_by=worker, claimed_until=now + LEASE, created_at=now)
            .on_conflict_do_nothing(index_elements=["day"])
            .returning(DigestRun.day)
        )
        if created.first() is not None:
            return DigestClaim(day, worker, uncertain=False)
        taken = await s.execute(
            update(DigestRun)
            .where(
                col(DigestRun.day) == day,
                col(DigestRun.sent_at).is_(None),
                or_(col(DigestRun.claimed_until).is_(None), col(DigestRun.claimed_until) < now),
            )
            .values(claimed_by=worker, claimed_until=now + LEASE)
        )
        return DigestClaim(day, worker, uncertain=True) if rowcount(taken) == 1 else None


async def mark_sent(db: Database, held: DigestClaim, channel_id: str, message_ts: str) -> bool:
    async with db.write() as s:
        result = await s.execute(
            update(DigestRun)
            .where(col(DigestRun.day) == held.day, col(DigestRun.claimed_by) == held.worker)
            .values(
                sent_at=db.clock.now(),
                channel_id=channel_id,
                message_ts=message_ts,
                claimed_until=None,
                attempts=DigestRun.attempts + 1,
                last_error=None,
            )
        )
        return rowcount(result) == 1


async def retry_later(db: Database, held: DigestClaim, error: str) -> None:
    """The attempt failed: any replica may try again after ``RETRY_AFTER``."""
    async with db.write() as s:
        await s.execute(
            update(DigestRun)
            .where(col(DigestRun.day) == held.day, col(DigestRun.claimed_by) == held.worker)
            .values(
                claimed_until=db.clock.now() + RETRY_AFTER,
                attempts=DigestRun.attempts + 1,
                last_error=error[:1000],
            )
        )


async def load(db: Database, day: date) -> DigestRun | None:
    async with db.read() as s:
        return (
            await s.execute(select(DigestRun).where(col(DigestRun.day) == day))
        ).scalar_one_or_none()
