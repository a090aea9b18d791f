"""What Baton writes into the metadata of its posts, and reading it back.

Every post carries its escalation and a key (``card``, ``intro:0``, a message id…), so a
post can be recognised in Slack without the database: a sender unsure whether an earlier
attempt went through looks for its key, and a reply under a card whose post Baton has not
recorded yet (Slack answered late, or the answer was lost) still finds its escalation.
"""

import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from storage.rerouting import Rerouted

log = logging.getLogger("baton.slack")

METADATA_TYPE = "baton_post"
CARD_KEY = "card"


def post_metadata(escalation_id: str, key: str, rerouted: Rerouted | None = None) -> dict[str, Any]:
    """A card posted away from the channel routing picked also says which and why, so that
    whoever records its thread records that too."""
    payload = {"escalation_id": escalation_id, "key": key}
    if rerouted is not None:
        payload.update(routed_to=rerouted.channel, refused_with=rerouted.error)
    return {"event_type": METADATA_TYPE, "event_payload": payload}


def post_key(message: dict[str, Any]) -> tuple[str, str] | None:
    """The escalation and key of a post of Baton's; None for any other message."""
    metadata = message.get("metadata") or {}
    if metadata.get("event_type") != METADATA_TYPE:
        return None
    payload = metadata.get("event_payload") or {}
    escalation_id, key = payload.get("escalation_id"), payload.get("key")
    if not isinstance(escalation_id, str) or not isinstance(key, str):
        return None
    return escalation_id, key


def key_for(message: dict[str, Any], escalation_id: str) -> str | None:
    """The key of a post of Baton's about ``escalation_id``; None for any other message."""
    found = post_key(message)
    return found[1] if found is not None and found[0] == escalation_id else None


class Unreadable(Exception):
    """Slack could not show the post (an outage, a rate limit, a missing scope)."""


@dataclass(frozen=True)
class CardPost:
    """A card of Baton's as Slack shows it: its escalation, and why it is not where routing
    sent it, if it is not."""

    escalation_id: str
    rerouted: Rerouted | None


async def card_post(client: AsyncWebClient, channel: str, ts: str) -> CardPost | None:
    """The card that is the post at ``ts`` in ``channel``, read from Slack; None if that
    post is not a card of Baton's."""
    try:
        response = await client.conversations_history(
            channel=channel, latest=ts, inclusive=True, limit=1, include_all_metadata=True
        )
    except SlackApiError as exc:
        raise Unreadable(str(exc.response.get("error"))) from exc
    except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
        raise Unreadable(type(exc).__name__) from exc
    for message in response.get("messages") or []:
        found = post_key(message)
        if message.get("ts") == ts and found is not None and found[1] == CARD_KEY:
            return CardPost(found[0], _rerouted(message))
    return None


def _rerouted(message: dict[str, Any]) -> Rerouted | None:
    payload = (message.get("metadata") or {}).get("event_payload") or {}
    channel, error = payload.get("routed_to"), payload.get("refused_with")
    if isinstance(channel, str) and isinstance(error, str):
        return Rerouted(channel, error)
    return None
