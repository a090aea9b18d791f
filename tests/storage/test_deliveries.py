"""Claiming outbox rows: which rows a worker gets, in what order, and what it costs.

Rows are written straight into the outbox, so each test sets exactly the queue it needs:
several rows per escalation, rows not due yet, rows another worker holds.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert

from storage.clock import ManualClock
from storage.database import Database
from storage.migrate import upgrade
from storage.models import Escalation, OutboxRow, Topic
from storage.outbox import deliveries
from storage.outbox.deliveries import Claimed
from storage.platforms import add_platform
from storage.sealing import SecretBox, new_secret_key
from tests.conftest import fresh_pg_database

BOX = SecretBox(new_secret_key())


class Queue:
    """A database and a platform to write outbox rows for."""

    def __init__(self, db: Database, clock: ManualClock, platform_id: str) -> None:
        self.db = db
        self.clock = clock
        self.platform_id = platform_id
        self._escalations = 0

    async def escalation(self, platform_id: str | None = None) -> str:
        self._escalations += 1
        esc_id = f"esc_{self._escalations}"
        async with self.db.write() as s:
            values = _escalation(esc_id, platform_id or self.platform_id, self.clock.now())
            await s.execute(insert(Escalation), [values])
        return esc_id

    async def row(
        self,
        esc_id: str,
        topic: Topic = Topic.platform,
        *,
        due_in: timedelta = timedelta(0),
        platform_id: str | None = None,
    ) -> int:
        now = self.clock.now()
        row = OutboxRow(
            topic=topic,
            kind="escalation.message",
            escalation_id=esc_id,
            platform_id=platform_id or self.platform_id,
            payload={},
            next_attempt_at=now + due_in,
            created_at=now,
            give_up_at=now + timedelta(hours=24),
        )
        async with self.db.write() as s:
            s.add(row)
            await s.flush()
            assert row.id is not None
            return row.id

    async def claim(self, worker: str = "w1", limit: int = 16, **kw: Any) -> list[Claimed]:
        return await deliveries.claim_due(self.db, Topic.platform, worker, limit, **kw)


def _escalation(esc_id: str, platform_id: str, now: datetime) -> dict[str, Any]:
    return {
        "id": esc_id,
        "platform_id": platform_id,
        "conversation_id": esc_id,
        "status": "taken",
        "priority": "high",
        "reason": "customer_request",
        "customer": {"id": "c", "name": "Customer"},
        "context": {},
        "created_at": now,
        "updated_at": now,
    }


async def _queue(url: str) -> AsyncIterator[Queue]:
    clock = ManualClock()
    db = Database(url, clock=clock)
    try:
        created = await add_platform(db, BOX, "acme", "https://203.0.113.9/hook")
        yield Queue(db, clock, created.platform.id)
    finally:
        await db.dispose()


@pytest.fixture
async def queue(database_url: str) -> AsyncIterator[Queue]:
    async for q in _queue(database_url):
        yield q


def ids(claimed: list[Claimed]) -> list[int]:
    return [c.id for c in claimed]


async def test_one_row_per_escalation_the_oldest_first_up_to_the_limit(queue: Queue) -> None:
    a, b, c = [await queue.escalation() for _ in range(3)]
    a1 = await queue.row(a)
    b1 = await queue.row(b)
    a2 = await queue.row(a)
    c1 = await queue.row(c)

    first = await queue.claim(limit=2)
    assert ids(first) == [a1, b1]
    # a2 waits while a1 is out for delivery.
    assert ids(await queue.claim(limit=10)) == [c1]
    assert await deliveries.mark_done(queue.db, first[0], "w1")
    assert ids(await queue.claim(limit=10)) == [a2]


async def test_a_later_row_waits_while_the_earlier_is_not_due_or_held(queue: Queue) -> None:
    retrying, held = await queue.escalation(), await queue.escalation()
    r1 = await queue.row(retrying, due_in=timedelta(minutes=5))
    await queue.row(retrying)
    h1 = await queue.row(held)
    h2 = await queue.row(held)
    (taken,) = await queue.claim(worker="other", limit=1)
    assert taken.id == h1

    assert await queue.claim() == []

    queue.clock.advance(deliveries.LEASE + timedelta(seconds=1))  # the other worker died
    (again,) = await queue.claim()
    assert (again.id, again.reclaimed) == (h1, True)
    assert await deliveries.mark_done(queue.db, again, "w1")
    (second,) = await queue.claim()  # r1 is still not due
    assert second.id == h2
    assert await deliveries.mark_done(queue.db, second, "w1")

    queue.clock.advance(timedelta(minutes=5))
    assert ids(await queue.claim()) == [r1]


async def test_a_parked_row_no_longer_holds_up_the_next(queue: Queue) -> None:
    esc = await queue.escalation()
    await queue.row(esc)
    second = await queue.row(esc)
    (first,) = await queue.claim()
    assert await deliveries.mark_failed(queue.db, first, "w1", "410 Gone")
    assert ids(await queue.claim()) == [second]


async def test_each_topic_keeps_its_own_order(queue: Queue) -> None:
    esc = await queue.escalation()
    await queue.row(esc, Topic.slack)  # older, and never delivered here
    platform_row = await queue.row(esc, Topic.platform)
    assert ids(await queue.claim()) == [platform_row]


async def test_excluded_platforms_wait_and_the_rest_go(queue: Queue) -> None:
    other = await add_platform(queue.db, BOX, "globex", "https://203.0.113.10/hook")
    paused = other.platform.id
    theirs = await queue.row(await queue.escalation(paused), platform_id=paused)
    ours = await queue.row(await queue.escalation())

    assert ids(await queue.claim(exclude_platforms=[paused])) == [ours]
    assert ids(await queue.claim()) == [theirs]


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_replicas_claiming_at_once_share_no_row_and_keep_each_order(
    database_url: str,
) -> None:
    """Four replicas drain one outbox: every row is delivered once, and an escalation's
    rows one after another, never two out at the same time."""
    async for q in _queue(database_url):
        expected: dict[str, list[int]] = {}
        for _ in range(40):
            esc = await q.escalation()
            expected[esc] = [await q.row(esc) for _ in range(3)]
        replicas = [Database(database_url, clock=q.clock) for _ in range(4)]
        delivered: dict[str, list[int]] = {esc: [] for esc in expected}
        try:
            for _ in range(20):
                rounds = await asyncio.gather(
                    *(
                        deliveries.claim_due(db, Topic.platform, f"r{n}", 8)
                        for n, db in enumerate(replicas)
                    )
                )
                claimed = [row for batch in rounds for row in batch]
                if not claimed:
                    break
                escalations = [row.escalation_id for row in claimed]
                assert len(set(escalations)) == len(escalations)  # one out per escalation
                for n, batch in enumerate(rounds):
                    for row in batch:
                        delivered[row.escalation_id].append(row.id)
                        assert await deliveries.mark_done(replicas[n], row, f"r{n}")
        finally:
            for db in replicas:
                await db.dispose()
        assert delivered == expected


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value  # asyncpg decodes it


def _buffers(plan: dict[str, Any]) -> int:
    return sum(plan.get(k, 0) for k in ("Shared Hit Blocks", "Shared Read Blocks"))


@pytest.mark.postgres
async def test_a_claim_from_a_large_unanalyzed_backlog_reads_little_of_it() -> None:
    """No statistics (a fresh table that autovacuum has not visited): the claim must still
    find its rows through the indexes. At the front of the queue, 1,000 rows of a platform
    that was down wait for their retry; behind them 1,000 escalations have two rows each.
    Buffers read, not time, is what is asserted. Measured here: 256 for this query; the
    NOT EXISTS it replaced read 37,738, the same query sorting every due row 6,486, and
    probing each escalation through the topic's index (walking past the waiting rows again
    for every row) 2,830."""
    with fresh_pg_database("baton_claim") as url:
        db = Database(url, clock=ManualClock())
        try:
            await upgrade(db)
            created = await add_platform(db, BOX, "acme", "https://203.0.113.9/hook")
            await _backlog(db, created.platform.id, "retrying", 1000, 1, timedelta(minutes=10))
            await _backlog(db, created.platform.id, "fresh", 1000, 2, timedelta(0))
            statements: list[tuple[str, Any]] = []

            def seen(_c: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
                if "SKIP LOCKED" in statement:
                    statements.append((statement, params))

            event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
            claimed = await deliveries.claim_due(db, Topic.platform, "w1", 16)
            event.remove(db.engine.sync_engine, "before_cursor_execute", seen)
            assert [c.escalation_id for c in claimed] == [f"fresh_{n}" for n in range(16)]
            ((statement, params),) = statements
            async with db.engine.connect() as conn:
                result = await conn.exec_driver_sql(
                    "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, params
                )
                (plan,) = _json(result.scalar_one())
                await conn.rollback()
        finally:
            await db.dispose()
    assert plan["Plan"]["Actual Rows"] == 16  # the next 16 heads
    assert _buffers(plan["Plan"]) < 1000, json.dumps(plan, indent=1)


async def _backlog(
    db: Database, platform_id: str, prefix: str, escalations: int, rows_each: int, due_in: timedelta
) -> None:
    """Rows for ``escalations`` new escalations, in both topics: every escalation's first
    row, then every second row, and so on."""
    now = db.clock.now()
    esc_ids = [f"{prefix}_{n}" for n in range(escalations)]
    rows = [
        {
            "topic": topic,
            "kind": "escalation.message",
            "escalation_id": esc_id,
            "platform_id": platform_id,
            "payload": {"data": {"message": {"content": "Thanks for waiting. " * 20}}},
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": now + due_in,
            "created_at": now,
        }
        for _ in range(rows_each)
        for esc_id in esc_ids
        for topic in (Topic.platform, Topic.slack)
    ]
    async with db.write() as s:
        await s.execute(insert(Escalation), [_escalation(e, platform_id, now) for e in esc_ids])
        await s.execute(insert(OutboxRow), rows)
