"""APScheduler wiring: jobs with fixed ids, so a restart replaces rather than duplicates."""

from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from scheduler.jobs import purge_idempotency_keys
from storage.database import Database

IDEMPOTENCY_PURGE_EVERY = timedelta(minutes=10)


def build_scheduler(db: Database) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(
        purge_idempotency_keys,
        "interval",
        seconds=IDEMPOTENCY_PURGE_EVERY.total_seconds(),
        id="idempotency.purge",
        args=[db],
        coalesce=True,
        max_instances=1,
        replace_existing=True,
    )
    return scheduler
