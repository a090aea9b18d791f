"""Draining the outbox: claim what is due, then record how each attempt went.

Order per escalation: only the oldest pending row of an escalation (per topic and lane) can
be claimed, so event N+1 waits until N is delivered or parked. Claims are leases: a worker
that dies mid-delivery loses its rows to another worker when the lease runs out. On
PostgreSQL, claiming uses ``FOR UPDATE SKIP LOCKED`` so replicas never claim the same row;
SQLite has one writer at a time anyway.
"""

import asyncio
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    CursorResult,
    Delete,
    Update,
    and_,
    delete,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from storage.database import Database, unavailable
from storage.models import DeliveryState, OutboxRow, Topic
from storage.outbox.rows import RETRY_FOR, PlatformEvent, slack_reply_status

# Longer than any one attempt may take (the relay's timeouts), so a live worker keeps its
# rows; short enough that rows of a worker that died are picked up again soon.
LEASE = timedelta(seconds=30)
# How long a worker keeps trying to record an outcome while the database is unreachable (a
# restart, a failover), well within the lease: after that the row waits out its lease.
RECORD_PATIENCE = LEASE / 2
RECORD_RETRY_EVERY = 0.5


@dataclass(frozen=True)
class Claimed:
    """A row claimed for delivery, detached from any session."""

    id: int
    topic: Topic
    kind: str
    escalation_id: str
    platform_id: str | None
    event_id: str | None
    payload: dict[str, Any]
    attempts: int
    give_up_at: datetime | None
    reclaimed: bool = False  # an earlier claim ended without a recorded outcome (a crash)
    lane: str = ""
    created_at: datetime | None = None

    @property
    def uncertain(self) -> bool:
        """An earlier attempt may have taken effect: look before doing it again."""
        return self.attempts > 0 or self.reclaimed


def _claimed(row: OutboxRow) -> Claimed:
    assert row.id is not None
    return Claimed(
        row.id,
        Topic(row.topic),
        row.kind,
        row.escalation_id,
        row.platform_id,
        row.event_id,
        row.payload,
        row.attempts,
        row.give_up_at,
        reclaimed=row.claimed_by is not None,
        lane=row.lane,
        created_at=row.created_at,
    )


async def claim_due(
    db: Database,
    topic: Topic,
    worker: str,
    limit: int,
    *,
    exclude_platforms: Collection[str] = (),
    lease: timedelta = LEASE,
) -> list[Claimed]:
    """Claim up to ``limit`` due rows, at most one per escalation and lane, oldest first."""
    if limit <= 0:
        return []
    now = db.clock.now()
    due = (
        select(OutboxRow)
        .where(
            col(OutboxRow.topic) == _inline(topic),
            col(OutboxRow.state) == _inline(DeliveryState.pending),
            col(OutboxRow.next_attempt_at) <= now,
            or_(col(OutboxRow.claimed_until).is_(None), col(OutboxRow.claimed_until) < now),
            # `<=` selects the same rows as `=` (a pending row is never below its own
            # escalation's oldest), but PostgreSQL estimates that it keeps a third of them, not
            # 0.5 %. With statistics, the LIMIT then discounts walking the topic in id order by
            # far more than sorting every due row (estimated 84 against 10,935 with 100,000
            # delivered rows and 4,000 pending; 5,464 with `=`).
            col(OutboxRow.id) <= _oldest_pending_of_its_escalation(),
        )
        .order_by(col(OutboxRow.id))
        .limit(limit)
        .with_for_update(skip_locked=True, of=OutboxRow)
    )
    if exclude_platforms:
        due = due.where(col(OutboxRow.platform_id).not_in(list(exclude_platforms)))
    async with db.write(notify=False) as s:
        rows = list((await s.execute(due)).scalars())
        if rows:
            await s.execute(
                update(OutboxRow)
                .where(col(OutboxRow.id).in_([r.id for r in rows]))
                .values(claimed_by=worker, claimed_until=now + lease)
                .execution_options(synchronize_session=False)
            )
        return [_claimed(r) for r in rows]


def _inline(value: str) -> Any:
    """A value written into the statement rather than bound: the planner can then match it
    with a partial index's condition (a bound value proves nothing, e.g. in PostgreSQL's
    generic plan for a prepared statement)."""
    return literal(str(value), literal_execute=True)


def _oldest_pending_of_its_escalation() -> Any:
    """The id of the oldest pending row of the outer row's escalation, topic and lane: a lookup
    in ``ix_outbox_pending_escalation`` per row the claim considers.

    Written as a correlated ``min`` rather than ``NOT EXISTS (an earlier pending row)``:
    without statistics PostgreSQL estimates every step at one row, and it planned that
    anti-join as a nested loop rescanning all of the topic's pending rows for each row,
    quadratic in the backlog. A correlated scalar subquery stays a probe per row, and only
    an index ordered by id after (topic, escalation, lane) serves its ``min`` cheaply. The topic
    is the outer row's, not the literal: with the literal, ``ix_outbox_pending_<topic>``
    qualifies too, and without statistics the planner took it (walking the topic's pending
    rows from the start for every probe)."""
    earlier = aliased(OutboxRow)
    return (
        select(func.min(col(earlier.id)))
        .where(
            col(earlier.topic) == col(OutboxRow.topic),
            col(earlier.escalation_id) == col(OutboxRow.escalation_id),
            col(earlier.lane) == col(OutboxRow.lane),
            col(earlier.state) == _inline(DeliveryState.pending),
        )
        .correlate(OutboxRow)
        .scalar_subquery()
    )


def _held_by(row_id: int, worker: str) -> Any:
    return and_(
        col(OutboxRow.id) == row_id,
        col(OutboxRow.claimed_by) == worker,
        col(OutboxRow.state) == DeliveryState.pending,
    )


async def _changed(s: AsyncSession, statement: Update | Delete) -> int:
    """How many rows an UPDATE or DELETE changed. The session types every result as a
    plain ``Result``; a DML statement's is a ``CursorResult``, which counts them."""
    result = cast(CursorResult[Any], await s.execute(statement))
    return result.rowcount or 0


async def _settle(
    db: Database,
    row: Claimed,
    worker: str,
    values: dict[str, Any],
    status: str | None,
    error: str | None,
) -> bool:
    """Record an attempt's outcome, if this worker still holds the row. The outcome is
    known only now: while the database is briefly unreachable, keep trying rather than
    leave the row to wait out its lease and be attempted (or looked up) again. A retry
    after a commit whose answer was lost finds the row no longer held, and changes nothing."""
    deadline = time.monotonic() + RECORD_PATIENCE.total_seconds()
    while True:
        now = db.clock.now()
        try:
            async with db.write() as s:
                held = await _changed(
                    s,
                    update(OutboxRow)
                    .where(_held_by(row.id, worker))
                    .values(
                        **values,
                        attempts=col(OutboxRow.attempts) + 1,
                        claimed_by=None,
                        claimed_until=None,
                        last_error=None if error is None else error[:1000],
                    ),
                )
                if held == 0:
                    return False
                if status is not None:
                    _note_reply_status(s, row, status, error, now)
                return True
        except DBAPIError as exc:
            if not unavailable(exc) or time.monotonic() >= deadline:
                raise
        await asyncio.sleep(RECORD_RETRY_EVERY)


async def mark_done(db: Database, row: Claimed, worker: str) -> bool:
    """Record a delivery. False if the claim was lost (another worker has the row)."""
    values = {"state": DeliveryState.done, "done_at": db.clock.now()}
    return await _settle(db, row, worker, values, "delivered", None)


async def mark_retry(
    db: Database, row: Claimed, worker: str, error: str, next_attempt_at: datetime
) -> bool:
    """Record a failed attempt; it is tried again at ``next_attempt_at``."""
    # Only the first failure changes what the agent sees ("still retrying").
    status = "retrying" if row.attempts == 0 else None
    return await _settle(db, row, worker, {"next_attempt_at": next_attempt_at}, status, error)


async def mark_failed(db: Database, row: Claimed, worker: str, error: str) -> bool:
    """Park the row: no more attempts until someone replays it."""
    values = {"state": DeliveryState.failed, "done_at": db.clock.now()}
    return await _settle(db, row, worker, values, "failed", error)


def _note_reply_status(
    s: AsyncSession, row: Claimed, state: str, error: str | None, now: datetime
) -> None:
    """An agent's reply changed delivery state: the Slack side shows it on their message."""
    if row.topic != Topic.platform or row.kind != PlatformEvent.MESSAGE:
        return
    message_id = row.payload.get("data", {}).get("message", {}).get("id")
    if message_id:
        s.add(slack_reply_status(row.escalation_id, row.platform_id, message_id, state, error, now))


async def defer(db: Database, row: Claimed, worker: str, until: datetime) -> bool:
    """Give the row back untried, to be claimed again at ``until`` (e.g. Slack asked to wait).
    Not counted as an attempt."""
    async with db.write(notify=False) as s:
        changed = await _changed(
            s,
            update(OutboxRow)
            .where(_held_by(row.id, worker))
            .values(claimed_by=None, claimed_until=None, next_attempt_at=until),
        )
        return changed > 0


async def renew(db: Database, row: Claimed, worker: str, until: datetime) -> bool:
    """Keep holding a row whose delivery takes longer than a lease (pacing)."""
    async with db.write(notify=False) as s:
        changed = await _changed(
            s, update(OutboxRow).where(_held_by(row.id, worker)).values(claimed_until=until)
        )
        return changed > 0


async def pending_ids(db: Database, topic: Topic, escalation_id: str, kind: str) -> list[int]:
    stmt = select(col(OutboxRow.id)).where(
        col(OutboxRow.topic) == topic,
        col(OutboxRow.escalation_id) == escalation_id,
        col(OutboxRow.kind) == kind,
        col(OutboxRow.state) == DeliveryState.pending,
    )
    async with db.read() as s:
        return [i for i in (await s.execute(stmt)).scalars() if i is not None]


async def supersede(db: Database, ids: Collection[int]) -> int:
    """Mark pending rows done without an attempt: a later effect already covered them (one
    card update shows every change before it). Rows another worker holds are left alone."""
    if not ids:
        return 0
    now = db.clock.now()
    async with db.write(notify=False) as s:
        return await _changed(
            s,
            update(OutboxRow)
            .where(
                col(OutboxRow.id).in_(list(ids)),
                col(OutboxRow.state) == DeliveryState.pending,
                or_(col(OutboxRow.claimed_until).is_(None), col(OutboxRow.claimed_until) < now),
            )
            .values(state=DeliveryState.done, done_at=now, claimed_by=None, claimed_until=None),
        )


async def release_claims(db: Database, topic: Topic) -> int:
    """End every claim on ``topic``: for a single-process database at start-up, where any
    claim left over belongs to a process that is gone. The row keeps ``claimed_by``, so
    the next claim knows the earlier attempt's outcome is unknown."""
    async with db.write() as s:
        return await _changed(
            s,
            update(OutboxRow)
            .where(
                col(OutboxRow.topic) == topic,
                col(OutboxRow.claimed_until).is_not(None),
                col(OutboxRow.state) == DeliveryState.pending,
            )
            .values(claimed_until=None),
        )


async def release_own(db: Database, topic: Topic, worker: str, keep: Collection[int]) -> int:
    """End ``worker``'s claims on rows it is not working on (all but ``keep``): a claim
    whose commit went through while its answer was lost (the database went away just
    then) would otherwise hold its rows until the lease runs out. As with
    ``release_claims``, the row keeps ``claimed_by``, so its next attempt looks first."""
    stmt = update(OutboxRow).where(
        col(OutboxRow.topic) == topic,
        col(OutboxRow.claimed_by) == worker,
        col(OutboxRow.claimed_until).is_not(None),
        col(OutboxRow.state) == DeliveryState.pending,
    )
    if keep:
        stmt = stmt.where(col(OutboxRow.id).not_in(list(keep)))
    async with db.write(notify=False) as s:
        return await _changed(s, stmt.values(claimed_until=None))


async def list_deliveries(
    db: Database,
    *,
    topics: Collection[Topic] = (Topic.platform,),
    failed_only: bool = False,
    limit: int = 100,
) -> list[OutboxRow]:
    stmt = select(OutboxRow).where(col(OutboxRow.topic).in_(list(topics)))
    if failed_only:
        stmt = stmt.where(col(OutboxRow.state) == DeliveryState.failed)
    stmt = stmt.order_by(col(OutboxRow.id).desc()).limit(limit)
    async with db.read() as s:
        return list((await s.execute(stmt)).scalars())


async def replay(db: Database, ids: Collection[int] | None = None) -> int:
    """Send parked deliveries again, to platforms and to Slack (the given ids, or every
    parked one); returns how many."""
    now = db.clock.now()
    stmt = update(OutboxRow).where(col(OutboxRow.state) == DeliveryState.failed)
    if ids is not None:
        stmt = stmt.where(col(OutboxRow.id).in_(list(ids)))
    async with db.write() as s:
        return await _changed(
            s,
            stmt.values(
                state=DeliveryState.pending,
                next_attempt_at=now,
                give_up_at=now + RETRY_FOR,
                done_at=None,
                claimed_by=None,
                claimed_until=None,
            ),
        )


@dataclass(frozen=True)
class Backlog:
    """Rows due for a while that no worker has claimed: a sign nobody drains the topic."""

    topic: Topic
    rows: int
    oldest_due: datetime | None


async def overdue(db: Database, topic: Topic, by: timedelta) -> Backlog:
    now = db.clock.now()
    stmt = select(func.count(), func.min(col(OutboxRow.next_attempt_at))).where(
        col(OutboxRow.topic) == topic,
        col(OutboxRow.state) == DeliveryState.pending,
        col(OutboxRow.next_attempt_at) < now - by,
        or_(col(OutboxRow.claimed_until).is_(None), col(OutboxRow.claimed_until) < now),
    )
    async with db.read() as s:
        rows, oldest = (await s.execute(stmt)).one()
    return Backlog(topic, int(rows), oldest)


async def purge_delivered(db: Database, older_than: timedelta, *, limit: int = 5000) -> int:
    """Forget delivered rows after ``older_than`` (the events table keeps the history);
    parked rows stay until someone replays them. At most ``limit`` per call, so one
    sweep never holds a long transaction."""
    cutoff = db.clock.now() - older_than
    oldest = (
        select(col(OutboxRow.id))
        .where(col(OutboxRow.state) == DeliveryState.done, col(OutboxRow.done_at) < cutoff)
        .limit(limit)
    )
    async with db.write() as s:
        return await _changed(s, delete(OutboxRow).where(col(OutboxRow.id).in_(oldest)))
