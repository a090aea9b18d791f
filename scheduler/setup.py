"""APScheduler wiring: jobs with fixed ids, so a restart replaces rather than duplicates."""

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from scheduler.jobs import purge_idempotency_keys, purge_slack_events, sla_sweep
from storage.database import Database
from storage.sla import SlaPolicy

IDEMPOTENCY_PURGE_EVERY = timedelta(minutes=10)
SLACK_EVENTS_PURGE_EVERY = timedelta(hours=1)
SLA_SWEEP_EVERY = timedelta(seconds=15)


def build_scheduler(
    db: Database,
    *,
    sla: SlaPolicy | None = None,
    sla_sweep_every: timedelta = SLA_SWEEP_EVERY,
) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    _every(scheduler, sla_sweep_every, sla_sweep, "sla.sweep", db, sla or SlaPolicy())
    _every(scheduler, IDEMPOTENCY_PURGE_EVERY, purge_idempotency_keys, "idempotency.purge", db)
    _every(scheduler, SLACK_EVENTS_PURGE_EVERY, purge_slack_events, "slack_events.purge", db)
    return scheduler


def _every(
    scheduler: AsyncIOScheduler,
    interval: timedelta,
    job: Callable[..., Awaitable[Any]],
    job_id: str,
    *args: Any,
) -> None:
    scheduler.add_job(
        job,
        "interval",
        seconds=interval.total_seconds(),
        id=job_id,
        args=list(args),
        coalesce=True,
        max_instances=1,
        replace_existing=True,
    )
