"""Slack users as Baton shows them to customers: display name, then real name.

Names come from users.info and are kept in the agents table (and in memory) for a day, so
a click costs no Web API call and a rename shows up within the day.
"""

import logging
import time
from datetime import timedelta

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.exc import SQLAlchemyError

from storage.database import Database
from storage.machine import Actor
from storage.models import Agent

log = logging.getLogger("baton.slack")

FRESH_FOR = timedelta(days=1)


class People:
    def __init__(self, db: Database, client: AsyncWebClient) -> None:
        self.db, self.client = db, client
        self._memory: dict[str, tuple[float, Actor]] = {}

    async def actor(self, user_id: str, fallback: str | None = None) -> Actor:
        """The user as an actor with the name a customer sees."""
        cached = self._memory.get(user_id)
        if cached is not None and time.monotonic() - cached[0] < FRESH_FOR.total_seconds():
            return cached[1]
        try:
            async with self.db.read() as s:
                agent = await s.get(Agent, user_id)
        except (SQLAlchemyError, OSError) as exc:
            # The table is a cache: the click or message goes on, and the change it asks
            # for tells the person if the database is really not there.
            log.warning("slack: could not read the name of %s: %s", user_id, exc)
            agent = None
        if agent is None or self.db.clock.now() - agent.updated_at > FRESH_FOR:
            agent = await self._lookup(user_id) or agent
        name = agent.name if agent is not None else (fallback or user_id)
        actor = Actor(user_id, name)
        if agent is not None:
            self._memory[user_id] = (time.monotonic(), actor)
        return actor

    async def _lookup(self, user_id: str) -> Agent | None:
        try:
            response = await self.client.users_info(user=user_id)
        except SlackApiError as exc:
            log.warning("slack: users.info for %s failed: %s", user_id, exc.response.get("error"))
            return None
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("slack: users.info for %s failed: %s", user_id, exc)
            return None
        user = response["user"]
        profile = user.get("profile") or {}
        agent = Agent(
            id=user_id,
            email=profile.get("email"),
            display_name=(profile.get("display_name") or "").strip() or None,
            real_name=(profile.get("real_name") or user.get("real_name") or "").strip() or None,
            updated_at=self.db.clock.now(),
        )
        await self._store(agent)
        return agent

    async def _store(self, agent: Agent) -> None:
        values = agent.model_dump()
        stmt = self.db.insert(Agent).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["id"], set_={k: v for k, v in values.items() if k != "id"}
        )
        try:
            async with self.db.write(notify=False) as s:
                await s.execute(stmt)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("slack: could not remember the name of %s: %s", agent.id, exc)
