"""APScheduler wiring: jobs with fixed ids, so a restart replaces rather than duplicates."""

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from scheduler.jobs import purge_idempotency_keys, purge_slack_events
from storage.database import Database

IDEMPOTENCY_PURGE_EVERY = timedelta(minutes=10)
SLACK_EVENTS_PURGE_EVERY = timedelta(hours=1)


def build_scheduler(db: Database) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
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
