"""APScheduler wiring: jobs with fixed ids, so a restart replaces rather than duplicates."""

from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from scheduler.jobs import purge_idempotency_keys, purge_slack_events
from storage.database import Database

IDEMPOTENCY_PURGE_EVERY = timedelta(minutes=10)
SLACK_EVENTS_PURGE_EVERY = timedelta(hours=1)


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
    scheduler.add_job(
        purge_slack_events,
        "interval",
        seconds=SLACK_EVENTS_PURGE_EVERY.total_seconds(),
        id="slack_events.purge",
        args=[db],
        coalesce=True,
        max_instances=1,
        replace_existing=True,
    )
    return scheduler
