"""The SLA sweep: raise each at-risk and breach alert once, however many replicas sweep.

The sweep reads only escalations whose next alert is due (``sla_check_at``, indexed), so
its cost follows the alerts of the tick, not the size of the table. Each alert is claimed
by a conditional update of the escalation's alert levels: of two sweepers that saw the
same levels, one updates the row and writes the alert's outbox rows; the other updates
nothing and writes nothing.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from storage.database import Database
from storage.models import Escalation
from storage.notifications import Notices, Subscription
from storage.outbox.rows import SlackEffect, slack_row
from storage.sla import BREACHED, SlaPolicy, Target
from storage.transitions import (
    SLA_AT_RISK,
    SLA_BREACHED,
    Claim,
    Effects,
    Transition,
    claim,
    record,
)

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


async def sweep(
    db: Database, policy: SlaPolicy, notices: Notices | None = None, *, limit: int = BATCH
) -> list[Alert]:
    """Raise every alert due now, telling the ``notices`` subscribers that want to hear;
    returns the alerts this sweeper raised."""
    notices = notices if notices is not None else Notices(db)
    now = db.clock.now()
    # Only running clocks have a next check, so the index on it alone finds the work; a
    # status condition here would tempt SQLite's planner into the status index instead.
    check_at = col(Escalation.sla_check_at)
    due = select(Escalation).where(check_at <= now).order_by(check_at).limit(limit)
    async with db.read() as s:
        candidates = list((await s.execute(due)).scalars())
    raised: list[Alert] = []
    for esc in candidates:
        raised.extend(await _advance(db, policy, notices, esc, now))
    return raised


async def _advance(
    db: Database, policy: SlaPolicy, notices: Notices, esc: Escalation, now: datetime
) -> list[Alert]:
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
    # Claimed only as this sweeper saw it: no transition and no other sweeper since.
    as_seen = (
        col(Escalation.status) == esc.status,
        col(Escalation.first_take_sla_level) == esc.first_take_sla_level,
        col(Escalation.resolution_sla_level) == esc.resolution_sla_level,
        col(Escalation.sla_check_at) == esc.sla_check_at,
    )
    told = {alert: await notices.matching(esc, _move(alert).notify) for alert in alerts}
    async with db.write() as s:
        if await claim(s, Claim(esc.id, values, as_seen)) is None:
            return []  # another sweeper, or a transition, got there first
        for alert in alerts:
            record(s, esc, now, _effects(esc, alert, told[alert]))
        if alerts:
            s.add(slack_row(esc, SlackEffect.CARD_UPDATE, now))
    return alerts


def _move(alert: Alert) -> Transition:
    return SLA_BREACHED if alert.breached else SLA_AT_RISK


def _effects(esc: Escalation, alert: Alert, subscribers: Sequence[Subscription]) -> Effects:
    data = {"target": str(alert.target), "level": alert.level, "due_at": alert.due_at.isoformat()}
    # A breach goes to the managers, and to the owner if there is one.
    without = () if not alert.breached or esc.assignee_id else (SlackEffect.SLA_OWNER,)
    return _move(alert).effects(data, without=without, subscribers=subscribers)
