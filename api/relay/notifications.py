"""The notifier: delivers ``[[notifications]]`` emails and webhooks (the ``notify`` outbox).

Each row names its entry by key and carries the event body frozen at commit. Emails are
rendered when sent, with the Slack card's link (a new card gets a minute to be posted) and,
if the entry asks, the conversation. Webhooks follow the relay's rules: Standard Webhooks
signing with the entry's secret, the same ``webhook-id`` on every attempt, every hop's
address checked, ``Retry-After`` honoured, 410 parks. A failure is retried with back-off
for 24 hours and then parked; what retrying cannot fix (a refused SMTP login, an entry no
longer configured) is parked at once, saying why.
"""

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from api.notification_config import EmailEntry, WebhookEntry
from api.relay import smtp, webhooks
from api.relay.callback_urls import Resolver, system_resolver
from api.relay.webhooks import Outcome
from blocks.email import EmailTemplates, Notice, TranscriptLine, email_message
from bot.links import ThreadLinks
from storage.database import Database
from storage.models import Topic
from storage.notifications import HOURLY_EMAIL
from storage.outbox.deliveries import Claimed
from storage.outbox.worker import OutboxWorker
from storage.queries import get_history

log = logging.getLogger("baton.notify")

FIRST_RETRY = timedelta(seconds=5)
LONGEST_WAIT = timedelta(hours=1)
CARD_WAIT = timedelta(minutes=1)  # how long an email waits for its card to be posted
CARD_RETRY = timedelta(seconds=2)

Entry = EmailEntry | WebhookEntry


@dataclass(frozen=True)
class Mail:
    """How emails go: the server, and the texts."""

    server: smtp.SmtpServer
    templates: EmailTemplates


class Notifier(OutboxWorker):
    topic = Topic.notify
    first_retry, longest_wait = FIRST_RETRY, LONGEST_WAIT

    def __init__(
        self,
        db: Database,
        entries: Sequence[Entry],
        *,
        mail: Mail | None = None,
        links: ThreadLinks | None = None,
        allow_private: bool = False,
        resolver: Resolver = system_resolver,
        timeout: httpx.Timeout | None = None,
        concurrency: int = 8,
        poll_interval: float = 1.0,
        rng: Callable[[], float] = random.random,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``links``: the cards' links (None without Slack: emails go without one)."""
        super().__init__(
            db, "notify", concurrency=concurrency, poll_interval=poll_interval, rng=rng
        )
        self.entries: Mapping[str, Entry] = {entry.key: entry for entry in entries}
        self.mail, self.links = mail, links
        self.allow_private, self.resolver = allow_private, resolver
        self._signers = {
            e.key: Webhook(e.signing_secret()) for e in entries if isinstance(e, WebhookEntry)
        }
        self._http = webhooks.client(timeout or httpx.Timeout(10.0, connect=5.0), transport)

    async def aclose(self, grace: float = 0.0) -> None:
        await super().aclose(grace)
        await self._http.aclose()

    async def _deliver(self, row: Claimed) -> None:
        entry = self.entries.get(row.payload.get("subscription", ""))
        try:
            if entry is None:
                await self._park(row, "its [[notifications]] entry is no longer configured")
            elif isinstance(entry, WebhookEntry):
                await self._record(row, await self._post(row, entry))
            else:
                await self._email(row, entry)
        except Exception:
            log.exception("notify: delivery %s (%s) failed unexpectedly", row.id, row.kind)
            await self._failed(row, "unexpected error (see the log)", self._backoff(row))

    # ------------------------------------------------------------------------- webhooks

    async def _post(self, row: Claimed, entry: WebhookEntry) -> Outcome:
        return await webhooks.deliver(
            self._http,
            entry.url,
            self._signers[entry.key],
            row.event_id or f"outbox_{row.id}",
            row.payload["event"],
            allow_private=self.allow_private,
            resolver=self.resolver,
            now=self.db.clock.now(),
        )

    async def _record(self, row: Claimed, outcome: Outcome) -> None:
        if outcome.delivered:
            await self._done(row)
        elif outcome.gone:
            log.warning("notify: %s answered 410 Gone; parked %s", row.lane, row.event_id)
            await self._park(row, f"{outcome.error} (gone)")
        else:
            wait = max(self._backoff(row), outcome.retry_after or timedelta(0))
            await self._failed(row, outcome.error or "failed", wait)

    # --------------------------------------------------------------------------- emails

    async def _email(self, row: Claimed, entry: EmailEntry) -> None:
        if self.mail is None:
            await self._park(row, "email notifications need an [smtp] section")
            return
        if row.kind == HOURLY_EMAIL:
            events = row.payload["events"]
            links = await self._links([e["data"]["escalation_id"] for e in events])
            notices = [await self._notice(e, entry, links) for e in events]
            start = datetime.fromisoformat(row.payload["hour"])
            rendered = self.mail.templates.batch(notices, start, start + timedelta(hours=1))
        else:
            event = row.payload["event"]
            links = await self._links([event["data"]["escalation_id"]])
            if not links and self._young(row):
                await self._failed(row, "waiting for the card", CARD_RETRY, untried=True)
                return
            rendered = self.mail.templates.notification(await self._notice(event, entry, links))
        message = email_message(
            rendered, sender=self.mail.server.sender, to=entry.to, date=self.db.clock.now()
        )
        try:
            await smtp.send(self.mail.server, message)
        except smtp.SmtpFailure as exc:
            if exc.permanent:
                log.error("notify: email to %s refused: %s", ", ".join(entry.to), exc)
                await self._park(row, str(exc))
            else:
                await self._failed(row, str(exc), self._backoff(row))
            return
        await self._done(row)

    def _young(self, row: Claimed) -> bool:
        """Still within the time a new card is given to be posted (with Slack)."""
        created = row.created_at or self.db.clock.now()
        return self.links is not None and self.db.clock.now() - created < CARD_WAIT

    async def _links(self, escalation_ids: Sequence[str]) -> Mapping[str, str]:
        """The cards' links, of those posted (none without Slack)."""
        if self.links is None:
            return {}
        return await self.links.for_escalations(escalation_ids)

    async def _notice(
        self, event: dict[str, Any], entry: EmailEntry, links: Mapping[str, str]
    ) -> Notice:
        """The event as an email shows it: with its card's link and, if the entry asks,
        the conversation."""
        esc_id = event["data"]["escalation_id"]
        lines: list[TranscriptLine] = []
        if entry.include_transcript:
            messages, _ = await get_history(self.db, esc_id)
            lines = [
                TranscriptLine(str(m.role), m.author_name, m.content, m.sent_at) for m in messages
            ]
        return Notice(event, links.get(esc_id), lines)

    # ---------------------------------------------------------------------------- logging

    def _retrying(self, row: Claimed, error: str, wait: timedelta) -> None:
        log.info(
            "notify: %s %s attempt %d failed (%s); next in %.0fs",
            row.kind,
            row.event_id,
            row.attempts + 1,
            error,
            wait.total_seconds(),
        )

    def _giving_up(self, row: Claimed, error: str) -> str:
        log.warning(
            "notify: giving up on %s %s after %d attempts: %s",
            row.kind,
            row.event_id,
            row.attempts + 1,
            error,
        )
        return error
