"""Slack's Events API retries an event (same ``event_id``) when it did not see our answer in
time; each event is handled once."""

from datetime import datetime, timedelta

from sqlalchemy import delete, select

from storage.database import Database
from storage.models import SlackEventSeen

REMEMBER_FOR = timedelta(days=1)  # Slack retries within minutes


async def seen(db: Database, event_id: str) -> bool:
    """Whether ``event_id`` was recorded (handled already), without recording it."""
    async with db.read() as s:
        stmt = select(SlackEventSeen.event_id).where(SlackEventSeen.event_id == event_id)
        return (await s.execute(stmt)).first() is not None


async def first_sight(db: Database, event_id: str) -> bool:
    """Record ``event_id``; False if it was recorded before (a retry, or a duplicate)."""
    stmt = (
        db.insert(SlackEventSeen)
        .values(event_id=event_id, created_at=db.clock.now())
        .on_conflict_do_nothing(index_elements=["event_id"])
    )
    async with db.write(notify=False) as s:
        result = await s.execute(stmt)
        return (result.rowcount or 0) > 0


async def purge_seen(db: Database, now: datetime | None = None) -> int:
    cutoff = (now or db.clock.now()) - REMEMBER_FOR
    async with db.write(notify=False) as s:
        result = await s.execute(delete(SlackEventSeen).where(SlackEventSeen.created_at < cutoff))
        return result.rowcount or 0
