"""Claiming outbox rows against the backlog, with and without planner statistics.

    python benchmarks/claim.py [--databases sqlite postgres] [--pending 100 4000]
                               [--limits 16 128] [--stats none analyzed] [--explain]

A fresh database with the migrations applied gets N pending platform rows (and as many
Slack rows beside them) over many escalations: most have one row, some several, which wait
behind their first. A few escalations' first row is not due yet or is leased by another
worker, so everything behind it must wait. Then ``claim_due`` runs with the given limit
again and again, each claimed batch recorded as delivered in one statement between claims
(not timed), until a claim comes back empty. "none" never analyzes the tables (as on a
server with autovacuum off, or before autovacuum's first visit); "analyzed" runs
``ANALYZE`` after loading. ``--explain`` prints the plan of the first claim of each run.
"""

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import event, insert, text, update

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.databases import PG_ADMIN, database, drop  # noqa: E402
from storage.database import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import DeliveryState, Escalation, OutboxRow, Topic  # noqa: E402
from storage.outbox import deliveries  # noqa: E402
from storage.platforms import add_platform  # noqa: E402
from storage.sealing import SecretBox, new_secret_key  # noqa: E402

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
BATCH = 2000
# Rows per escalation: mostly one, some a short conversation's worth.
ROWS_PER_ESCALATION = (1, 1, 1, 1, 1, 1, 2, 2, 3, 5, 8)
NOT_DUE = 0.03  # share of escalations whose first row waits for a retry later
LEASED = 0.02  # share whose first row another worker holds
BUDGET_S = 300.0  # a run stops after this much claiming, drained or not


class FixedClock:
    def now(self) -> datetime:
        return NOW


def _payload(escalation_id: str, n: int) -> dict[str, Any]:
    """About the size of a platform event's body."""
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": "escalation.message",
        "timestamp": NOW.isoformat(),
        "data": {
            "escalation": {"id": escalation_id, "status": "taken", "priority": "high"},
            "message": {"id": f"msg_{n}", "role": "agent", "content": "Thanks for waiting. " * 20},
        },
    }


def _rows(platform_id: str, pending: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """("escalation", values) and ("outbox", values) in an order escalations could produce
    them: every escalation before its rows, each escalation's rows in order, escalations
    interleaved."""
    queues: list[tuple[str, int, int]] = []  # escalation id, rows left, rows written
    made = 0
    while made < pending:
        count = min(random.choice(ROWS_PER_ESCALATION), pending - made)
        esc_id = f"esc_{uuid.uuid4().hex}"
        yield "escalation", _escalation(esc_id, platform_id)
        queues.append((esc_id, count, 0))
        made += count
    n = 0
    while queues:
        index = random.randrange(len(queues))
        esc_id, left, written = queues[index]
        first = written == 0
        due = NOW - timedelta(seconds=1)
        claimed_until = None
        if first and random.random() < NOT_DUE:
            due = NOW + timedelta(minutes=5)
        elif first and random.random() < LEASED:
            claimed_until = NOW + timedelta(seconds=30)
        for topic in (Topic.platform, Topic.slack):
            n += 1
            yield "outbox", _outbox(topic, esc_id, platform_id, n, due, claimed_until)
        if left == 1:
            queues[index] = queues[-1]
            queues.pop()
        else:
            queues[index] = (esc_id, left - 1, written + 1)


def _escalation(esc_id: str, platform_id: str) -> dict[str, Any]:
    return {
        "id": esc_id,
        "platform_id": platform_id,
        "conversation_id": uuid.uuid4().hex,
        "status": "taken",
        "priority": "high",
        "reason": "customer_request",
        "customer": {"id": "c", "name": "Customer"},
        "context": {},
        "created_at": NOW,
        "updated_at": NOW,
        "version": 1,
        "first_take_sla_level": 0,
        "resolution_sla_level": 0,
        "keep_ai_paused": False,
    }


def _outbox(
    topic: Topic,
    esc_id: str,
    platform_id: str,
    n: int,
    due: datetime,
    claimed_until: datetime | None,
) -> dict[str, Any]:
    return {
        "topic": topic,
        "kind": "escalation.message" if topic == Topic.platform else "thread.message",
        "escalation_id": esc_id,
        "platform_id": platform_id,
        "event_id": f"evt_{n}",
        "payload": _payload(esc_id, n),
        "state": DeliveryState.pending,
        "attempts": 0,
        "next_attempt_at": due,
        "claimed_by": "elsewhere" if claimed_until else None,
        "claimed_until": claimed_until,
        "created_at": NOW,
        "give_up_at": NOW + timedelta(hours=24),
    }


async def load(db: Database, pending: int) -> None:
    platform = await add_platform(db, SecretBox(new_secret_key()), "bench", "https://example.com")
    batch: dict[str, list[dict[str, Any]]] = {"escalation": [], "outbox": []}

    async def flush() -> None:
        async with db.write(notify=False) as s:
            if batch["escalation"]:
                await s.execute(insert(Escalation), batch["escalation"])
            if batch["outbox"]:
                await s.execute(insert(OutboxRow), batch["outbox"])
        batch["escalation"].clear()
        batch["outbox"].clear()

    for table, values in _rows(platform.platform.id, pending):
        # Escalations go first within a batch, so every row's escalation exists.
        batch[table].append(values)
        if len(batch["outbox"]) >= BATCH:
            await flush()
    await flush()


class Statements:
    """The SQL a call runs, caught on its way to the driver, to be explained."""

    def __init__(self, db: Database) -> None:
        self.caught: list[tuple[str, Any]] = []
        self.on = False
        event.listen(db.engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if self.on and statement.lstrip().upper().startswith(("SELECT", "WITH")):
            self.caught.append((statement, params))


async def explain(db: Database, statements: list[tuple[str, Any]]) -> None:
    """EXPLAIN ANALYZE (EXPLAIN QUERY PLAN on SQLite) each statement, rolled back."""
    prefix = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN (ANALYZE, COSTS, BUFFERS) "
    async with db.engine.connect() as conn:
        for statement, params in statements:
            result = await conn.exec_driver_sql(prefix + statement, params)
            lines = [" | ".join(str(c) for c in row) for row in result]
            print("    " + "\n    ".join(lines))
        await conn.rollback()


async def drain(db: Database, limit: int, show_plan: bool) -> dict[str, Any]:
    statements = Statements(db)
    times: list[float] = []
    claimed_total = 0
    began_all = time.perf_counter()
    while time.perf_counter() - began_all < BUDGET_S:
        statements.on = show_plan and not times
        began = time.perf_counter()
        claimed = await deliveries.claim_due(db, Topic.platform, "bench", limit)
        times.append(time.perf_counter() - began)
        statements.on = False
        if show_plan and len(times) == 1:
            await explain(db, statements.caught)
        if not claimed:
            break
        claimed_total += len(claimed)
        async with db.write(notify=False) as s:
            await s.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_([c.id for c in claimed]))
                .values(state=DeliveryState.done, done_at=NOW, claimed_until=None)
            )
    return {
        "claims": len(times),
        "rows": claimed_total,
        "first": times[0],
        "p50": statistics.median(times),
        "max": max(times),
        "total": sum(times),
        "drained": not claimed,
    }


async def run(
    kind: str, workdir: Path, pending: int, limit: int, stats: str, plan: bool
) -> dict[str, Any]:
    url, name = await database(kind, workdir)
    db = Database(url, clock=FixedClock())
    try:
        await upgrade(db)
        await load(db, pending)
        if stats == "analyzed":
            async with db.write(notify=False) as s:
                await s.execute(text("ANALYZE"))
        if plan:
            print(f"  plan: {kind}, {pending:,} pending, limit {limit}, statistics {stats}")
        return await drain(db, limit, plan)
    finally:
        await db.dispose()
        await drop(name)


async def autovacuum_off() -> bool:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        return await conn.fetchval("SHOW autovacuum") == "off"
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--pending", nargs="+", type=int, default=[100, 4000])
    parser.add_argument("--limits", nargs="+", type=int, default=[16, 128])
    parser.add_argument("--stats", nargs="+", default=["none", "analyzed"])
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    if "postgres" in args.databases and await autovacuum_off():
        print("note: autovacuum is off on this server; nothing analyzes a table by itself")
    header = (
        f"{'database':9} {'stats':9} {'pending':>7} {'limit':>5} {'claims':>6} {'rows':>6}"
        f" {'first ms':>9} {'p50 ms':>8} {'max ms':>8} {'total s':>8}"
    )
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.databases:
            for stats in args.stats:
                for pending in args.pending:
                    for limit in args.limits:
                        random.seed(pending)
                        r = await run(kind, Path(tmp), pending, limit, stats, args.explain)
                        lines.append(
                            f"{kind:9} {stats:9} {pending:>7,} {limit:>5} {r['claims']:>6}"
                            f" {r['rows']:>6} {r['first'] * 1000:9.2f} {r['p50'] * 1000:8.2f}"
                            f" {r['max'] * 1000:8.2f} {r['total']:8.2f}"
                            + ("" if r["drained"] else f"  stopped after {BUDGET_S:.0f} s")
                        )
                        print(lines[-1], flush=True)
    print()
    print(header)
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
