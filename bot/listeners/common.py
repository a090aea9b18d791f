"""What every listener shares: its dependencies, and telling one person what happened."""

import asyncio
import json
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
from slack_bolt.async_app import AsyncAck
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from blocks import notices
from bot.mentions import ChannelNames
from bot.people import People
from storage.database import DATABASE_ERRORS, Database, cause, unavailable
from storage.errors import (
    AlreadySent,
    Conflict,
    InvalidTransition,
    NotFound,
    NotOwner,
    StorageError,
)
from storage.machine import Actor, Machine

log = logging.getLogger("baton.slack")
T = TypeVar("T")
ANSWER_WITHIN = 2.0  # seconds to answer Slack in: what is left of its 3 covers the way back


@dataclass(frozen=True)
class Deps:
    db: Database
    machine: Machine
    people: People
    channels: ChannelNames = field(default_factory=ChannelNames)
    max_file_bytes: int = 25 * 1024**2  # the largest file sent to the customer

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
    if isinstance(exc, AlreadySent):
        return notices.suggestion_sent(exc.sent_by)
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


@dataclass(frozen=True)
class Failed:
    """What someone asked from Slack did not happen; ``notice`` tells them why."""

    notice: str
    refused: bool  # storage said no (final); otherwise the database failed (try again)


async def outcome(action: Awaitable[T]) -> T | Failed:
    """Run what someone asked from Slack: a change, or the reads it takes (an escalation
    before its modal opens, a Home, a list). A refusal or a database that failed comes back
    as a ``Failed``, for the caller to answer the person in the way its request allows."""
    try:
        return await action
    except StorageError as exc:
        return Failed(refusal(exc), refused=True)
    except DATABASE_ERRORS as exc:
        if unavailable(exc):
            log.warning("slack: the database is unavailable (%s)", type(cause(exc)).__name__)
        else:
            log.exception("slack: what was asked from Slack failed")
        return Failed(notices.trouble(), refused=False)


async def attempt(client: AsyncWebClient, where: Where, action: Awaitable[T]) -> T | None:
    """Run what someone asked from Slack; a refusal or a failure is told to them (ephemeral,
    or in a DM). None then: they know, there is nothing more to do."""
    result = await outcome(action)
    if isinstance(result, Failed):
        await tell(client, where, result.notice)
        return None
    return result


async def submit(
    ack: AsyncAck, client: AsyncWebClient, where: Where, change: Awaitable[T], input_id: str
) -> T | None:
    """The change a modal's submission asks for, answered within Slack's 3 seconds. Done in
    time, the modal closes. The database failing, the modal stays open with why under
    ``input_id``, everything typed in it kept, so that submitting again is all it takes.
    Refused, it closes and the person is told why, as ``attempt`` does; so is whatever
    comes of a change that outlasts the time Slack gives."""
    running = asyncio.ensure_future(outcome(change))
    try:
        result = await asyncio.wait_for(asyncio.shield(running), ANSWER_WITHIN)
    except TimeoutError:
        await ack()
        result = await running
    else:
        if isinstance(result, Failed) and not result.refused:
            await ack(response_action="errors", errors={input_id: notices.trouble_in_modal()})
            return None
        await ack()
    if isinstance(result, Failed):
        await tell(client, where, result.notice)
        return None
    return result
