"""The SLA sweep: raise each at-risk and breach alert once, however many replicas sweep.

The sweep reads only escalations whose next alert is due (``sla_check_at``, indexed), so
its cost follows the alerts of the tick, not the size of the table. Each alert is claimed
by a conditional update of the escalation's alert levels: of two sweepers that saw the
same levels, one updates the row and writes the alert's outbox rows; the other updates
nothing and writes nothing.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import Database
from storage.models import Escalation, Event
from storage.outbox.rows import SlackEffect, slack_row
from storage.sla import BREACHED, SlaPolicy, Target

BATCH = 500


@dataclass(frozen=True)
class Alert:
    escalation_id: str
    target: Target
    level: int
    due_at: datetime

    @property
    def breached(self) -> bool:
        return self.level >= BREACHED


async def sweep(db: Database, policy: SlaPolicy, *, limit: int = BATCH) -> list[Alert]:
    """Raise every alert due now; returns the alerts this sweeper raised."""
    now = db.clock.now()
    # Only running clocks have a next check, so the index on it alone finds the work; a
    # status condition here would tempt SQLite's planner into the status index instead.
    due = (
        select(Escalation)
        .where(Escalation.sla_check_at <= now)
        .order_by(Escalation.sla_check_at)
        .limit(limit)
    )
    async with db.read() as s:
        candidates = list((await s.execute(due)).scalars())
    raised: list[Alert] = []
    for esc in candidates:
        raised.extend(await _advance(db, policy, esc, now))
    return raised


async def _advance(db: Database, policy: SlaPolicy, esc: Escalation, now: datetime) -> list[Alert]:
    priority, start = str(esc.priority), esc.created_at
    reached = esc.running_sla_levels()
    levels = {
        target: max(level, policy.level_at(priority, target, start, now))
        for target, level in reached.items()
    }
    alerts = []
    for target, level in levels.items():
        if level > reached[target]:
            due = policy.due(priority, target, start)
            assert due is not None, "a raised level has a target"
            alerts.append(Alert(esc.id, target, level, due))
    values: dict[str, Any] = {"sla_check_at": policy.next_check(priority, start, levels)}
    if Target.first_take in levels:
        values["first_take_sla_level"] = levels[Target.first_take]
    if Target.resolution in levels:
        values["resolution_sla_level"] = levels[Target.resolution]
    async with db.write() as s:
        claimed = await s.execute(
            update(Escalation)
            .where(
                Escalation.id == esc.id,
                Escalation.status == esc.status,
                Escalation.first_take_sla_level == esc.first_take_sla_level,
                Escalation.resolution_sla_level == esc.resolution_sla_level,
                Escalation.sla_check_at == esc.sla_check_at,
            )
            .values(**values)
        )
        if claimed.rowcount != 1:
            return []  # another sweeper, or a transition, got there first
        for alert in alerts:
            _record(s, esc, alert, now)
        if alerts:
            s.add(slack_row(esc, SlackEffect.CARD_UPDATE, now))
    return alerts


def _record(s: AsyncSession, esc: Escalation, alert: Alert, now: datetime) -> None:
    kind = "sla_breached" if alert.breached else "sla_at_risk"
    data = {"target": str(alert.target), "level": alert.level, "due_at": alert.due_at.isoformat()}
    event = Event.of(esc.id, kind, now, data)
    s.add(event)
    s.add(slack_row(esc, SlackEffect.SLA_ALERT, now, event_id=event.id))
    if alert.breached:
        s.add(slack_row(esc, SlackEffect.SLA_MANAGERS, now, event_id=event.id))
        if esc.assignee_id:
            s.add(slack_row(esc, SlackEffect.SLA_OWNER, now, event_id=event.id))
