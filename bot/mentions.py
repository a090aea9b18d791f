"""The names behind a Slack message's mentions, for the text the customer reads.

People come from the people cache (one users.info per unknown user); channels from
conversations.info, kept in memory for a day. Anything Slack cannot name stays an id.
"""

import asyncio
import logging
import time
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from blocks.relay_text import Names, RelayText, mentioned, relay_text
from bot.people import FRESH_FOR, People

log = logging.getLogger("baton.slack")


class ChannelNames:
    """Channel id → name (without ``#``), from conversations.info."""

    def __init__(self) -> None:
        self._memory: dict[str, tuple[float, str]] = {}

    async def name(self, client: AsyncWebClient, channel_id: str) -> str | None:
        cached = self._memory.get(channel_id)
        if cached is not None and time.monotonic() - cached[0] < FRESH_FOR.total_seconds():
            return cached[1]
        try:
            response = await client.conversations_info(channel=channel_id)
        except SlackApiError as exc:
            error = exc.response.get("error")
            log.warning("slack: conversations.info for %s failed: %s", channel_id, error)
            return None
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("slack: conversations.info for %s failed: %s", channel_id, exc)
            return None
        name = (response.get("channel") or {}).get("name")
        if not isinstance(name, str) or not name:
            return None
        self._memory[channel_id] = (time.monotonic(), name)
        return name


async def customer_text(
    people: People, channels: ChannelNames, client: AsyncWebClient, message: dict[str, Any]
) -> RelayText:
    """What the customer reads of ``message``, its mentions resolved first."""
    wanted = mentioned(message)
    user_ids, channel_ids = sorted(wanted.users), sorted(wanted.channels)
    actors = await asyncio.gather(*(people.actor(u) for u in user_ids))
    found = await asyncio.gather(*(channels.name(client, c) for c in channel_ids))
    names = Names(
        users={actor.id: actor.name for actor in actors},
        channels={c: name for c, name in zip(channel_ids, found, strict=True) if name},
    )
    return relay_text(message, names)
