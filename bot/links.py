"""Links to escalations' threads in Slack, without a Web API call per link: a permalink is
the workspace's URL (from ``auth.test``, asked once) with the channel and the card's ts."""

import logging
import time
from collections.abc import Sequence

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from blocks.queue_entry import thread_link
from storage import threads
from storage.database import Database

log = logging.getLogger("baton.slack")

RETRY_AFTER = 60.0  # seconds: after a failed auth.test, links go without it this long


class ThreadLinks:
    def __init__(self, db: Database, client: AsyncWebClient) -> None:
        self.db, self.client = db, client
        self._workspace_url: str | None = None
        self._failed_at: float | None = None  # monotonic: the last failed auth.test

    async def workspace_url(self) -> str | None:
        if self._workspace_url is None:
            if self._failed_at is not None and time.monotonic() - self._failed_at < RETRY_AFTER:
                return None
            try:
                response = await self.client.auth_test()
            except (SlackApiError, SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
                log.warning("slack: auth.test failed, so no links to threads: %s", exc)
                self._failed_at = time.monotonic()
                return None
            self._failed_at = None
            self._workspace_url = str(response.get("url") or "") or None
        return self._workspace_url

    async def link(self, channel: str, ts: str) -> str | None:
        """The permalink of the message ``ts`` in ``channel``, if the workspace is known."""
        base = await self.workspace_url()
        return None if base is None else thread_link(base, channel, ts)

    async def for_escalations(self, escalation_ids: Sequence[str]) -> dict[str, str]:
        """The thread of each escalation whose card has been posted."""
        cards = await threads.cards_of(self.db, escalation_ids)
        base = await self.workspace_url() if cards else None
        if base is None:
            return {}
        return {esc_id: thread_link(base, t.channel_id, t.thread_ts) for esc_id, t in cards.items()}
