"""Where each escalation lives in Slack, and what its thread shows first."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.database import Database
from storage.models import Escalation, Event, Message, SlackThread

EARLIER_SHOWN = 20  # as many as the thread's intro shows


async def thread_of(db: Database, escalation_id: str) -> SlackThread | None:
    async with db.read() as s:
        return await s.get(SlackThread, escalation_id)


async def cards_of(db: Database, escalation_ids: Sequence[str]) -> dict[str, SlackThread]:
    """Where each escalation's card lives in Slack, for links to its thread."""
    if not escalation_ids:
        return {}
    stmt = select(SlackThread).where(col(SlackThread.escalation_id).in_(list(escalation_ids)))
    async with db.read() as s:
        return {t.escalation_id: t for t in (await s.execute(stmt)).scalars()}


async def escalation_in_thread(
    db: Database, team_id: str, channel_id: str, thread_ts: str
) -> Escalation | None:
    """The escalation whose card starts this thread: found by team, channel and ts together."""
    stmt = (
        select(Escalation)
        .join(SlackThread, col(SlackThread.escalation_id) == Escalation.id)
        .where(
            col(SlackThread.team_id) == team_id,
            col(SlackThread.channel_id) == channel_id,
            col(SlackThread.thread_ts) == thread_ts,
        )
    )
    async with db.read() as s:
        return (await s.execute(stmt)).scalars().first()


def insert_thread(db: Database, escalation_id: str, team_id: str, channel_id: str, ts: str) -> Any:
    """The insert of where a card was posted, unless its escalation has a card already."""
    thread = SlackThread(
        escalation_id=escalation_id,
        team_id=team_id,
        channel_id=channel_id,
        thread_ts=ts,
        created_at=db.clock.now(),
    )
    return (
        db.insert(SlackThread)
        .values(**thread.model_dump())
        .on_conflict_do_nothing(index_elements=["escalation_id"])
    )


async def remember_thread(
    db: Database, escalation_id: str, team_id: str, channel_id: str, ts: str
) -> SlackThread:
    """Store where the card was posted; from now on it is only ever updated."""
    async with db.write(notify=False) as s:
        await s.execute(insert_thread(db, escalation_id, team_id, channel_id, ts))
        stored = await s.get(SlackThread, escalation_id, populate_existing=True)
    assert stored is not None
    return stored


async def load_escalation(db: Database, escalation_id: str) -> Escalation | None:
    async with db.read() as s:
        return await s.get(Escalation, escalation_id)


async def load_message(db: Database, message_id: str) -> Message | None:
    async with db.read() as s:
        return await s.get(Message, message_id)


async def load_event(db: Database, event_id: str) -> Event | None:
    async with db.read() as s:
        return await s.get(Event, event_id)


async def message_by_slack_ts(s: AsyncSession, esc_id: str, slack_ts: str) -> Message | None:
    """The escalation's message that the thread post with this ts sent, if one did."""
    stmt = select(Message).where(
        col(Message.escalation_id) == esc_id, col(Message.slack_ts) == slack_ts
    )
    return (await s.execute(stmt)).scalars().first()


async def relayed(db: Database, esc_id: str, slack_ts: str) -> bool:
    """Whether the thread post with this ts went to the customer."""
    async with db.read() as s:
        return await message_by_slack_ts(s, esc_id, slack_ts) is not None


async def transcript(db: Database, esc: Escalation) -> Sequence[Message]:
    """The conversation as the bot platform sent it with the escalation."""
    stmt = (
        select(Message)
        .where(col(Message.escalation_id) == esc.id, col(Message.created_at) <= esc.created_at)
        .order_by(col(Message.sent_at), Message.id)
    )
    async with db.read() as s:
        return list((await s.execute(stmt)).scalars())


async def earlier_escalations(db: Database, esc: Escalation) -> Sequence[Escalation]:
    """The same customer's previous escalations on this platform, newest first."""
    if not esc.customer_id:
        return []
    stmt = (
        select(Escalation)
        .where(
            col(Escalation.platform_id) == esc.platform_id,
            col(Escalation.customer_id) == esc.customer_id,
            col(Escalation.id) != esc.id,
            col(Escalation.created_at) <= esc.created_at,
        )
        .order_by(col(Escalation.created_at).desc())
        .limit(EARLIER_SHOWN)
    )
    async with db.read() as s:
        return list((await s.execute(stmt)).scalars())


async def remember_message_ts(db: Database, message_id: str, ts: str) -> None:
    """The thread post that shows an agent's reply, so its delivery shows on it."""
    async with db.write(notify=False) as s:
        await s.execute(
            update(Message)
            .where(col(Message.id) == message_id, col(Message.slack_ts).is_(None))
            .values(slack_ts=ts)
        )
