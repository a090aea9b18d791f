"""Cards posted in the escalation channel because the channel routing picked refused them
(the bot is not in it, it does not exist, it is archived).

Each such card leaves an audit event (``card_rerouted``: where routing sent it, what Slack
answered, where it went instead), which the card reads back to say why it is where it is.
The managers' channel is told once per channel, not once per card: the first rerouted card
for a channel queues the notice, and later ones stay quiet until a card has reached that
channel again (it was fixed, then broke anew). The decision and the notice are written in
the transaction that records the card, under a lock per channel on PostgreSQL, so cards
rerouted at the same moment, by one worker or by several replicas, tell the managers once.
"""

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.database import Database
from storage.models import Event, SlackThread
from storage.outbox.rows import SlackEffect, slack_row_for
from storage.threads import insert_thread

REROUTED = "card_rerouted"


@dataclass(frozen=True)
class Rerouted:
    """Where routing sent a card, and Slack's answer there (``not_in_channel``…)."""

    channel: str
    error: str


async def remember_rerouted_thread(
    db: Database,
    escalation_id: str,
    platform_id: str | None,
    team_id: str,
    posted_in: str,
    ts: str,
    rerouted: Rerouted,
) -> SlackThread:
    """Store where the card was posted (``posted_in``) and why; queue the managers' notice
    if they have not been told about ``rerouted.channel`` yet."""
    now = db.clock.now()
    async with db.write(notify=False) as s:
        await s.execute(insert_thread(db, escalation_id, team_id, posted_in, ts))
        # Recorded by the event, not by the insert: a reply under the card may have
        # recorded its thread first (see ``bot.listeners.messages``).
        if not await _recorded(s, escalation_id):
            if db.dialect == "postgresql":
                await s.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(rerouted)}
                )
            tell = not await _managers_know(s, rerouted.channel)
            data: dict[str, Any] = {
                "channel": rerouted.channel,
                "error": rerouted.error,
                "posted_in": posted_in,
                "managers_told": tell,
            }
            event = Event.of(escalation_id, REROUTED, now, data)
            s.add(event)
            if tell:
                s.add(
                    slack_row_for(
                        escalation_id,
                        platform_id,
                        SlackEffect.CARD_REROUTED,
                        now,
                        {"event_id": event.id},
                    )
                )
        stored = await s.get(SlackThread, escalation_id, populate_existing=True)
    assert stored is not None
    return stored


async def rerouted(db: Database, escalation_id: str) -> Rerouted | None:
    """Why the escalation's card is not in the channel routing picked, if it is not."""
    stmt = (
        select(col(Event.data))
        .where(col(Event.escalation_id) == escalation_id, col(Event.type) == REROUTED)
        .order_by(col(Event.created_at).desc())
        .limit(1)
    )
    async with db.read() as s:
        data = (await s.execute(stmt)).scalar_one_or_none()
    if not data:
        return None
    return Rerouted(str(data.get("channel", "")), str(data.get("error", "")))


async def _recorded(s: AsyncSession, escalation_id: str) -> bool:
    stmt = select(col(Event.id)).where(
        col(Event.escalation_id) == escalation_id, col(Event.type) == REROUTED
    )
    return (await s.execute(stmt.limit(1))).first() is not None


async def _managers_know(s: AsyncSession, channel: str) -> bool:
    """Told about ``channel`` already, and no card has reached it since."""
    told_at = (
        await s.execute(
            select(func.max(col(Event.created_at))).where(
                col(Event.type) == REROUTED,
                Event.data["channel"].as_string() == channel,
                Event.data["managers_told"].as_boolean().is_(True),
            )
        )
    ).scalar_one_or_none()
    if told_at is None:
        return False
    reached_since = (
        await s.execute(
            select(col(SlackThread.escalation_id))
            .where(col(SlackThread.channel_id) == channel, col(SlackThread.created_at) > told_at)
            .limit(1)
        )
    ).first()
    return reached_since is None


def _lock_key(rerouted: Rerouted) -> int:
    digest = hashlib.sha256(f"baton:rerouted:{rerouted.channel}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
