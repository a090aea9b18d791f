"""APScheduler wiring: jobs with fixed ids, so a restart replaces rather than duplicates."""

import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from scheduler.jobs import (
    CloseQuiet,
    DailyDigest,
    auto_close,
    daily_digest,
    hourly_emails,
    outbox_sweep,
    owner_nudges,
    purge_idempotency_keys,
    purge_slack_events,
    sla_sweep,
)
from storage.database import Database
from storage.models import Topic
from storage.notifications import Notices
from storage.sla import SlaPolicy

IDEMPOTENCY_PURGE_EVERY = timedelta(minutes=10)
SLACK_EVENTS_PURGE_EVERY = timedelta(hours=1)
OUTBOX_SWEEP_EVERY = timedelta(minutes=5)
SLA_SWEEP_EVERY = timedelta(seconds=15)
NUDGE_SWEEP_EVERY = timedelta(seconds=30)
DIGEST_CHECK_EVERY = timedelta(minutes=1)
AUTO_CLOSE_SWEEP_EVERY = timedelta(minutes=1)
HOURLY_EMAILS_EVERY = timedelta(seconds=30)


@dataclass(frozen=True)
class Schedule:
    """What the timed jobs need: the SLA policy and sweep interval, the quiet time after
    which an owner is nudged (None: never), the daily digest (None: not sent), and the
    outbox topics whose backlog is worth a warning."""

    sla: SlaPolicy = field(default_factory=SlaPolicy)
    sla_sweep_every: timedelta = SLA_SWEEP_EVERY
    nudge_after: timedelta | None = timedelta(minutes=10)
    digest: DailyDigest | None = None
    drained: Collection[Topic] = tuple(Topic)  # outbox topics some worker should drain
    # Closes escalations whose customer was quiet this long (None: never).
    auto_close_after: timedelta | None = None
    close_quiet: CloseQuiet | None = None
    notices: Notices | None = None  # the [[notifications]] subscribers


def build_scheduler(db: Database, schedule: Schedule | None = None) -> AsyncIOScheduler:
    schedule = schedule or Schedule()
    scheduler = AsyncIOScheduler(timezone="UTC")
    _every(
        scheduler,
        schedule.sla_sweep_every,
        sla_sweep,
        "sla.sweep",
        db,
        schedule.sla,
        schedule.notices,
    )
    if schedule.notices is not None and any(s.hourly for s in schedule.notices.subscriptions):
        _every(scheduler, HOURLY_EMAILS_EVERY, hourly_emails, "notifications.hourly", db)
    if schedule.nudge_after is not None:
        every = min(NUDGE_SWEEP_EVERY, schedule.nudge_after)
        _every(scheduler, every, owner_nudges, "owner.nudge", db, schedule.nudge_after)
    if schedule.digest is not None:
        worker = f"digest-{uuid.uuid4().hex[:8]}"
        _every(
            scheduler, DIGEST_CHECK_EVERY, daily_digest, "digest.daily", db, schedule.digest, worker
        )
    if schedule.auto_close_after is not None and schedule.close_quiet is not None:
        every = min(AUTO_CLOSE_SWEEP_EVERY, schedule.auto_close_after)
        quiet_for = schedule.auto_close_after
        _every(
            scheduler, every, auto_close, "lifecycle.auto_close", schedule.close_quiet, quiet_for
        )
    _every(scheduler, OUTBOX_SWEEP_EVERY, outbox_sweep, "outbox.sweep", db, schedule.drained)
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
