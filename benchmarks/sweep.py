"""The SLA sweep and the daily digest against growing tables: their cost should follow the
work of the tick (alerts due, the day's escalations), not the size of the table.

    python benchmarks/sweep.py [--databases sqlite postgres] [--open 1000 100000]
                               [--history 10000 1000000]

SLA sweep: N open escalations whose next alert is not due, plus 200 whose at-risk alert is
due now; one sweep raises those 200 alerts, and a second (idle) sweep finds nothing.
Digest: the same day of 2,000 escalations (taken, replied to, closed), on top of a history
of H escalations over the year before it, each with its take event and a reply.
"""

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import insert, text

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.databases import database, drop  # noqa: E402
from storage import sla_alerts  # noqa: E402
from storage.database import Database  # noqa: E402
from storage.digest import Day, compute  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Escalation, Event, Message  # noqa: E402
from storage.platforms import add_platform  # noqa: E402
from storage.sealing import SecretBox, new_secret_key  # noqa: E402
from storage.sla import SlaPolicy, TargetTimes  # noqa: E402

DUE = 200
DAY_VOLUME = 2000
BATCH = 5000
ZONE = "UTC"
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
DAY = date(2026, 11, 23)
POLICY = SlaPolicy(targets={"high": TargetTimes(timedelta(minutes=30), timedelta(hours=4))})


class FixedClock:
    def now(self) -> datetime:
        return NOW


def _escalation(platform_id: str, created: datetime, **values: Any) -> dict[str, Any]:
    return {
        "id": f"esc_{uuid.uuid4().hex}",
        "platform_id": platform_id,
        "conversation_id": uuid.uuid4().hex,
        "status": "queued",
        "priority": "high",
        "reason": random.choice(("customer_request", "low_confidence", "gate_failure")),
        "channel": random.choice(("whatsapp", "widget", "email")),
        "customer": {"id": "c", "name": "Customer"},
        "customer_name": "Customer",
        "context": {},
        "created_at": created,
        "updated_at": created,
        "version": 1,
        "first_take_sla_level": 0,
        "resolution_sla_level": 0,
        "keep_ai_paused": False,
        **values,
    }


def _handled(platform_id: str, created: datetime) -> tuple[dict[str, Any], ...]:
    """An escalation taken, replied to and closed, with its take event and the reply."""
    taken = created + timedelta(seconds=random.uniform(20, 1800))
    replied = taken + timedelta(seconds=random.uniform(5, 600))
    ended = replied + timedelta(seconds=random.uniform(60, 7200))
    agent = random.choice(("U0ANN", "U0BOB", "U0CHI", "U0DAN"))
    esc = _escalation(
        platform_id,
        created,
        status="closed",
        assignee_id=None,
        taken_at=taken,
        first_taken_at=taken,
        first_reply_at=replied,
        ended_at=ended,
        resolution="resolved",
        first_take_due_at=created + timedelta(minutes=30),
        resolution_due_at=created + timedelta(hours=4),
    )
    event = {
        "id": f"evt_{uuid.uuid4().hex}",
        "escalation_id": esc["id"],
        "type": "taken",
        "actor_id": agent,
        "actor_name": agent,
        "data": {},
        "created_at": taken,
    }
    message = {
        "id": f"msg_{uuid.uuid4().hex}",
        "escalation_id": esc["id"],
        "role": "agent",
        "content": "Hello, I'm on it",
        "attachments": [],
        "author_id": agent,
        "author_name": agent,
        "sent_at": replied,
        "created_at": replied,
    }
    return esc, event, message


async def _insert(db: Database, rows: Iterator[tuple[dict[str, Any], ...]]) -> None:
    tables = (Escalation, Event, Message)
    batch: list[tuple[dict[str, Any], ...]] = []

    async def flush() -> None:
        async with db.write() as s:
            for index, table in enumerate(tables):
                values = [row[index] for row in batch if len(row) > index]
                if values:
                    await s.execute(insert(table), values)
        batch.clear()

    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            await flush()
    if batch:
        await flush()


async def _platform(db: Database) -> str:
    created = await add_platform(
        db, SecretBox(new_secret_key()), f"bench-{uuid.uuid4().hex[:6]}", "https://example.com"
    )
    return created.platform.id


async def sweep_times(url: str, open_count: int) -> tuple[float, float]:
    """Seconds for the sweep that raises DUE alerts, and for the idle sweep after it."""
    db = Database(url, clock=FixedClock())
    await upgrade(db)
    platform_id = await _platform(db)

    def queued(created: datetime) -> tuple[dict[str, Any]]:
        """Due in 30 minutes; at risk (80 %) after 24."""
        due = {
            "first_take_due_at": created + timedelta(minutes=30),
            "resolution_due_at": created + timedelta(hours=4),
            "sla_check_at": created + timedelta(minutes=24),
        }
        return (_escalation(platform_id, created, **due),)

    def rows() -> Iterator[tuple[dict[str, Any], ...]]:
        for _ in range(open_count):
            yield queued(NOW - timedelta(minutes=1))  # not at risk yet
        for _ in range(DUE):
            yield queued(NOW - timedelta(minutes=25))  # at risk since a minute ago

    try:
        await _insert(db, rows())
        began = time.perf_counter()
        raised = await sla_alerts.sweep(db, POLICY)
        busy = time.perf_counter() - began
        assert len(raised) == DUE, len(raised)
        idle = []
        for _ in range(5):
            began = time.perf_counter()
            assert await sla_alerts.sweep(db, POLICY) == []
            idle.append(time.perf_counter() - began)
        return busy, statistics.median(idle)
    finally:
        await db.dispose()


async def digest_time(url: str, history: int) -> float:
    """Seconds to compute the digest of DAY (median of 3) over ``history`` older ones."""
    db = Database(url, clock=FixedClock())
    await upgrade(db)
    platform_id = await _platform(db)
    day = Day.of(DAY, ZONE)

    def rows() -> Iterator[tuple[dict[str, Any], ...]]:
        year = timedelta(days=365).total_seconds()
        for _ in range(history):
            created = day.start - timedelta(days=1, seconds=random.uniform(0, year))
            yield _handled(platform_id, created)
        for _ in range(DAY_VOLUME):
            yield _handled(platform_id, day.start + timedelta(seconds=random.uniform(0, 86000)))

    try:
        await _insert(db, rows())
        await _analyze(db)
        times = []
        for _ in range(3):
            began = time.perf_counter()
            digest = await compute(db, day)
            times.append(time.perf_counter() - began)
            assert digest.created == DAY_VOLUME, digest.created
        return statistics.median(times)
    finally:
        await db.dispose()


async def _analyze(db: Database) -> None:
    """Fresh planner statistics, as autovacuum (or SQLite's optimize) would leave them."""
    async with db.write() as s:
        await s.execute(text("ANALYZE"))


def report(
    what: str, small: int, large: int, unit: str, at_small: float, at_large: float, places: int = 1
) -> None:
    """One line: seconds at the small and the large size, in ms, and their ratio."""
    print(
        f"  {what} {small:>9,} {unit} {at_small * 1000:8.{places}f} ms"
        f"   {large:>9,} {unit} {at_large * 1000:8.{places}f} ms"
        f"   ratio {at_large / at_small:.2f}"
    )


async def _fresh(
    kind: str, workdir: Path, measure: Callable[[str, int], Awaitable[T]], count: int
) -> T:
    """``measure(url, count)`` on a database of its own, dropped afterwards."""
    url, name = await database(kind, workdir)
    try:
        return await measure(url, count)
    finally:
        await drop(name)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--open", nargs=2, type=int, default=[1_000, 100_000])
    parser.add_argument("--history", nargs=2, type=int, default=[10_000, 1_000_000])
    args = parser.parse_args()
    random.seed(1)
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.databases:
            sweeps = [await _fresh(kind, Path(tmp), sweep_times, n) for n in args.open]
            digests = [await _fresh(kind, Path(tmp), digest_time, n) for n in args.history]
            (small, large), (h_small, h_large) = args.open, args.history
            print(f"{kind}")
            report(
                f"SLA sweep raising {DUE} alerts:",
                small,
                large,
                "open",
                *sweeps[0][:1],
                sweeps[1][0],
            )
            report(
                "SLA sweep, nothing due:      ", small, large, "open", sweeps[0][1], sweeps[1][1], 2
            )
            report(f"digest of {DAY_VOLUME:,} a day:  ", h_small, h_large, "hist", *digests)


if __name__ == "__main__":
    asyncio.run(main())
