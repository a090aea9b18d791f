"""Posting the managers' daily digest to Slack: the message, then the day's chart in its
thread when the ``charts`` extra is installed.

The digest carries its day in message metadata, so a sender that is unsure whether an
earlier attempt posted (it crashed, or the connection dropped after Slack accepted the
post) looks in the channel before posting again.
"""

import logging
from datetime import date
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from blocks.charts import day_chart
from blocks.digest import digest_message, title
from bot.links import ThreadLinks
from storage.database import Database
from storage.digest import compute
from storage.models import Day, Digest

log = logging.getLogger("baton.digest")

METADATA_TYPE = "baton_digest"
HISTORY_LOOKBACK = 200  # messages: the digest is posted within minutes of its claim


class DigestPoster:
    def __init__(self, db: Database, client: AsyncWebClient, channel: str, timezone: str) -> None:
        self.db, self.client = db, client
        self.channel, self.timezone = channel, timezone
        self.links = ThreadLinks(db, client)

    async def digest(self, day: date) -> Digest:
        return await compute(self.db, Day.of(day, self.timezone))

    async def send(self, day: date, look_first: bool) -> tuple[str, str]:
        """The scheduler's way in: the channel and ts of ``day``'s digest."""
        return self.channel, await self.post(day, look_first=look_first)

    async def post(self, day: date, *, look_first: bool = False) -> str:
        """Post ``day``'s digest; returns its ts. With ``look_first``, a digest of that day
        already in the channel is taken as posted."""
        if look_first:
            found = await self._posted(day)
            if found is not None:
                log.info("digest of %s already in %s (ts %s)", day, self.channel, found)
                return found
        digest = await self.digest(day)
        message = digest_message(digest, self.db.clock.now(), await self._links(digest))
        response = await self.client.chat_postMessage(
            channel=self.channel,
            text=message.text,
            blocks=message.blocks_as_dicts(),
            metadata={"event_type": METADATA_TYPE, "event_payload": {"day": day.isoformat()}},
            unfurl_links=False,
            unfurl_media=False,
        )
        ts = str(response["ts"])
        await self._attach_chart(digest, ts)
        return ts

    async def _links(self, digest: Digest) -> dict[str, str]:
        """The waiting escalations' cards, built from the workspace's URL (no call per link)."""
        links = {}
        for waiting in digest.waiting:
            if waiting.slack_channel is None or waiting.slack_ts is None:
                continue
            link = await self.links.link(waiting.slack_channel, waiting.slack_ts)
            if link is None:  # auth.test failed: listed without links
                break
            links[waiting.escalation_id] = link
        return links

    async def _attach_chart(self, digest: Digest, ts: str) -> None:
        chart = day_chart(digest)
        if chart is None:
            return
        try:
            await self.client.files_upload_v2(
                channel=self.channel,
                thread_ts=ts,
                content=chart,
                filename=f"escalations-{digest.day.day.isoformat()}.png",
                title=title(digest),
            )
        except SlackApiError as exc:  # the chart is a bonus: the digest itself is out
            error = exc.response.get("error")
            if error == "missing_scope":
                error = f"missing_scope: the app needs {exc.response.get('needed')}"
            log.warning("digest of %s: the chart was not attached (%s)", digest.day.day, error)
        except Exception:
            log.exception("digest of %s: the chart could not be attached", digest.day.day)

    async def _posted(self, day: date) -> str | None:
        response = await self.client.conversations_history(
            channel=self.channel, limit=HISTORY_LOOKBACK, include_all_metadata=True
        )
        messages: list[dict[str, Any]] = response.get("messages", [])
        for message in messages:
            if _digest_day(message) == day.isoformat():
                return str(message["ts"])
        return None


def _digest_day(message: dict[str, Any]) -> str | None:
    metadata = message.get("metadata") or {}
    if metadata.get("event_type") != METADATA_TYPE:
        return None
    return (metadata.get("event_payload") or {}).get("day")
