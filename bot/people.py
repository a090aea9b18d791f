"""Slack users as Baton shows them to customers: display name, then real name.

Names come from users.info (users.lookupByEmail for an email) and are kept in the agents
table (and in memory) for a day, so a click costs no Web API call and a rename shows up
within the day. ``People.actor`` names someone Slack itself told us about (a click, a
message); ``People.resolve`` checks a user id or an email someone typed (the REST API) and
refuses any that names no person in the workspace.
"""

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from storage.agents import agent_by_id, find_agent, remember_agent
from storage.database import DATABASE_ERRORS, Database
from storage.machine import Actor
from storage.models import Agent

log = logging.getLogger("baton.slack")

FRESH_FOR = timedelta(days=1)
# A name kept past its day because Slack did not answer is asked for again after this.
RECHECK_AFTER = timedelta(minutes=5)
USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")  # W…: a user of an Enterprise Grid organisation
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
SLACKBOT = "USLACKBOT"  # a bot that users.info does not call one
# What Slack answers when a value names nobody: users.info says user_not_found (or
# user_not_visible for someone the token may not see), users.lookupByEmail users_not_found,
# also for a deactivated person (FACTS §4; docs of users.lookupByEmail).
NOBODY = frozenset({"user_not_found", "users_not_found", "user_not_visible", "invalid_email"})
RATE_LIMIT_WAIT = 2  # a 429 asking for at most this many seconds is waited out, once


class NotAnAgent(ValueError):
    """The value names no Slack person who could own an escalation; the message says why."""


class SlackUnreachable(Exception):
    """Slack could not say who a value names: it did not answer, failed, or asked us to
    slow down (``retry_after`` seconds, when it said)."""

    def __init__(self, reason: str, retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.reason, self.retry_after = reason, retry_after


def padding_problem(ident: str) -> str | None:
    """Why ``ident`` cannot be anyone's id or email as written, or None: Slack's ids and
    emails never start or end with spaces, so such a value is a mistake to point out, not
    one to guess at."""
    if not ident.strip():
        return "is empty"
    if ident != ident.strip():
        return f"{ident!r} has spaces or line breaks at its start or end"
    return None


def is_user_id(ident: str) -> bool:
    return USER_ID.fullmatch(ident) is not None


def is_email(ident: str) -> bool:
    return EMAIL.fullmatch(ident) is not None


@dataclass(frozen=True)
class SlackUser:
    """A user as Slack describes them, with what Baton keeps of them."""

    agent: Agent
    deleted: bool
    bot: bool

    def refusal(self) -> str | None:
        """Why this user cannot own an escalation, or None."""
        if self.deleted:
            return f"{self.agent.id} is a deactivated Slack user"
        if self.bot:
            return f"{self.agent.id} is a bot, not a person"
        return None


class People:
    def __init__(self, db: Database, client: AsyncWebClient) -> None:
        self.db, self.client = db, client
        self._memory: dict[str, tuple[datetime, Actor]] = {}  # key: (good until, actor)

    async def actor(self, user_id: str, fallback: str | None = None) -> Actor:
        """Someone Slack told us about (a click, a message) as an actor with the name a
        customer sees; their id if Slack cannot say more."""
        remembered = self._remembered(user_id)
        if remembered is not None:
            return remembered
        try:
            agent = await agent_by_id(self.db, user_id)
        except DATABASE_ERRORS as exc:
            # The table is a cache: the click or message goes on, and the change it asks
            # for tells the person if the database is really not there.
            log.warning("slack: could not read the name of %s: %s", user_id, exc)
            agent = None
        person = agent is not None
        if agent is None or self._stale(agent):
            try:
                user = await self._ask(lambda: self.client.users_info(user=user_id), user_id)
            except (NotAnAgent, SlackUnreachable) as exc:
                log.warning("slack: users.info for %s failed: %s", user_id, exc)
                if agent is not None:
                    return self._remember(agent, user_id, for_=RECHECK_AFTER)
            else:
                agent, person = await self._learn(user), user.refusal() is None
        if agent is None:
            return Actor(user_id, fallback or user_id)
        return self._remember(agent, user_id) if person else Actor(user_id, agent.name)

    async def resolve(self, ident: str, *, current: bool = True) -> Actor:
        """The Slack person a user id (``U…``/``W…``) or an email names, as an actor with
        their Slack id and the name a customer sees. ``current``: only someone who can own
        an escalation now (not a deactivated user, not a bot); otherwise anyone Slack knows,
        as a filter on past escalations needs.

        Raises ``NotAnAgent`` (the value names nobody, or nobody who can own an
        escalation) or ``SlackUnreachable`` (Slack could not say, and the person is not
        known from before)."""
        problem = padding_problem(ident)
        if problem is not None:
            raise NotAnAgent(problem)
        by_id = is_user_id(ident)
        if not by_id and not is_email(ident):
            raise NotAnAgent(
                f"{ident!r} is neither a Slack user id (U… or W…) nor an email address"
            )
        key = ident if by_id else ident.lower()
        remembered = self._remembered(key)
        if remembered is not None:
            return remembered
        known = await self._known(ident)
        if known is not None and not self._stale(known):
            return self._remember(known, key)
        lookup: Callable[[], Awaitable[AsyncSlackResponse]] = (
            (lambda: self.client.users_info(user=ident))
            if by_id
            else (lambda: self.client.users_lookupByEmail(email=ident))
        )
        try:
            user = await self._ask(lookup, ident)
        except SlackUnreachable:
            if known is None:
                raise
            log.warning("slack: could not look %s up again; the name known is used", ident)
            return self._remember(known, key, for_=RECHECK_AFTER)
        refusal = user.refusal()
        if refusal is not None and current:
            raise NotAnAgent(refusal)
        agent = await self._learn(user)
        return self._remember(agent, key) if refusal is None else Actor(agent.id, agent.name)

    async def _known(self, ident: str) -> Agent | None:
        """The person as last stored; the table is a cache, so a database that does not
        answer means asking Slack (what the caller does next meets the database anyway)."""
        try:
            return await find_agent(self.db, ident)
        except DATABASE_ERRORS as exc:
            log.warning("slack: could not read who %s is: %s", ident, exc)
            return None

    def _remembered(self, key: str) -> Actor | None:
        found = self._memory.get(key)
        if found is None or self.db.clock.now() > found[0]:
            return None
        return found[1]

    def _remember(self, agent: Agent, key: str, for_: timedelta | None = None) -> Actor:
        """``agent`` under ``key`` and their id, until their name is a day old, or for
        ``for_`` from now."""
        actor = Actor(agent.id, agent.name)
        until = agent.updated_at + FRESH_FOR if for_ is None else self.db.clock.now() + for_
        self._memory[key] = self._memory[agent.id] = (until, actor)
        return actor

    def _stale(self, agent: Agent) -> bool:
        return self.db.clock.now() - agent.updated_at > FRESH_FOR

    async def _ask(
        self, call: Callable[[], Awaitable[AsyncSlackResponse]], ident: str
    ) -> SlackUser:
        """The user a users.* call for ``ident`` (an id or an email) answers with. A 5xx is
        asked again at once, a short rate limit waited out once; what is left is
        ``SlackUnreachable``, and an answer that names nobody ``NotAnAgent``."""
        for last in (False, True):
            try:
                response = await call()
            except SlackApiError as exc:
                status, error = exc.response.status_code, exc.response.get("error")
                if status == 429:
                    wait = _retry_after(exc.response.headers)
                    if not last and wait <= RATE_LIMIT_WAIT:
                        await asyncio.sleep(wait)
                        continue
                    raise SlackUnreachable("Slack is rate limiting look-ups", wait) from None
                if status >= 500 and not last:
                    continue
                if status != 200:
                    raise SlackUnreachable(f"Slack answered HTTP {status}") from None
                if error in NOBODY:
                    raise NotAnAgent(_nobody(ident)) from None
                raise SlackUnreachable(f"Slack answered {error}") from None
            except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
                raise SlackUnreachable(str(exc) or type(exc).__name__) from None
            return self._user(response["user"], ident if is_email(ident) else None)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _user(self, user: dict[str, Any], email: str | None) -> SlackUser:
        """``email``: the address looked up, kept when the answer leaves it out (as
        users.info does without the ``users:read.email`` scope)."""
        profile = user.get("profile") or {}
        agent = Agent(
            id=user["id"],
            email=profile.get("email") or email,
            display_name=(profile.get("display_name") or "").strip() or None,
            real_name=(profile.get("real_name") or user.get("real_name") or "").strip() or None,
            updated_at=self.db.clock.now(),
        )
        bot = bool(user.get("is_bot")) or user["id"] == SLACKBOT
        return SlackUser(agent, deleted=bool(user.get("deleted")), bot=bot)

    async def _learn(self, user: SlackUser) -> Agent:
        """Keeps a person who can own escalations; a deactivated user or a bot only named."""
        if user.refusal() is None:
            await self._store(user.agent)
        return user.agent

    async def _store(self, agent: Agent) -> None:
        try:
            await remember_agent(self.db, agent)
        except DATABASE_ERRORS as exc:
            log.warning("slack: could not remember the name of %s: %s", agent.id, exc)


def _nobody(ident: str) -> str:
    if is_email(ident):
        return f"no Slack user has the email {ident}"
    return f"no Slack user has the id {ident}"


def _retry_after(headers: Mapping[str, Any]) -> int:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(int(value), 0)
            except (TypeError, ValueError):
                break
    return 1
