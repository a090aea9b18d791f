"""What ``/metrics`` shows as gauges, read at scrape time in one query: the open
escalations by status and priority, the oldest one waiting to be taken, and the pending
outbox rows by topic."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, literal, select, union_all
from sqlmodel import col

from storage.database import Database
from storage.models import ACTIVE_STATUSES, DeliveryState, Escalation, OutboxRow, Status


@dataclass(frozen=True)
class Gauges:
    open: dict[tuple[str, str], int] = field(default_factory=dict)  # (status, priority) → n
    oldest_waiting_since: datetime | None = None  # the oldest queued escalation's creation
    pending: dict[str, int] = field(default_factory=dict)  # topic → outbox rows pending


async def read_gauges(db: Database) -> Gauges:
    """Grouped counts over ``ix_escalations_status_created`` and the outbox's partial
    pending indexes: their cost follows the open escalations and the backlog, not history."""
    escalations: Any = (
        select(
            literal("escalations").label("what"),
            col(Escalation.status).label("a"),
            col(Escalation.priority).label("b"),
            func.count().label("n"),
            func.min(col(Escalation.created_at)).label("since"),
        )
        .where(col(Escalation.status).in_(ACTIVE_STATUSES))
        .group_by(col(Escalation.status), col(Escalation.priority))
    )
    outbox: Any = (  # (mypy cannot type a union of selects of enum columns)
        select(
            literal("outbox").label("what"),
            col(OutboxRow.topic).label("a"),
            literal("").label("b"),
            func.count().label("n"),
            func.min(col(OutboxRow.created_at)).label("since"),
        )
        .where(col(OutboxRow.state) == DeliveryState.pending)
        .group_by(col(OutboxRow.topic))
    )
    async with db.read() as s:
        rows = (await s.execute(union_all(escalations, outbox))).all()
    found: dict[tuple[str, str], int] = {}
    pending: dict[str, int] = {}
    oldest = None
    for what, a, b, n, since in rows:
        if what == "outbox":
            pending[str(a)] = int(n)
            continue
        found[(str(a), str(b))] = int(n)
        if a == Status.queued and since is not None:
            since = since if since.tzinfo else since.replace(tzinfo=UTC)
            oldest = since if oldest is None else min(oldest, since)
    return Gauges(found, oldest, pending)
