"""The timed jobs. Each is an idempotent database sweep: running it twice, or on every
replica at once, has the effect of running it once."""

import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

from storage import digest_runs, idempotency, notifications, nudges, sla_alerts, slack_events
from storage.database import Database
from storage.models import Escalation, Topic
from storage.notifications import Notices
from storage.outbox import deliveries
from storage.sla import SlaPolicy

log = logging.getLogger("baton.scheduler")

OUTBOX_KEPT_FOR = timedelta(days=7)
OUTBOX_OVERDUE_AFTER = timedelta(minutes=5)


async def purge_idempotency_keys(db: Database) -> int:
    """Forget Idempotency-Keys past their 24 hours."""
    purged = await idempotency.purge_expired(db)
    if purged:
        log.info("forgot %d expired idempotency keys", purged)
    return purged


async def purge_slack_events(db: Database) -> int:
    """Forget Slack event ids older than Slack's retries."""
    return await slack_events.purge_seen(db)


async def sla_sweep(db: Database, policy: SlaPolicy, notices: Notices | None = None) -> int:
    """Raise the SLA alerts due now (each once, whichever replica sweeps first), telling the
    subscribers that want to hear."""
    alerts = await sla_alerts.sweep(db, policy, notices)
    for alert in alerts:
        log.info(
            "SLA %s: %s of %s (due %s)",
            "breached" if alert.breached else "at risk",
            alert.target,
            alert.escalation_id,
            alert.due_at.isoformat(),
        )
    return len(alerts)


async def owner_nudges(db: Database, quiet_for: timedelta) -> int:
    """Remind owners whose customer has waited on them for ``quiet_for`` (each once per
    quiet period)."""
    sent = await nudges.sweep(db, quiet_for)
    for nudge in sent:
        log.info("nudged %s about %s", nudge.owner_id, nudge.escalation_id)
    return len(sent)


async def hourly_emails(db: Database) -> int:
    """Gather each ended hour's events into one email per hourly [[notifications]] entry
    (each event once, whichever replica gathers it)."""
    emails = await notifications.collect_hourly(db)
    if emails:
        log.info("notifications: %d hourly emails to send", emails)
    return emails


CloseQuiet = Callable[[timedelta], Awaitable[list[Escalation]]]


async def auto_close(close_quiet: CloseQuiet, quiet_for: timedelta) -> int:
    """Close the taken escalations whose customer was quiet ``quiet_for`` (each once,
    whichever replica sweeps first)."""
    closed = await close_quiet(quiet_for)
    for esc in closed:
        log.info("closed %s: its customer wrote nothing for %s", esc.id, quiet_for)
    return len(closed)


async def outbox_sweep(db: Database, watched: Collection[Topic] = tuple(Topic)) -> int:
    """Forget delivered outbox rows after a week, and say so when rows of a ``watched``
    topic wait with no worker draining them (a stopped `baton relay`, say)."""
    for topic in watched:
        backlog = await deliveries.overdue(db, topic, OUTBOX_OVERDUE_AFTER)
        if backlog.rows:
            log.warning(
                "outbox: %d %s deliveries overdue (oldest due %s); is a worker running "
                "(`baton serve` or `baton relay`)?",
                backlog.rows,
                topic,
                backlog.oldest_due.isoformat() if backlog.oldest_due else "?",
            )
    purged = await deliveries.purge_delivered(db, OUTBOX_KEPT_FOR)
    if purged:
        log.info("outbox: forgot %d deliveries done more than %s ago", purged, OUTBOX_KEPT_FOR)
    return purged


SendDigest = Callable[[date, bool], Awaitable[tuple[str, str]]]


@dataclass(frozen=True)
class DailyDigest:
    """When the digest goes out (a local time in ``timezone``), and how: ``send(day,
    look_first)`` posts the digest of ``day`` and returns (channel, ts); ``look_first``
    says an earlier attempt may already have posted it."""

    at: time
    timezone: str
    send: SendDigest


async def daily_digest(db: Database, digest: DailyDigest, worker: str) -> date | None:
    """Send yesterday's digest once its time has come today; the day's claim row makes it
    once across replicas and job firings. Returns the day sent by this call, if any."""
    local = db.clock.now().astimezone(ZoneInfo(digest.timezone))
    if local.time() < digest.at:
        return None
    day = local.date() - timedelta(days=1)
    held = await digest_runs.claim(db, day, worker)
    if held is None:
        return None
    try:
        channel, ts = await digest.send(day, held.uncertain)
    except Exception as exc:
        log.exception("digest of %s: not sent; another attempt in %s", day, digest_runs.RETRY_AFTER)
        await digest_runs.retry_later(db, held, f"{type(exc).__name__}: {exc}")
        return None
    await digest_runs.mark_sent(db, held, channel, ts)
    log.info("digest of %s sent to %s", day, channel)
    return day
