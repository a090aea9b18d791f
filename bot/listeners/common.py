"""What every listener shares: its dependencies, and telling one person what happened."""

import json
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.exc import SQLAlchemyError

from blocks import notices
from bot.people import People
from storage.database import Database
from storage.errors import Conflict, InvalidTransition, NotFound, NotOwner, StorageError
from storage.machine import Actor, Machine

log = logging.getLogger("baton.slack")
T = TypeVar("T")


@dataclass(frozen=True)
class Deps:
    db: Database
    machine: Machine
    people: People

    async def actor_of(self, body: dict[str, Any]) -> Actor:
        """Who clicked or submitted, with the name customers see."""
        user = body["user"]
        return await self.people.actor(user["id"], user.get("username") or user.get("name"))


@dataclass(frozen=True)
class Where:
    """Who to answer, and where: a channel, and the thread if there is one."""

    channel: str
    user: str
    thread_ts: str | None = None

    def metadata(self, escalation_id: str) -> str:
        """A modal's private_metadata: enough to answer in the right place on submit."""
        return json.dumps(
            {"esc": escalation_id, "channel": self.channel, "thread_ts": self.thread_ts}
        )

    @classmethod
    def from_metadata(cls, raw: str, user: str) -> tuple[str, "Where"]:
        data = json.loads(raw or "{}")
        return str(data.get("esc", "")), cls(
            data.get("channel") or user, user, data.get("thread_ts")
        )


def refusal(exc: StorageError) -> str:
    if isinstance(exc, Conflict):
        return notices.already_taken(exc.owner_id, exc.owner_name)
    if isinstance(exc, NotOwner):
        return notices.only_owner(exc.action, exc.owner_id, exc.owner_name)
    if isinstance(exc, InvalidTransition):
        return notices.not_possible(exc.action, exc.status)
    if isinstance(exc, NotFound):
        return notices.unknown_escalation()
    return str(exc)


async def tell(
    client: AsyncWebClient, where: Where, text: str, blocks: list[dict[str, Any]] | None = None
) -> None:
    """An ephemeral message; in a DM with the bot if the channel does not take one."""
    try:
        await client.chat_postEphemeral(
            channel=where.channel,
            user=where.user,
            text=text,
            blocks=blocks,
            thread_ts=where.thread_ts,
        )
        return
    except SlackApiError as exc:
        error = exc.response.get("error")
        if error not in ("user_not_in_channel", "channel_not_found", "not_in_channel"):
            log.warning("slack: could not tell %s: %s", where.user, error)
            return
    except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
        log.warning("slack: could not tell %s: %s", where.user, exc)
        return
    try:
        await client.chat_postMessage(channel=where.user, text=text, blocks=blocks)
    except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
        log.warning("slack: could not tell %s in a DM either: %s", where.user, exc)


async def attempt(client: AsyncWebClient, where: Where, action: Awaitable[T]) -> T | None:
    """Run a state change; a refusal or a failure is told to the person who asked."""
    try:
        return await action
    except StorageError as exc:
        await tell(client, where, refusal(exc))
    except (SQLAlchemyError, OSError):
        log.exception("slack: a change asked from Slack failed")
        await tell(client, where, notices.trouble())
    return None
