"""The timed jobs. Each is an idempotent database sweep: running it twice, or on every
replica at once, has the effect of running it once."""

import logging

from storage import idempotency, sla_alerts, slack_events
from storage.database import Database
from storage.sla import SlaPolicy

log = logging.getLogger("baton.scheduler")


async def purge_idempotency_keys(db: Database) -> int:
    """Forget Idempotency-Keys past their 24 hours."""
    purged = await idempotency.purge_expired(db)
    if purged:
        log.info("forgot %d expired idempotency keys", purged)
    return purged


async def purge_slack_events(db: Database) -> int:
    """Forget Slack event ids older than Slack's retries."""
    return await slack_events.purge_seen(db)


async def sla_sweep(db: Database, policy: SlaPolicy) -> int:
    """Raise the SLA alerts due now (each once, whichever replica sweeps first)."""
    alerts = await sla_alerts.sweep(db, policy)
    for alert in alerts:
        log.info(
            "SLA %s: %s of %s (due %s)",
            "breached" if alert.breached else "at risk",
            alert.target,
            alert.escalation_id,
            alert.due_at.isoformat(),
        )
    return len(alerts)
