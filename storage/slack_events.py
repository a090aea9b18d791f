"""Slack's Events API retries an event (same ``event_id``) when it did not see our answer in
time; each event is handled once.

A message is claimed before it is handled and marked handled after, so that a retry that
arrives while the first delivery is still being handled is dropped, not handled twice; and a
claim whose handler crashed is taken over by a later retry once ``CLAIM_LEASE`` has passed
(Slack retries after about a minute, then after about five). On the embedded database,
where one process serves, start-up releases every unhandled claim at once
(``release_in_flight``): each is a crash's, and a retry must not wait out the lease.
"""

from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import col

from storage.database import Database, rowcount
from storage.models import SlackEventSeen

REMEMBER_FOR = timedelta(days=1)  # Slack retries within minutes
CLAIM_LEASE = timedelta(seconds=30)  # far longer than handling one message takes


async def first_sight(db: Database, event_id: str) -> bool:
    """Record ``event_id`` as handled; False if it was recorded before (a retry, or a
    duplicate)."""
    now = db.clock.now()
    stmt = (
        db.insert(SlackEventSeen)
        .values(event_id=event_id, created_at=now, handled_at=now)
        .on_conflict_do_nothing(index_elements=["event_id"])
    )
    async with db.write(notify=False) as s:
        result = await s.execute(stmt)
        return (rowcount(result) or 0) > 0


async def claim(db: Database, event_id: str) -> bool:
    """Claim ``event_id`` for handling: True for its first delivery, and for a retry of one
    whose handler left it unhandled for longer than ``CLAIM_LEASE`` (it crashed); False
    for a retry of one handled already or being handled now."""
    now = db.clock.now()
    insert = (
        db.insert(SlackEventSeen)
        .values(event_id=event_id, created_at=now, handled_at=None)
        .on_conflict_do_nothing(index_elements=["event_id"])
    )
    take_over = (
        update(SlackEventSeen)
        .where(
            col(SlackEventSeen.event_id) == event_id,
            col(SlackEventSeen.handled_at).is_(None),
            col(SlackEventSeen.created_at) < now - CLAIM_LEASE,
        )
        .values(created_at=now)
    )
    async with db.write(notify=False) as s:
        if (rowcount(await s.execute(insert)) or 0) > 0:
            return True
        return (rowcount(await s.execute(take_over)) or 0) > 0


async def handled(db: Database, event_id: str) -> None:
    """The claimed ``event_id`` was handled: its retries are dropped from now on."""
    async with db.write(notify=False) as s:
        await s.execute(
            update(SlackEventSeen)
            .where(col(SlackEventSeen.event_id) == event_id)
            .values(handled_at=db.clock.now())
        )


async def release(db: Database, event_id: str) -> None:
    """Handling the claimed ``event_id`` did not finish: a retry may handle it at once."""
    async with db.write(notify=False) as s:
        await s.execute(
            delete(SlackEventSeen).where(
                col(SlackEventSeen.event_id) == event_id,
                col(SlackEventSeen.handled_at).is_(None),
            )
        )


async def purge_seen(db: Database, now: datetime | None = None) -> int:
    cutoff = (now or db.clock.now()) - REMEMBER_FOR
    async with db.write(notify=False) as s:
        result = await s.execute(
            delete(SlackEventSeen).where(col(SlackEventSeen.created_at) < cutoff)
        )
        return rowcount(result) or 0


async def release_in_flight(db: Database) -> int:
    """Release every claim left unhandled; for the embedded database at start-up, where no
    other process can be handling one. Returns how many there were."""
    async with db.write(notify=False) as s:
        result = await s.execute(
            delete(SlackEventSeen).where(col(SlackEventSeen.handled_at).is_(None))
        )
        return rowcount(result) or 0
