"""The bot's suggested replies: read for their posts in the thread, and where those are."""

from sqlalchemy import select, update
from sqlmodel import col

from storage.database import Database
from storage.models import Suggestion


async def load(db: Database, suggestion_id: str) -> Suggestion | None:
    async with db.read() as s:
        return await s.get(Suggestion, suggestion_id, populate_existing=True)


async def posted(db: Database, suggestion_id: str, slack_ts: str) -> None:
    """Where its post is, so that the post can later show it sent, or stale."""
    async with db.write(notify=False) as s:
        await s.execute(
            update(Suggestion).where(col(Suggestion.id) == suggestion_id).values(slack_ts=slack_ts)
        )


async def unsent_posts(db: Database, escalation_id: str) -> list[Suggestion]:
    """The escalation's suggestions that are in the thread and were never sent."""
    stmt = select(Suggestion).where(
        col(Suggestion.escalation_id) == escalation_id,
        col(Suggestion.sent_at).is_(None),
        col(Suggestion.slack_ts).is_not(None),
    )
    async with db.read() as s:
        return list((await s.execute(stmt)).scalars())
