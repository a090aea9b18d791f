"""Slack users Baton knows, to turn an email or a user id into the name a customer sees."""

from collections.abc import Sequence

from sqlalchemy import func, or_, select

from storage.database import Database
from storage.models import Agent


async def find_agent(db: Database, ident: str) -> Agent | None:
    """Look an agent up by Slack user id or (case-insensitive) email."""
    async with db.read() as s:
        stmt = select(Agent).where(or_(Agent.id == ident, func.lower(Agent.email) == ident.lower()))
        return (await s.execute(stmt)).scalars().first()


async def known_agents(db: Database, ids: Sequence[str]) -> list[Agent]:
    """The agents among these Slack user ids that Baton knows (in no particular order)."""
    if not ids:
        return []
    async with db.read() as s:
        stmt = select(Agent).where(Agent.id.in_(list(ids)))
        return list((await s.execute(stmt)).scalars())
