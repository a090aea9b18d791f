"""Which taken escalations have a quiet customer (``[lifecycle] auto_close_after``).

An escalation is quiet once ``quiet_for`` has passed since it was taken (or handed to its
current owner) and since the customer's latest message. ``Machine.close_quiet`` closes each
by the conditional update every move makes, with ``still_quiet`` checked again in it: of
several replicas sweeping at once, one closes it, and a customer who just wrote keeps it open.
"""

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select
from sqlmodel import col

from storage.database import Database
from storage.models import Escalation, Status
from storage.transitions import Actor

BATCH = 500
BATON = Actor("baton", "Baton")  # who closes a quiet escalation


def still_quiet(cutoff: datetime) -> tuple[ColumnElement[bool], ...]:
    """Taken, by its current owner, and not written to by the customer since ``cutoff``."""
    wrote = col(Escalation.customer_wrote_at)
    return (
        col(Escalation.status) == Status.taken,
        col(Escalation.taken_at) <= cutoff,
        or_(wrote.is_(None), wrote <= cutoff),
    )


async def quiet(db: Database, quiet_for: timedelta, *, limit: int = BATCH) -> list[Escalation]:
    """Taken escalations whose customer has been quiet ``quiet_for``, longest first."""
    stmt = (
        select(Escalation)
        .where(*still_quiet(db.clock.now() - quiet_for))
        .order_by(col(Escalation.taken_at))
        .limit(limit)
    )
    async with db.read() as s:
        return list((await s.execute(stmt)).scalars())
