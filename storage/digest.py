"""The managers' daily digest: one local day of escalations, aggregated in SQL.

Every figure is an aggregate over one day's rows, read through the indexes on the time
columns (``created_at``, ``first_taken_at``, ``ended_at``, and ``events(type,
created_at)``), so its cost follows the day's volume, not the size of the history.

What counts for a day (local midnight to midnight in the SLA timezone):
- created, taken (for the first time), returned and closed: by when each happened;
- wait to take: escalations first taken that day, from creation to that take;
- time to resolution: escalations closed that day, from creation to close;
- SLA compliance: the clocks that stopped that day (first take: taken or ended untaken;
  resolution: ended), met when they stopped by their due time;
- per agent: the escalations they took that day, and their first reply after each take;
- still waiting: queued now, oldest first;
- customer ratings: escalations whose latest rating came that day, and their average;
- escalation rate: that day's escalations of the platforms that reported how many
  conversations their bot had that day, over those conversations;
- bounce rate: of the escalations returned to the bot that day, those escalated again for
  the same conversation within 24 hours.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from storage.database import Database
from storage.models import (
    WAIT_BUCKETS,
    AgentDay,
    ChannelDay,
    Compliance,
    ConversationCount,
    Day,
    Digest,
    Escalation,
    Event,
    Message,
    Role,
    SlackThread,
    Status,
    Waiting,
)
from storage.types import UTCDateTime

TOP_REASONS = 5
BOUNCE_WITHIN = 24 * 3600  # seconds after a return in which a new escalation is a bounce
WAITING_SHOWN = 10


async def compute(db: Database, day: Day) -> Digest:
    """The digest of ``day``, with what is still waiting as of now."""
    figures = _Figures(db.dialect, day)
    async with db.read() as s:
        created, taken = await figures.count_created(s), await figures.count_taken(s)
        ended = await figures.count_ended(s)
        wait = await figures.wait_to_take(s)
        waiting, waiting_total = await figures.waiting(s)
        return Digest(
            day=day,
            created=created,
            taken=taken,
            returned=ended.get(Status.returned, 0),
            closed=ended.get(Status.closed, 0),
            wait_median=wait[0],
            wait_p90=wait[1],
            resolution_median=await figures.resolution_median(s),
            compliance=await figures.compliance(s),
            reasons=await figures.reasons(s),
            channels=await figures.channels(s),
            agents=await figures.agents(s),
            waiting=waiting,
            waiting_total=waiting_total,
            per_hour=await figures.per_hour(s),
            wait_buckets=await figures.wait_buckets(s),
            **await figures.ratings(s),
            **await figures.loop(s),
        )


class _Figures:
    def __init__(self, dialect: str, day: Day) -> None:
        self.dialect, self.day = dialect, day
        self.start = literal(day.start, UTCDateTime)
        self.end = literal(day.end, UTCDateTime)

    def during(self, column: Any) -> ColumnElement[bool]:
        return and_(column >= self.start, column < self.end)

    def seconds(self, later: Any, earlier: Any) -> ColumnElement[float]:
        if self.dialect == "postgresql":
            return cast(func.extract("epoch", later - earlier), Float)
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0

    async def count_created(self, s: AsyncSession) -> int:
        stmt = select(func.count()).where(self.during(Escalation.created_at))
        return int((await s.execute(stmt)).scalar_one())

    async def count_taken(self, s: AsyncSession) -> int:
        stmt = select(func.count()).where(self.during(Escalation.first_taken_at))
        return int((await s.execute(stmt)).scalar_one())

    async def count_ended(self, s: AsyncSession) -> dict[str, int]:
        stmt = (
            select(col(Escalation.status), func.count())
            .where(self.during(Escalation.ended_at))
            .group_by(Escalation.status)
        )
        return {str(status): int(n) for status, n in await s.execute(stmt)}

    def _wait(self) -> ColumnElement[float]:
        return self.seconds(Escalation.first_taken_at, Escalation.created_at)

    async def wait_to_take(self, s: AsyncSession) -> tuple[float | None, float | None]:
        values = select(self._wait().label("x")).where(self.during(Escalation.first_taken_at))
        found = await self._quantiles(s, values, (0.5, 0.9))
        return found.get((), (None, None))  # type: ignore[return-value]

    async def resolution_median(self, s: AsyncSession) -> float | None:
        values = select(self.seconds(Escalation.ended_at, Escalation.created_at).label("x")).where(
            self.during(Escalation.ended_at), col(Escalation.status) == Status.closed
        )
        return (await self._quantiles(s, values, (0.5,))).get((), (None,))[0]

    async def compliance(self, s: AsyncSession) -> list[Compliance]:
        due = col(Escalation.first_take_due_at)
        # The first-take clock stops at the first take, or at the end of an untaken one:
        # two index-friendly ranges rather than one coalesce the indexes cannot serve.
        taken = select(
            func.count(), func.count().filter(col(Escalation.first_taken_at) <= due)
        ).where(due.is_not(None), self.during(Escalation.first_taken_at))
        untaken = select(func.count(), func.count().filter(col(Escalation.ended_at) <= due)).where(
            due.is_not(None),
            col(Escalation.first_taken_at).is_(None),
            self.during(Escalation.ended_at),
        )
        rdue = col(Escalation.resolution_due_at)
        resolution = select(
            func.count(), func.count().filter(col(Escalation.ended_at) <= rdue)
        ).where(rdue.is_not(None), self.during(Escalation.ended_at))
        t1, m1 = (await s.execute(taken)).one()
        t2, m2 = (await s.execute(untaken)).one()
        t3, m3 = (await s.execute(resolution)).one()
        return [Compliance("first_take", m1 + m2, t1 + t2), Compliance("resolution", m3, t3)]

    async def reasons(self, s: AsyncSession) -> list[tuple[str, int]]:
        n = func.count().label("n")
        stmt = (
            select(col(Escalation.reason), n)
            .where(self.during(Escalation.created_at))
            .group_by(Escalation.reason)
            .order_by(n.desc(), Escalation.reason)
            .limit(TOP_REASONS)
        )
        return [(str(reason), int(count)) for reason, count in await s.execute(stmt)]

    async def channels(self, s: AsyncSession) -> list[ChannelDay]:
        channel = func.coalesce(Escalation.channel, "unknown").label("channel")
        n = func.count().label("n")
        stmt = (
            select(channel, n, func.count(col(Escalation.first_taken_at)))
            .where(self.during(Escalation.created_at))
            .group_by(channel)
            .order_by(n.desc(), channel)
        )
        rows = await s.execute(stmt)
        return [ChannelDay(str(c), int(made), int(taken)) for c, made, taken in rows]

    def _takes(self) -> Any:
        """Each (escalation, agent) taken that day, by a take or a reassignment to them."""
        return (
            select(
                col(Event.escalation_id),
                col(Event.actor_id).label("agent_id"),
                func.max(col(Event.actor_name)).label("name"),
                func.min(col(Event.created_at)).label("took_at"),
            )
            .where(
                col(Event.type).in_(("taken", "reassigned")),
                self.during(Event.created_at),
                col(Event.actor_id).is_not(None),
            )
            .group_by(col(Event.escalation_id), col(Event.actor_id))
            .subquery()
        )

    async def agents(self, s: AsyncSession) -> list[AgentDay]:
        takes = self._takes()
        handled = (
            select(takes.c.agent_id, func.max(takes.c.name), func.count())
            .group_by(takes.c.agent_id)
            .order_by(func.count().desc(), takes.c.agent_id)
        )
        first_reply = (
            select(func.min(Message.created_at))
            .where(
                col(Message.escalation_id) == takes.c.escalation_id,
                col(Message.author_id) == takes.c.agent_id,
                col(Message.role) == Role.agent,
                col(Message.created_at) >= takes.c.took_at,
            )
            .scalar_subquery()
        )
        replies = (
            select(takes.c.agent_id, self.seconds(first_reply, takes.c.took_at).label("x"))
            .select_from(takes)
            .subquery()
        )
        values = select(replies.c.agent_id, replies.c.x).where(replies.c.x.is_not(None))
        medians = await self._quantiles(s, values, (0.5,), keys=1)
        return [
            AgentDay(str(agent), str(name or agent), int(n), medians.get((agent,), (None,))[0])
            for agent, name, n in await s.execute(handled)
        ]

    async def waiting(self, s: AsyncSession) -> tuple[list[Waiting], int]:
        queued = col(Escalation.status) == Status.queued
        total = (await s.execute(select(func.count()).where(queued))).scalar_one()
        stmt = (
            select(Escalation, col(SlackThread.channel_id), col(SlackThread.thread_ts))
            .outerjoin(SlackThread, col(SlackThread.escalation_id) == Escalation.id)
            .where(queued)
            .order_by(col(Escalation.created_at), Escalation.id)
            .limit(WAITING_SHOWN)
        )
        shown = [
            Waiting(
                esc.id,
                esc.customer_name,
                str(esc.reason),
                str(esc.priority),
                esc.created_at,
                channel,
                ts,
            )
            for esc, channel, ts in await s.execute(stmt)
        ]
        return shown, int(total)

    async def per_hour(self, s: AsyncSession) -> list[int]:
        hour = cast(self.seconds(Escalation.created_at, self.start) / 3600, Integer)
        if self.dialect == "postgresql":  # a cast rounds there; floor truncates as SQLite's does
            hour = cast(func.floor(self.seconds(Escalation.created_at, self.start) / 3600), Integer)
        stmt = (
            select(hour.label("hour"), func.count())
            .where(self.during(Escalation.created_at))
            .group_by("hour")
        )
        counts = [0] * self.day.hours
        for index, n in await s.execute(stmt):
            counts[min(int(index), len(counts) - 1)] += int(n)
        return counts

    async def ratings(self, s: AsyncSession) -> dict[str, Any]:
        """How many escalations the customer rated that day (their latest rating), and the
        average score."""
        stmt = select(func.count(), func.avg(Escalation.rating_score)).where(
            self.during(Escalation.rated_at)
        )
        count, average = (await s.execute(stmt)).one()
        return {
            "ratings": int(count),
            "rating_average": None if average is None else float(average),
        }

    async def loop(self, s: AsyncSession) -> dict[str, Any]:
        """How the loop with the bot went: escalations as a share of the conversations the
        reporting platforms' bots had, and the escalations returned to the bot that came
        back for the same conversation within 24 hours."""
        reported = select(col(ConversationCount.platform_id)).where(
            col(ConversationCount.day) == self.day.day
        )
        conversations = (
            await s.execute(
                select(func.sum(ConversationCount.count)).where(
                    col(ConversationCount.day) == self.day.day
                )
            )
        ).scalar_one()
        escalated = select(func.count()).where(
            self.during(Escalation.created_at), col(Escalation.platform_id).in_(reported)
        )
        again = aliased(Escalation)
        came_back = (
            select(col(again.id))
            .where(
                col(again.platform_id) == col(Escalation.platform_id),
                col(again.conversation_id) == col(Escalation.conversation_id),
                col(again.created_at) > col(Escalation.ended_at),
                self.seconds(again.created_at, Escalation.ended_at) <= BOUNCE_WITHIN,
            )
            .exists()
        )
        returned = select(func.count(), func.count().filter(came_back)).where(
            self.during(Escalation.ended_at), col(Escalation.status) == Status.returned
        )
        returned_to_bot, bounced = (await s.execute(returned)).one()
        return {
            "conversations": None if conversations is None else int(conversations),
            "escalated": int((await s.execute(escalated)).scalar_one()),
            "returned_to_bot": int(returned_to_bot),
            "bounced": int(bounced),
        }

    async def wait_buckets(self, s: AsyncSession) -> list[int]:
        wait = self._wait()
        bucket = case(
            *((wait < bound, index) for index, bound in enumerate(WAIT_BUCKETS)),
            else_=len(WAIT_BUCKETS),
        ).label("bucket")
        stmt = (
            select(bucket, func.count())
            .where(self.during(Escalation.first_taken_at))
            .group_by("bucket")
        )
        counts = [0] * (len(WAIT_BUCKETS) + 1)
        for index, n in await s.execute(stmt):
            counts[int(index)] = int(n)
        return counts

    async def _quantiles(
        self, s: AsyncSession, values: Select[Any], qs: Sequence[float], *, keys: int = 0
    ) -> dict[tuple[Any, ...], tuple[float | None, ...]]:
        """Continuous quantiles (interpolated, as ``percentile_cont``) of the column ``x``
        of ``values``, per group of its first ``keys`` columns."""
        rows = await s.execute(_quantile_query(self.dialect, values.subquery(), qs, keys))
        return {
            tuple(row[:keys]): tuple(None if v is None else float(v) for v in row[keys:])
            for row in rows
        }


def _quantile_query(dialect: str, values: Any, qs: Sequence[float], keys: int) -> Select[Any]:
    group = list(values.c)[:keys]
    x = values.c.x
    if dialect == "postgresql":
        return select(*group, *(func.percentile_cont(q).within_group(x) for q in qs)).group_by(
            *group
        )
    # SQLite has no percentile_cont: rank the values, then interpolate between neighbours.
    ranked = select(
        *group,
        x,
        (func.row_number().over(partition_by=group or None, order_by=x) - 1).label("i"),
        func.count().over(partition_by=group or None).label("n"),
    ).subquery()
    rg = list(ranked.c)[:keys]
    columns = []
    for q in qs:
        position = q * (ranked.c.n - 1)
        below = cast(position, Integer)  # positions are never negative: this is floor
        low = func.max(case((ranked.c.i == below, ranked.c.x)))
        high = func.coalesce(func.max(case((ranked.c.i == below + 1, ranked.c.x))), low)
        columns.append(low + func.max(position - below) * (high - low))
    return select(*rg, *columns).group_by(*rg)
