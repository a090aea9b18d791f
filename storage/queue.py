"""The queue as one agent sees it: their own escalations, those waiting, their teammates'.

Every group is ordered oldest first (the customer who has waited longest leads), and the
same filters (priority, customer channel) apply to all three. The App Home pages through
the groups one after another; the slash command reads a group at a time.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, case, func, or_, select

from storage.database import Database
from storage.models import ACTIVE_STATUSES, Escalation, SlackThread, Status


class Group(StrEnum):
    mine = "mine"
    waiting = "waiting"
    teammates = "teammates"


GROUPS = (Group.mine, Group.waiting, Group.teammates)


@dataclass(frozen=True)
class QueueFilter:
    priority: str | None = None
    channel: str | None = None  # the customer's channel: whatsapp, widget…


@dataclass(frozen=True)
class Counts:
    mine: int = 0
    waiting: int = 0
    teammates: int = 0

    def of(self, group: Group) -> int:
        return int(getattr(self, group))

    @property
    def total(self) -> int:
        return self.mine + self.waiting + self.teammates


def _in_group(group: Group, user_id: str) -> ColumnElement[bool]:
    taken = Escalation.status == Status.taken
    if group == Group.mine:
        return and_(taken, Escalation.assignee_id == user_id)
    if group == Group.waiting:
        return Escalation.status == Status.queued
    return and_(taken, or_(Escalation.assignee_id.is_(None), Escalation.assignee_id != user_id))


def _filtered(f: QueueFilter) -> list[ColumnElement[bool]]:
    where = [Escalation.status.in_(ACTIVE_STATUSES)]
    if f.priority is not None:
        where.append(Escalation.priority == f.priority)
    if f.channel is not None:
        where.append(Escalation.channel == f.channel)
    return where


async def counts(db: Database, user_id: str, f: QueueFilter) -> Counts:
    group = case(
        (_in_group(Group.mine, user_id), Group.mine.value),
        (_in_group(Group.waiting, user_id), Group.waiting.value),
        else_=Group.teammates.value,
    ).label("grp")
    stmt = select(group, func.count()).where(*_filtered(f)).group_by(group)
    async with db.read() as s:
        found = {str(name): int(n) for name, n in (await s.execute(stmt)).all()}
    return Counts(**{g.value: found.get(g.value, 0) for g in GROUPS})


async def in_group(
    db: Database, user_id: str, group: Group, f: QueueFilter, *, offset: int = 0, limit: int
) -> list[Escalation]:
    stmt = (
        select(Escalation)
        .where(*_filtered(f), _in_group(group, user_id))
        .order_by(Escalation.created_at, Escalation.id)
        .offset(offset)
        .limit(limit)
    )
    async with db.read() as s:
        return list((await s.execute(stmt)).scalars())


async def page(
    db: Database, user_id: str, f: QueueFilter, totals: Counts, *, offset: int, limit: int
) -> list[tuple[Group, Escalation]]:
    """Entries ``offset`` to ``offset + limit`` of the three groups read one after another."""
    found: list[tuple[Group, Escalation]] = []
    start = 0
    for group in GROUPS:
        size = totals.of(group)
        lo, hi = max(offset, start), min(offset + limit, start + size)
        if lo < hi:
            rows = await in_group(db, user_id, group, f, offset=lo - start, limit=hi - lo)
            found += [(group, esc) for esc in rows]
        start += size
    return found


async def customer_channels(db: Database) -> list[str]:
    """The customer channels of active escalations, for the channel filter."""
    stmt = (
        select(Escalation.channel)
        .where(Escalation.status.in_(ACTIVE_STATUSES), Escalation.channel.is_not(None))
        .distinct()
        .order_by(Escalation.channel)
    )
    async with db.read() as s:
        return [str(c) for c in (await s.execute(stmt)).scalars()]


async def cards_of(db: Database, escalation_ids: Sequence[str]) -> dict[str, SlackThread]:
    """Where each escalation's card lives in Slack, for links to its thread."""
    if not escalation_ids:
        return {}
    stmt = select(SlackThread).where(SlackThread.escalation_id.in_(list(escalation_ids)))
    async with db.read() as s:
        return {t.escalation_id: t for t in (await s.execute(stmt)).scalars()}
