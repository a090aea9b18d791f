"""Publishing users' App Homes: when they open it, when they change a filter or a page, and
again whenever escalations change while it is open.

Refreshing is throttled three ways, so a burst of changes never runs into views.publish's
rate limit (Tier 4, about 100 a minute per workspace): each Home at most once per
``interval`` (a burst becomes one publish with everything in it); publishes at least
``gap`` apart, by one replica at a time (``storage.homes.refresher_turn``); and a 429 stops
publishing for its Retry-After. A refresh publishes only when what a Home shows changed; its
"waiting" times are Slack date tokens that Slack keeps current by itself.
"""

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient

from blocks.home import ENTRIES_PER_PAGE, HomeContent, home_view, page_count, view_hash
from blocks.queue_entry import Entry
from bot.links import ThreadLinks
from storage import homes, queue
from storage.database import Database
from storage.homes import UNSET, Unset
from storage.models import SlackHome
from storage.queue import GROUPS, QueueFilter
from storage.wake import woken

log = logging.getLogger("baton.slack")


@dataclass(frozen=True)
class HomePace:
    interval: float = 5.0  # seconds between two refreshes of one user's Home
    gap: float = 0.6  # seconds between two publishes of this app: 100 a minute
    settle: float = 5.0  # one more look this long after a publish (late commits, clock skew)
    open_for: timedelta = timedelta(hours=12)  # a Home opened this recently counts as open
    poll: float = 1.0  # how often to look for other replicas' changes
    batch: int = 50  # Homes looked at per round


class AppHomes:
    def __init__(self, db: Database, client: AsyncWebClient, pace: HomePace | None = None):
        self.db, self.client = db, client
        self.pace = pace or HomePace()
        self.links = ThreadLinks(db, client)
        self._next_publish = 0.0  # monotonic: the gap, or a 429's Retry-After
        self._wake = asyncio.Event()

    # -- what users do ------------------------------------------------------------------

    async def opened(self, user_id: str) -> None:
        """``app_home_opened``: published every time, as Slack advises (a Home may have been
        published by an older version, or never); opening is at a person's pace."""
        await self.show(await homes.opened(self.db, user_id))

    async def show(self, home: SlackHome) -> bool:
        """Publish ``home`` now: the user is looking and has just asked for it. Never skipped
        because the stored hash matches: that hash may still be an earlier click's, whose
        publish Slack has shown but whose answer is not recorded yet."""
        return await self._publish(home, changed=True, force=True)

    # -- the refresher ------------------------------------------------------------------

    async def refresh_due(self) -> int:
        """One round: publish the open Homes that escalation changes made stale. Returns how
        many were published."""
        published = 0
        async with homes.refresher_turn(self.db) as mine:
            if not mine:
                return 0
            mark = await homes.change_mark(self.db)
            open_since = self.db.clock.now() - self.pace.open_for
            channels: list[str] | None = None  # read once per round, when a Home is claimed
            for home in await homes.due(
                self.db, mark, open_since=open_since, limit=self.pace.batch
            ):
                changed = mark is not None and (
                    home.seen_through is None or home.seen_through < mark
                )
                until = self.db.clock.now() + timedelta(seconds=self.pace.interval)
                claimed = await homes.claim(self.db, home.user_id, until)
                if claimed is None:
                    continue
                if channels is None:
                    channels = await queue.customer_channels(self.db)
                if await self._publish(claimed, changed=changed, mark=mark, channels=channels):
                    published += 1
        return published

    async def run(self) -> None:
        """Refresh until cancelled: at once after a commit here, every ``poll`` otherwise."""
        self.db.on_commit(self._wake.set)
        while True:
            try:
                await self.refresh_due()
            except Exception:  # a bad round must not end refreshing
                log.exception("slack: refreshing App Homes failed")
            await woken(self._wake, self.pace.poll)
            self._wake.clear()

    # -- rendering and publishing ---------------------------------------------------------

    async def render(self, home: SlackHome, channels: Sequence[str] | None = None) -> View:
        """``home``'s view; ``channels`` (for the channel filter) are read when not given."""
        f = QueueFilter(home.priority, home.channel)
        totals = await queue.counts(self.db, home.user_id, f)
        page = min(home.page, page_count(totals.total) - 1)
        rows = await queue.page(
            self.db,
            home.user_id,
            f,
            offset=page * ENTRIES_PER_PAGE,
            limit=ENTRIES_PER_PAGE,
        )
        links = await self.links.for_escalations([esc.id for _, esc in rows])
        content = HomeContent(
            counts={g.value: totals.of(g) for g in GROUPS},
            entries=[(g.value, Entry(esc, links.get(esc.id))) for g, esc in rows],
            page=page,
            priority=home.priority,
            channel=home.channel,
            channels=await queue.customer_channels(self.db) if channels is None else channels,
        )
        return home_view(content)

    async def _publish(
        self,
        home: SlackHome,
        *,
        changed: bool,
        force: bool = False,
        mark: datetime | Unset | None = UNSET,
        channels: Sequence[str] | None = None,
    ) -> bool:
        """``mark`` is the change mark read before rendering (changes after it show next):
        the refresher's round passes its own, a user's click reads it here."""
        if mark is UNSET:
            mark = await homes.change_mark(self.db)
        view = await self.render(home, channels)
        digest = view_hash(view)
        settle = self._later(self.pace.settle) if changed else None
        if digest == home.view_hash and not force:
            await homes.shown(
                self.db,
                home,
                view_hash=digest,
                seen_through=mark,
                settle_at=settle,
            )
            return False
        await self._wait_for_slot()
        try:
            await self.client.views_publish(user_id=home.user_id, view=view)
        except SlackApiError as exc:
            if exc.response.status_code == 429:
                wait = _retry_after(exc)
                log.info("slack: views.publish rate limited; waiting %ss", wait)
                self._next_publish = max(self._next_publish, time.monotonic() + wait)
                await homes.hold(self.db, home.user_id, self._later(wait))
                return False
            # Not getting better by itself (the Home tab is off, the user is gone): say so
            # once, and mark it seen so it is not retried on every change.
            log.warning("slack: views.publish for %s: %s", home.user_id, exc.response.get("error"))
            await homes.shown(self.db, home, view_hash=digest, seen_through=mark, settle_at=None)
            return False
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("slack: views.publish for %s failed: %s", home.user_id, exc)
            return False  # still stale: the next round after the throttle tries again
        await homes.shown(self.db, home, view_hash=digest, seen_through=mark, settle_at=settle)
        return True

    async def _wait_for_slot(self) -> None:
        now = time.monotonic()
        slot = max(now, self._next_publish)
        self._next_publish = slot + self.pace.gap
        if slot > now:
            await asyncio.sleep(slot - now)

    def _later(self, seconds: float) -> datetime:
        return self.db.clock.now() + timedelta(seconds=seconds)


def _retry_after(exc: SlackApiError) -> int:
    headers = exc.response.headers or {}
    raw = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    try:
        return max(1, int(raw)) if raw is not None else 1
    except (TypeError, ValueError):
        return 1
