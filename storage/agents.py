"""Slack users Baton knows, to turn an email or a user id into the name a customer sees."""

from collections.abc import Sequence

from sqlalchemy import func, or_, select, update
from sqlmodel import col

from storage.database import Database
from storage.models import Agent


async def agent_by_id(db: Database, user_id: str) -> Agent | None:
    async with db.read() as s:
        return await s.get(Agent, user_id)


async def find_agent(db: Database, ident: str) -> Agent | None:
    """Look an agent up by Slack user id or (case-insensitive) email."""
    async with db.read() as s:
        stmt = select(Agent).where(
            or_(col(Agent.id) == ident, func.lower(Agent.email) == ident.lower())
        )
        return (await s.execute(stmt)).scalars().first()


async def known_agents(db: Database, ids: Sequence[str]) -> list[Agent]:
    """The agents among these Slack user ids that Baton knows (in no particular order)."""
    if not ids:
        return []
    async with db.read() as s:
        stmt = select(Agent).where(col(Agent.id).in_(list(ids)))
        return list((await s.execute(stmt)).scalars())


async def remember_agent(db: Database, agent: Agent) -> None:
    """Store the agent as Slack describes them now, over what was kept of them before."""
    values = agent.model_dump()
    stmt = db.insert(Agent).values(**values)
    changed = {k: v for k, v in values.items() if k != "id"}
    # users.info leaves the email out without users:read.email: keep the one known.
    changed["email"] = func.coalesce(stmt.excluded.email, Agent.email)
    stmt = stmt.on_conflict_do_update(index_elements=["id"], set_=changed)
    async with db.write(notify=False) as s:
        if agent.email:
            # An address Slack now gives someone else no longer finds the one before.
            await s.execute(
                update(Agent)
                .where(func.lower(Agent.email) == agent.email.lower(), col(Agent.id) != agent.id)
                .values(email=None)
            )
        await s.execute(stmt)
