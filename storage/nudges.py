"""The inactivity reminder: nudge the owner of a taken escalation whose customer has waited
on them longer than the configured quiet time, once per quiet period.

``awaiting_owner_since`` (indexed) is set when the escalation is taken and when the customer
writes, and cleared by the owner's reply. The nudge clears it too, by a conditional update
that only one sweeper can win: the next nudge needs a new quiet period.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from storage.database import Database
from storage.models import Escalation, Event, Status
from storage.outbox.rows import SlackEffect, slack_row

BATCH = 500


@dataclass(frozen=True)
class Nudge:
    escalation_id: str
    owner_id: str
    waiting_since: datetime


async def sweep(db: Database, quiet_for: timedelta, *, limit: int = BATCH) -> list[Nudge]:
    """Nudge every owner whose customer has waited ``quiet_for``; returns this sweeper's."""
    now = db.clock.now()
    due = (
        select(Escalation)
        .where(Escalation.awaiting_owner_since <= now - quiet_for)  # set only while taken
        .order_by(Escalation.awaiting_owner_since)
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
    async with db.write() as s:
        claimed = await s.execute(
            update(Escalation)
            .where(
                Escalation.id == esc.id,
                Escalation.status == Status.taken,
                Escalation.assignee_id == esc.assignee_id,
                Escalation.awaiting_owner_since == esc.awaiting_owner_since,
            )
            .values(awaiting_owner_since=None)
        )
        if claimed.rowcount != 1:
            return None  # another sweeper nudged, or the owner replied or changed
        waited = (now - esc.awaiting_owner_since).total_seconds()
        data = {
            "owner": {"id": esc.assignee_id, "name": esc.assignee_name},
            "waiting_since": esc.awaiting_owner_since.isoformat(),
            "waited_seconds": round(waited),
        }
        event = Event.of(esc.id, "owner_nudged", now, data)
        s.add(event)
        s.add(slack_row(esc, SlackEffect.OWNER_NUDGE, now, event_id=event.id))
    return Nudge(esc.id, esc.assignee_id, esc.awaiting_owner_since)
