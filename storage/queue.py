"""The queue as one agent sees it: their own escalations, those waiting, their teammates'.

Every group is ordered oldest first (the customer who has waited longest leads), and the
same filters (priority, customer channel) apply to all three. The App Home pages through
the groups one after another; the slash command reads a group at a time.
"""

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlmodel import col

from storage.database import Database
from storage.models import ACTIVE_STATUSES, Escalation, Status


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
    taken = col(Escalation.status) == Status.taken
    if group == Group.mine:
        return and_(taken, col(Escalation.assignee_id) == user_id)
    if group == Group.waiting:
        return col(Escalation.status) == Status.queued
    return and_(
        taken, or_(col(Escalation.assignee_id).is_(None), col(Escalation.assignee_id) != user_id)
    )


def _filtered(f: QueueFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [col(Escalation.status).in_(ACTIVE_STATUSES)]
    if f.priority is not None:
        where.append(col(Escalation.priority) == f.priority)
    if f.channel is not None:
        where.append(col(Escalation.channel) == f.channel)
    return where


def _group_rank(user_id: str) -> ColumnElement[int]:
    """Each active escalation's group, as its index in ``GROUPS`` (the order they are read in)."""
    return case(
        (_in_group(Group.mine, user_id), GROUPS.index(Group.mine)),
        (_in_group(Group.waiting, user_id), GROUPS.index(Group.waiting)),
        else_=GROUPS.index(Group.teammates),
    )


async def counts(db: Database, user_id: str, f: QueueFilter) -> Counts:
    group = _group_rank(user_id).label("grp")
    stmt = select(group, func.count()).where(*_filtered(f)).group_by(group)
    async with db.read() as s:
        found = {GROUPS[int(rank)]: int(n) for rank, n in (await s.execute(stmt)).all()}
    return Counts(**{g.value: found.get(g, 0) for g in GROUPS})


async def in_group(
    db: Database, user_id: str, group: Group, f: QueueFilter, *, offset: int = 0, limit: int
) -> list[Escalation]:
    stmt = (
        select(Escalation)
        .where(*_filtered(f), _in_group(group, user_id))
        .order_by(col(Escalation.created_at), Escalation.id)
        .offset(offset)
        .limit(limit)
    )
    async with db.read() as s:
        return list((await s.execute(stmt)).scalars())


async def page(
    db: Database, user_id: str, f: QueueFilter, *, offset: int, limit: int
) -> list[tuple[Group, Escalation]]:
    """Entries ``offset`` to ``offset + limit`` of the three groups read one after another."""
    rank = _group_rank(user_id).label("grp")
    stmt = (
        select(rank, Escalation)
        .where(*_filtered(f))
        .order_by(rank, col(Escalation.created_at), Escalation.id)
        .offset(offset)
        .limit(limit)
    )
    async with db.read() as s:
        return [(GROUPS[int(r)], esc) for r, esc in (await s.execute(stmt)).all()]


async def customer_channels(db: Database) -> list[str]:
    """The customer channels of active escalations, for the channel filter."""
    stmt = (
        select(col(Escalation.channel))
        .where(col(Escalation.status).in_(ACTIVE_STATUSES), col(Escalation.channel).is_not(None))
        .distinct()
        .order_by(Escalation.channel)
    )
    async with db.read() as s:
        return [str(c) for c in (await s.execute(stmt)).scalars()]
