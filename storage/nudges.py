"""The inactivity reminder: nudge the owner of a taken escalation whose customer has waited
on them longer than the configured quiet time, once per quiet period.

``awaiting_owner_since`` (indexed) is set when the escalation is taken and when the customer
writes, and cleared by the owner's reply. The nudge clears it too, by a conditional update
that only one sweeper can win: the next nudge needs a new quiet period.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import col

from storage.database import Database
from storage.models import Escalation
from storage.transitions import NUDGE, claim, record

BATCH = 500


@dataclass(frozen=True)
class Nudge:
    escalation_id: str
    owner_id: str
    waiting_since: datetime


async def sweep(db: Database, quiet_for: timedelta, *, limit: int = BATCH) -> list[Nudge]:
    """Nudge every owner whose customer has waited ``quiet_for``; returns this sweeper's."""
    now = db.clock.now()
    waiting_since = col(Escalation.awaiting_owner_since)
    due = (
        select(Escalation)
        .where(waiting_since <= now - quiet_for)  # set only while taken
        .order_by(waiting_since)
        .limit(limit)
    )
    async with db.read() as s:
        candidates = list((await s.execute(due)).scalars())
    nudges = []
    for esc in candidates:
        nudge = await _nudge(db, esc, now)
        if nudge is not None:
            nudges.append(nudge)
    return nudges


async def _nudge(db: Database, esc: Escalation, now: datetime) -> Nudge | None:
    assert esc.awaiting_owner_since is not None and esc.assignee_id is not None
    # Still the same owner, and the same wait: otherwise they replied, or it changed hands.
    unchanged = (
        col(Escalation.assignee_id) == esc.assignee_id,
        col(Escalation.awaiting_owner_since) == esc.awaiting_owner_since,
    )
    waited = (now - esc.awaiting_owner_since).total_seconds()
    data = {
        "owner": {"id": esc.assignee_id, "name": esc.assignee_name},
        "waiting_since": esc.awaiting_owner_since.isoformat(),
        "waited_seconds": round(waited),
    }
    async with db.write() as s:
        won = await claim(s, NUDGE.claim(esc.id, {"awaiting_owner_since": None}, where=unchanged))
        if won is None:
            return None  # another sweeper nudged, or the owner replied or changed
        record(s, esc, now, NUDGE.effects(data))
    return Nudge(esc.id, esc.assignee_id, esc.awaiting_owner_since)
