"""The Slack delivery worker: turns the slack outbox into cards, thread posts and reactions.

Rows are rendered from the database as it is when they run, so a card update always shows
the latest state (and covers every update queued before it). Order per escalation comes
from the outbox; pace per channel from ``ChannelPacer``. A row waiting for its channel's
turn is not at work: the worker holds many more rows than it works on at once, so one busy
channel does not hold up the others. Nothing is posted twice: every post carries its
escalation and a key in message metadata, and a row whose earlier attempt may have taken
effect (a timeout, a crash) first looks in Slack for what it was about to post. Errors
Slack calls transient are retried for 24 hours; the rest park the row with a log line that
says what to fix. A card that the channel routing picked refuses (the bot is not in it, it
does not exist, it is archived) is not parked: it goes to the escalation channel with a line
saying why, and the managers are told once per channel (storage.rerouting).
"""

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import httpx
from prometheus_client import CollectorRegistry, Counter
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from blocks.card import CardMessage, escalation_card
from blocks.notifications import notification_post
from blocks.reminders import owner_nudge
from blocks.rerouting import rerouted_for_managers, rerouted_line
from blocks.sla import sla_alert, sla_breach_for_managers, sla_breach_for_owner
from blocks.suggestions import suggestion_post
from blocks.thread import (
    agent_message,
    auto_closed_message,
    customer_message,
    delivery_failed,
    file_not_attached,
    intro_messages,
    rating_message,
)
from blocks.thread import note_message as note_post
from bot.config import SlackNotice
from bot.files import FetchedFile, FileSource, NotFetched
from bot.pacing import ChannelPacer
from bot.posts import CARD_KEY, key_for, post_metadata
from bot.routing import Router
from storage import attachments, rerouting, suggestions, threads
from storage.database import Database
from storage.models import (
    Escalation,
    Event,
    FileAttachment,
    FileState,
    Role,
    SlackThread,
    Status,
    Suggestion,
    Topic,
)
from storage.outbox import deliveries
from storage.outbox.deliveries import Claimed
from storage.outbox.rows import SlackEffect
from storage.outbox.worker import OutboxWorker
from storage.platforms import PlatformNames
from storage.rerouting import Rerouted

log = logging.getLogger("baton.slack")

FIRST_RETRY = timedelta(seconds=1)
LONGEST_WAIT = timedelta(minutes=5)
DEFER_AFTER = 10.0  # a row facing a longer pacing wait gives its place to other channels
# A row that waited this long for a place at work renews its lease before it starts.
RENEW_AFTER = deliveries.LEASE / 4
# A customer's file whose server keeps failing is shown as its link after this many tries.
FETCH_ATTEMPTS = 4
UPLOAD_TIMEOUT = httpx.Timeout(120.0, connect=10.0)
LOOKBACK = timedelta(minutes=10)  # how far before a row a lost card post may be found
HISTORY_PAGES = 5

# Slack's documented transient errors; every other ok:false answer will not get better by
# itself (a missing channel, a revoked token, a rejected block).
TRANSIENT = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
)
ACCEPTABLE = {"reactions.add": "already_reacted", "reactions.remove": "no_reaction"}
# What a routed channel may answer that the escalation channel may not: its card goes there.
UNREACHABLE = frozenset({"not_in_channel", "channel_not_found", "is_archived"})
FIXES = {
    "not_in_channel": "invite the bot to the channel (/invite @Baton)",
    "channel_not_found": "check BATON_ESCALATION_CHANNEL / routing: the channel id is wrong "
    "or the bot cannot see it",
    "is_archived": "unarchive the channel or route escalations elsewhere",
    "invalid_auth": "SLACK_BOT_TOKEN is wrong",
    "not_authed": "set SLACK_BOT_TOKEN",
    "token_revoked": "reinstall the app and set the new SLACK_BOT_TOKEN",
    "account_inactive": "reinstall the app and set the new SLACK_BOT_TOKEN",
    "missing_scope": "add the scope under OAuth & Permissions → Bot Token Scopes (manifest.yml "
    "asks for every scope Baton needs) and reinstall the app; `baton doctor` lists what is missing",
}
REACTIONS = {"delivered": "white_check_mark", "retrying": "hourglass_flowing_sand", "failed": "x"}


class Retry(Exception):
    def __init__(self, error: str, wait: timedelta | None = None) -> None:
        super().__init__(error)
        self.error, self.wait = error, wait


class Lost(Exception):
    """The row's lease ran out while it waited, and another worker holds it now."""


class Park(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class SlackMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.calls = Counter(
            "baton_slack_calls_total",
            "Slack Web API calls made by the delivery worker",
            ["method", "outcome"],
            registry=registry,
        )
        self.parked = Counter(
            "baton_slack_parked_total",
            "Slack outbox rows given up on, by Slack's error",
            ["error"],
            registry=registry,
        )


@dataclass
class _Attempt:
    """One try at one outbox row."""

    row: Claimed
    posted: bool = False  # something reached Slack during this try
    at_work: bool = False  # holds one of the worker's places at work
    in_thread: dict[str, str] | None = None  # what Baton already posted there, by key


_Handler = Callable[[_Attempt, SlackThread], Awaitable[None]]


class SlackDelivery(OutboxWorker):
    topic = Topic.slack
    first_retry, longest_wait = FIRST_RETRY, LONGEST_WAIT

    def __init__(
        self,
        db: Database,
        client: AsyncWebClient,
        router: Router,
        *,
        pacer: ChannelPacer | None = None,
        concurrency: int = 16,
        in_hand: int = 128,
        poll_interval: float = 1.0,
        metrics: SlackMetrics | None = None,
        rng: Callable[[], float] = random.random,
        managers_channel: str | None = None,
        oncall_group: str | None = None,
        files: FileSource | None = None,
        upload_transport: httpx.AsyncBaseTransport | None = None,
        notices: Mapping[str, SlackNotice] | None = None,
    ) -> None:
        """``files`` fetches customers' attachments (none: they stay links); ``notices``
        are the [[notifications]] entries of kind slack, by key."""
        # ``concurrency`` rows at work (database and Slack calls) at once; up to ``in_hand``
        # claimed, the rest waiting for their channel's turn or for a place at work.
        super().__init__(
            db, "slack", concurrency=max(in_hand, concurrency), poll_interval=poll_interval, rng=rng
        )
        self._at_work = asyncio.Semaphore(concurrency)
        self.client, self.router = client, router
        self.managers_channel, self.oncall_group = managers_channel, oncall_group
        self.pacer = pacer or ChannelPacer()
        self.metrics = metrics
        self.files = files
        self.notices = notices or {}
        self._uploads = httpx.AsyncClient(timeout=UPLOAD_TIMEOUT, transport=upload_transport)
        self._team_id: str | None = None
        self._bot_name = "Baton"  # as auth.test names the bot, once asked
        self._platform_names = PlatformNames(db)
        # What each kind does, once the card is in Slack (``_handle``).
        self._handlers: dict[SlackEffect, _Handler] = {
            SlackEffect.CARD_UPDATE: self._update_card,
            SlackEffect.THREAD_MESSAGE: self._thread_message,
            SlackEffect.THREAD_NOTE: self._thread_note,
            SlackEffect.REPLY_STATUS: self._reply_status,
            SlackEffect.SLA_ALERT: self._sla,
            SlackEffect.SLA_MANAGERS: self._sla,
            SlackEffect.SLA_OWNER: self._sla,
            SlackEffect.OWNER_NUDGE: self._owner_nudge,
            SlackEffect.CARD_REROUTED: self._rerouted_notice,
            SlackEffect.FILE_UPLOAD: self._upload_file,
            SlackEffect.RATING: self._rating,
            SlackEffect.AUTO_CLOSED: self._auto_closed,
            SlackEffect.SUGGESTION: self._suggestion,
            SlackEffect.NOTIFY: self._notify,
        }

    async def aclose(self, grace: float = 0.0) -> None:
        await super().aclose(grace)
        await self._uploads.aclose()
        if self.files is not None:
            await self.files.aclose()

    # --------------------------------------------------------------------------- outcome

    async def _deliver(self, row: Claimed) -> None:
        attempt = _Attempt(row)
        claimed_at = self.db.clock.now()
        await self._at_work.acquire()
        attempt.at_work = True
        try:
            if self.db.clock.now() - claimed_at > RENEW_AFTER and not await self._keep(attempt):
                return
            await self._attempt(attempt)
        finally:
            if attempt.at_work:
                self._at_work.release()

    async def _keep(self, attempt: _Attempt, seconds_more: float = 0.0) -> bool:
        """Renew the row's lease for a wait of ``seconds_more``, or after a long one; False
        (and a log line) if the lease ran out and another worker has the row now: it is
        theirs to deliver, not this worker's."""
        if await self._renew(attempt.row, seconds_more):
            return True
        row = attempt.row
        log.info("slack: %s for %s went to another worker", row.kind, row.escalation_id)
        return False

    async def _attempt(self, attempt: _Attempt) -> None:
        row = attempt.row
        try:
            await self._handle(attempt)
        except Lost:
            return
        except Retry as retry:
            await self._retry(attempt, retry)
        except Park as park:
            await self._park(row, park.error)
        except Exception:
            log.exception("slack: %s for %s failed unexpectedly", row.kind, row.escalation_id)
            await self._retry(attempt, Retry("unexpected error (see the log)"))
        else:
            await self._done(row)

    async def _retry(self, attempt: _Attempt, retry: Retry) -> None:
        row = attempt.row
        wait = retry.wait or self._backoff(row)
        # Rate limited before anything happened: the row goes back without counting an attempt.
        untried = retry.error == "ratelimited" and not attempt.posted and not row.uncertain
        await self._failed(row, retry.error, wait, untried=untried)

    def _retrying(self, row: Claimed, error: str, wait: timedelta) -> None:
        log.info(
            "slack: %s for %s failed (%s); next try in %.0fs",
            row.kind,
            row.escalation_id,
            error,
            wait.total_seconds(),
        )

    def _giving_up(self, row: Claimed, error: str) -> str:
        return f"{error} (retried for 24 hours)"

    async def _park(self, row: Claimed, error: str) -> None:
        code = error.split(" ", 1)[0]
        fix = FIXES.get(code)
        if fix and row.kind == SlackEffect.NOTIFY:
            fix = "check the channel of the [[notifications]] entry, and /invite the bot there"
        log.warning(
            "slack: gave up on %s for escalation %s: %s%s",
            row.kind,
            row.escalation_id,
            error,
            f" — to fix: {fix}" if fix else "",
        )
        if self.metrics is not None:
            self.metrics.parked.labels(code).inc()
        await super()._park(row, error)

    # ---------------------------------------------------------------------------- kinds

    async def _handle(self, attempt: _Attempt) -> None:
        row = attempt.row
        if row.kind == SlackEffect.CARD_POST:
            await self._post_card(attempt)
            return
        thread = await threads.thread_of(self.db, row.escalation_id)
        if thread is None:
            # The card was never posted (its post was given up on): post it now, then this.
            thread = await self._post_card(attempt)
            if row.kind == SlackEffect.CARD_UPDATE:
                return  # the card just posted shows the latest state
        try:
            handler = self._handlers[SlackEffect(row.kind)]
        except (ValueError, KeyError):  # no such kind, or none handled here
            raise Park(f"unknown slack outbox kind {row.kind!r}") from None
        await handler(attempt, thread)

    async def _post_card(self, attempt: _Attempt) -> SlackThread:
        """Post the card (once) and its first thread replies: transcript and context."""
        row = attempt.row
        thread = await threads.thread_of(self.db, row.escalation_id)
        pending = await deliveries.pending_ids(
            self.db, Topic.slack, row.escalation_id, SlackEffect.CARD_UPDATE
        )
        esc = await self._escalation(row.escalation_id)
        if thread is None:
            thread = await self._first_post(attempt, esc)
        # The card just rendered shows every change queued so far.
        await deliveries.supersede(self.db, pending)
        transcript = await threads.transcript(self.db, esc)
        earlier = await threads.earlier_escalations(self.db, esc)
        for index, part in enumerate(intro_messages(esc, transcript, earlier)):
            await self._post_in_thread(attempt, thread, part, key=f"intro:{index}")
        return thread

    async def _first_post(self, attempt: _Attempt, esc: Escalation) -> SlackThread:
        """The card, where routing sends it; where the channel refuses it, in the
        escalation channel, saying why."""
        channel = await self._channel_for(esc)
        try:
            ts = await self._card_in(attempt, channel, esc, None)
        except Park as refused:
            fallback = self.router.default_channel
            if refused.error not in UNREACHABLE or not fallback or fallback == channel:
                raise
            return await self._post_rerouted(attempt, esc, Rerouted(channel, refused.error))
        return await threads.remember_thread(self.db, esc.id, await self._team(), channel, ts)

    async def _post_rerouted(
        self, attempt: _Attempt, esc: Escalation, rerouted: Rerouted
    ) -> SlackThread:
        fallback = self.router.default_channel
        assert fallback is not None
        log.warning(
            "slack: cannot post the card of %s in %s (%s — to fix: %s); posting it in %s",
            esc.id,
            rerouted.channel,
            rerouted.error,
            FIXES[rerouted.error],
            fallback,
        )
        team = await self._team()  # also learns the bot's name, for the card's line
        try:
            ts = await self._card_in(attempt, fallback, esc, rerouted)
        except Park as refused:
            raise Park(
                f"{refused.error} in {fallback} (the escalation channel) too, after "
                f"{rerouted.error} in {rerouted.channel}"
            ) from None
        return await rerouting.remember_rerouted_thread(
            self.db, esc.id, esc.platform_id, team, fallback, ts, rerouted
        )

    async def _card_in(
        self, attempt: _Attempt, channel: str, esc: Escalation, rerouted: Rerouted | None
    ) -> str:
        """Post the card in ``channel``, unless an attempt whose outcome is unknown did."""
        if attempt.row.uncertain:
            found = await self._find_posted(channel, esc, CARD_KEY)
            if found is not None:
                return found
        card = escalation_card(esc, self._rerouted_line(rerouted))
        return await self._post(
            attempt, channel, card, key=CARD_KEY, thread_ts=None, rerouted=rerouted
        )

    def _rerouted_line(self, rerouted: Rerouted | None) -> str | None:
        if rerouted is None:
            return None
        return rerouted_line(rerouted.channel, rerouted.error, self._bot_name)

    async def _update_card(self, attempt: _Attempt, thread: SlackThread) -> None:
        row = attempt.row
        # Pending ids first, then the escalation: the state read is at least as new as
        # every update in the list, so they may all be marked done by this one.
        pending = await deliveries.pending_ids(
            self.db, Topic.slack, row.escalation_id, SlackEffect.CARD_UPDATE
        )
        esc = await self._escalation(row.escalation_id)
        card = escalation_card(esc, self._rerouted_line(await self._why_here(esc, thread)))
        await self._edit(thread.channel_id, thread.thread_ts, card)
        await deliveries.supersede(self.db, [i for i in pending if i != row.id])
        if esc.status not in (Status.queued, Status.taken):  # its suggestions can go no more
            for sug in await suggestions.unsent_posts(self.db, esc.id):
                await self._show_suggestion(attempt, thread, sug, esc)

    async def _why_here(self, esc: Escalation, thread: SlackThread) -> Rerouted | None:
        """Why the card is not in the channel routing picks, if it is not."""
        if thread.channel_id != self.router.default_channel:
            return None
        if await self._channel_for(esc) == thread.channel_id:
            return None
        await self._team()  # the bot's name, for the card's line
        return await rerouting.rerouted(self.db, esc.id)

    async def _thread_message(self, attempt: _Attempt, thread: SlackThread) -> None:
        message_id = attempt.row.payload.get("message_id", "")
        msg = await threads.load_message(self.db, message_id)
        if msg is None:
            raise Park(f"message {message_id} not found")
        post = agent_message(msg) if msg.role == Role.agent else customer_message(msg)
        ts = await self._post_in_thread(attempt, thread, post, key=f"msg:{msg.id}")
        if msg.role == Role.agent:
            await threads.remember_message_ts(self.db, msg.id, ts)

    async def _thread_note(self, attempt: _Attempt, thread: SlackThread) -> None:
        event = await self._event_of(attempt.row, "note")
        await self._post_in_thread(attempt, thread, note_post(event), key=f"note:{event.id}")

    async def _suggestion(self, attempt: _Attempt, thread: SlackThread) -> None:
        sug = await suggestions.load(self.db, attempt.row.payload.get("suggestion_id", ""))
        if sug is None:
            raise Park(f"suggestion {attempt.row.payload.get('suggestion_id')} not found")
        await self._show_suggestion(attempt, thread, sug, await self._escalation(sug.escalation_id))

    async def _show_suggestion(
        self, attempt: _Attempt, thread: SlackThread, sug: Suggestion, esc: Escalation
    ) -> None:
        """Post the suggestion, or show on its post that it was sent, or can no longer be."""
        post = suggestion_post(sug, esc)
        if sug.slack_ts is None:
            ts = await self._post_in_thread(attempt, thread, post, key=f"suggestion:{sug.id}")
            await suggestions.posted(self.db, sug.id, ts)
            return
        await self._edit(thread.channel_id, sug.slack_ts, post)

    async def _auto_closed(self, attempt: _Attempt, thread: SlackThread) -> None:
        event = await self._event_of(attempt.row, "auto-close")
        post = auto_closed_message(event)
        await self._post_in_thread(attempt, thread, post, key=f"auto_closed:{event.id}")

    async def _rating(self, attempt: _Attempt, thread: SlackThread) -> None:
        event = await self._event_of(attempt.row, "rating")
        await self._post_in_thread(attempt, thread, rating_message(event), key=f"rating:{event.id}")

    async def _reply_status(self, attempt: _Attempt, thread: SlackThread) -> None:
        """Show on the agent's own message whether it reached the customer."""
        payload = attempt.row.payload
        msg = await threads.load_message(self.db, payload.get("message_id", ""))
        if msg is None or msg.slack_ts is None:
            return  # the reply has no message in Slack to mark
        state = payload.get("state", "")
        where = {"channel": thread.channel_id, "timestamp": msg.slack_ts}
        if state in ("delivered", "failed"):
            await self._call("reactions.remove", name=REACTIONS["retrying"], **where)
        if state in REACTIONS:
            await self._call("reactions.add", name=REACTIONS[state], **where)
        if state == "failed":
            post = delivery_failed(msg, payload.get("error"))
            await self._post_in_thread(attempt, thread, post, key=f"failed:{msg.id}")

    async def _sla(self, attempt: _Attempt, thread: SlackThread) -> None:
        """An SLA alert: in the thread; a breach also to managers and to the owner."""
        row = attempt.row
        esc = await self._escalation(row.escalation_id)
        event = await self._event_of(row, "SLA alert")
        target, due = event.data["target"], datetime.fromisoformat(event.data["due_at"])
        breached = event.type == "sla_breached"
        key = f"{row.kind}:{event.id}"
        if row.kind == SlackEffect.SLA_ALERT:
            post = sla_alert(esc, target, breached, due, self.oncall_group)
            await self._post_in_thread(attempt, thread, post, key=key)
            return
        link = await self._permalink(thread)
        if row.kind == SlackEffect.SLA_MANAGERS:
            if not self.managers_channel:
                log.info("slack: no BATON_MANAGERS_CHANNEL; breach of %s not announced", esc.id)
                return
            channel, post = self.managers_channel, sla_breach_for_managers(esc, target, due, link)
            await self._post_once(attempt, channel, esc, post, key=key)
        elif esc.assignee_id:
            post = sla_breach_for_owner(esc, target, due, link)
            await self._post_to_person(attempt, esc.assignee_id, esc, post, key=key)

    async def _notify(self, attempt: _Attempt, thread: SlackThread) -> None:
        """A [[notifications]] entry's post: in its channel with a link to the card, or a
        mention in the card's thread."""
        row = attempt.row
        notice = self.notices.get(str(row.payload.get("subscription")))
        if notice is None:
            raise Park("its [[notifications]] entry is no longer configured")
        esc = await self._escalation(row.escalation_id)
        key = f"{row.kind}:{row.event_id}:{row.payload['subscription']}"
        if notice.channel is None:
            post = notification_post(esc, row.payload["event"], notice.mention, None)
            await self._post_in_thread(attempt, thread, post, key=key)
            return
        link = await self._permalink(thread)
        post = notification_post(esc, row.payload["event"], notice.mention, link)
        await self._post_once(attempt, notice.channel, esc, post, key=key)

    async def _owner_nudge(self, attempt: _Attempt, thread: SlackThread) -> None:
        """Remind the owner, in a DM, that their customer is waiting; not if the
        escalation changed hands or ended since."""
        row = attempt.row
        esc = await self._escalation(row.escalation_id)
        event = await self._event_of(row, "reminder")
        owner = str(event.data["owner"]["id"])
        if esc.status != Status.taken or esc.assignee_id != owner:
            return
        waited = timedelta(seconds=event.data["waited_seconds"])
        post = owner_nudge(esc, waited, await self._permalink(thread))
        await self._post_to_person(attempt, owner, esc, post, key=f"{row.kind}:{event.id}")

    async def _rerouted_notice(self, attempt: _Attempt, thread: SlackThread) -> None:
        """Tell the managers that cards routed to a channel go to the escalation channel."""
        row = attempt.row
        event = await self._event_of(row, "rerouting")
        channel, error = str(event.data["channel"]), str(event.data["error"])
        if not self.managers_channel:
            log.info(
                "slack: no BATON_MANAGERS_CHANNEL; nobody told that cards for %s go to %s",
                channel,
                thread.channel_id,
            )
            return
        esc = await self._escalation(row.escalation_id)
        await self._team()  # the bot's name, for the notice
        post = rerouted_for_managers(
            esc, channel, error, thread.channel_id, self._bot_name, await self._permalink(thread)
        )
        await self._post_once(attempt, self.managers_channel, esc, post, key=f"rerouted:{event.id}")

    async def _upload_file(self, attempt: _Attempt, thread: SlackThread) -> None:
        """A customer's attachment, fetched and uploaded into the thread once. The file Slack
        makes for it is recorded before its bytes go; a later try asks Slack whether that
        upload was finished before starting another."""
        att = await self._attachment(attempt.row)
        if att.state != FileState.pending:
            return
        if att.slack_file_id is not None and await self._in_slack(att.slack_file_id):
            await attachments.uploaded(self.db, att.id)
            return
        if self.files is None:
            await self._not_attached(attempt, thread, att, "Baton is not set up to fetch files")
            return
        try:
            fetched = await self.files.fetch(att.source_url)
        except NotFetched as exc:
            if exc.retry and attempt.row.attempts + 1 < FETCH_ATTEMPTS:
                raise Retry(f"fetching {att.id}: {exc.reason}") from None
            await self._not_attached(attempt, thread, att, exc.reason)
            return
        try:
            if fetched.size == 0:
                await self._not_attached(attempt, thread, att, "the file is empty")
                return
            await self._upload(attempt, thread, att, fetched)
        finally:
            fetched.close()

    async def _upload(
        self, attempt: _Attempt, thread: SlackThread, att: FileAttachment, fetched: FetchedFile
    ) -> None:
        """Slack's upload v2 flow: a file and its upload URL, the bytes, then finishing it
        into the thread (which posts there, so it waits for the channel's turn)."""
        ticket = await self._call(
            "files.getUploadURLExternal", filename=att.name, length=fetched.size
        )
        file_id = str(ticket["file_id"])
        await attachments.upload_started(self.db, att.id, file_id)
        try:
            sent = await self._uploads.post(
                str(ticket["upload_url"]),
                content=fetched.chunks(),
                headers={"content-length": str(fetched.size)},
            )
        except httpx.HTTPError as exc:
            raise Retry(f"uploading {att.id}: {type(exc).__name__}: {exc}") from None
        if sent.status_code != 200:
            raise Retry(f"uploading {att.id}: Slack answered HTTP {sent.status_code}")
        async with self._channel_turn(attempt, thread.channel_id):
            await self._call(
                "files.completeUploadExternal",
                files=[{"id": file_id, "title": att.name}],
                channel_id=thread.channel_id,
                thread_ts=thread.thread_ts,
            )
        attempt.posted = True
        await attachments.uploaded(self.db, att.id, fetched.size)

    async def _in_slack(self, file_id: str) -> bool:
        """Whether an upload was finished: Slack shows a file only once it was."""
        try:
            await self._call("files.info", file=file_id)
        except Park as refused:
            if refused.error in ("file_not_found", "file_deleted"):
                return False
            raise
        return True

    async def _not_attached(
        self, attempt: _Attempt, thread: SlackThread, att: FileAttachment, reason: str
    ) -> None:
        """The file's link in the thread, with why it is not attached."""
        log.info("slack: %s of %s not attached: %s", att.id, att.escalation_id, reason)
        post = file_not_attached(att.name, att.source_url, reason)
        await self._post_in_thread(attempt, thread, post, key=f"file:{att.id}")
        await attachments.upload_failed(self.db, att.id, reason)

    async def _attachment(self, row: Claimed) -> FileAttachment:
        att = await attachments.load(self.db, row.payload.get("attachment_id", ""))
        if att is None:
            raise Park(f"attachment {row.payload.get('attachment_id')} not found")
        return att

    async def _event_of(self, row: Claimed, what: str) -> Event:
        event = await threads.load_event(self.db, row.payload.get("event_id", ""))
        if event is None:
            raise Park(f"{what} {row.payload.get('event_id')} not found")
        return event

    async def _permalink(self, thread: SlackThread) -> str | None:
        try:
            response = await self._call(
                "chat.getPermalink", channel=thread.channel_id, message_ts=thread.thread_ts
            )
        except Park:
            return None  # an alert without a link beats no alert
        return str(response["permalink"])

    async def _escalation(self, escalation_id: str) -> Escalation:
        esc = await threads.load_escalation(self.db, escalation_id)
        if esc is None:
            raise Park(f"escalation {escalation_id} not found")
        return esc

    # ---------------------------------------------------------------------- Slack calls

    async def _post_once(
        self, attempt: _Attempt, channel: str, esc: Escalation, message: CardMessage, *, key: str
    ) -> None:
        """A top-level post, unless an attempt whose outcome is unknown already made it."""
        if attempt.row.uncertain and await self._find_posted(channel, esc, key) is not None:
            return
        await self._post(attempt, channel, message, key=key, thread_ts=None)

    async def _post_to_person(
        self, attempt: _Attempt, user: str, esc: Escalation, message: CardMessage, *, key: str
    ) -> None:
        """A DM: posted with the person's id as the channel, which needs chat:write alone.
        Looking for an earlier attempt's post needs the DM's own id (conversations.open,
        im:write): history is read by conversation, never by person."""
        if attempt.row.uncertain:
            opened = await self._call("conversations.open", users=user)
            if await self._find_posted(str(opened["channel"]["id"]), esc, key) is not None:
                return
        await self._post(attempt, user, message, key=key, thread_ts=None)

    async def _post_in_thread(
        self, attempt: _Attempt, thread: SlackThread, message: CardMessage, *, key: str
    ) -> str:
        if attempt.row.uncertain:
            found = (await self._keys_in_thread(attempt, thread)).get(key)
            if found is not None:
                return found
        return await self._post(
            attempt, thread.channel_id, message, key=key, thread_ts=thread.thread_ts
        )

    async def _post(
        self,
        attempt: _Attempt,
        channel: str,
        message: CardMessage,
        *,
        key: str,
        thread_ts: str | None,
        rerouted: Rerouted | None = None,
    ) -> str:
        metadata = post_metadata(attempt.row.escalation_id, key, rerouted)
        async with self._channel_turn(attempt, channel):
            try:
                response = await self._call(
                    "chat.postMessage",
                    channel=channel,
                    text=message.text,
                    blocks=message.blocks_as_dicts(),
                    thread_ts=thread_ts,
                    metadata=metadata,
                    unfurl_links=False,
                    unfurl_media=False,
                )
            except Retry as retry:
                if retry.error == "ratelimited" and retry.wait is not None:
                    self.pacer.hold(channel, retry.wait.total_seconds())
                raise
        attempt.posted = True
        return str(response["ts"])

    @asynccontextmanager
    async def _channel_turn(self, attempt: _Attempt, channel: str) -> AsyncIterator[None]:
        """The channel's turn for one post. The row gives up its place at work while it
        waits, and gives the row back to the outbox if the wait is long and nothing was
        posted yet."""
        wait = self.pacer.wait_for(channel)
        if wait <= 0:
            async with self.pacer.slot(channel):
                yield
            return
        if not attempt.posted and wait > DEFER_AFTER:
            raise Retry("ratelimited", timedelta(seconds=wait))
        if not await self._keep(attempt, wait):
            raise Lost()
        self._at_work.release()
        attempt.at_work = False
        try:
            async with self.pacer.slot(channel):
                yield
        finally:
            await self._at_work.acquire()
            attempt.at_work = True

    async def _edit(self, channel: str, ts: str, message: CardMessage) -> None:
        """A post of Baton's, shown anew (its metadata stays as posted)."""
        await self._call(
            "chat.update",
            channel=channel,
            ts=ts,
            text=message.text,
            blocks=message.blocks_as_dicts(),
        )

    async def _find_posted(self, channel: str, esc: Escalation, key: str) -> str | None:
        """A post whose attempt timed out may be in the channel after all."""
        oldest = (esc.created_at - LOOKBACK).timestamp()
        cursor = None
        for _ in range(HISTORY_PAGES):
            response = await self._call(
                "conversations.history",
                channel=channel,
                oldest=f"{oldest:.6f}",
                include_all_metadata=True,
                limit=200,
                cursor=cursor,
            )
            for message in response.get("messages", []):
                if key_for(message, esc.id) == key:
                    log.info("slack: %s of %s was posted already; not again", key, esc.id)
                    return str(message["ts"])
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not response.get("has_more") or not cursor:
                return None
        return None

    async def _keys_in_thread(self, attempt: _Attempt, thread: SlackThread) -> dict[str, str]:
        """What Baton already posted in the thread, by key (read once per attempt)."""
        if attempt.in_thread is None:
            found: dict[str, str] = {}
            cursor = None
            for _ in range(HISTORY_PAGES * 4):
                response = await self._call(
                    "conversations.replies",
                    channel=thread.channel_id,
                    ts=thread.thread_ts,
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
                for message in response.get("messages", []):
                    key = key_for(message, thread.escalation_id)
                    if key is not None:
                        found[key] = str(message["ts"])
                cursor = (response.get("response_metadata") or {}).get("next_cursor")
                if not response.get("has_more") or not cursor:
                    break
            attempt.in_thread = found
        return attempt.in_thread

    async def _call(self, method: str, **params: Any) -> Any:
        """One Web API call, its failure sorted into Retry or Park."""
        params = {k: v for k, v in params.items() if v is not None}
        call = getattr(self.client, method.replace(".", "_"))
        try:
            response = await call(**params)
        except SlackApiError as exc:
            error = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
            if ACCEPTABLE.get(method) == error:
                self._count(method, "ok")
                return exc.response
            self._count(method, error)
            if exc.response.status_code == 429:
                raise Retry("ratelimited", _retry_after(exc.response.headers)) from None
            if exc.response.status_code >= 500 or error in TRANSIENT:
                raise Retry(f"{error} (HTTP {exc.response.status_code})") from None
            if error == "missing_scope":
                error += f" ({method} needs {exc.response.get('needed')})"
            raise Park(error) from None
        except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            self._count(method, "connection")
            raise Retry(f"{method}: {type(exc).__name__}: {exc}") from None
        self._count(method, "ok")
        return response

    def _count(self, method: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.calls.labels(method, outcome).inc()

    async def _team(self) -> str:
        if self._team_id is None:
            response = await self._call("auth.test")
            self._team_id = str(response["team_id"])
            self._bot_name = str(response.get("user") or self._bot_name)
        return self._team_id

    async def _channel_for(self, esc: Escalation) -> str:
        channel = self.router.channel_for(esc, await self._platform_names.get(esc.platform_id))
        if not channel:
            raise Park("no_channel: set BATON_ESCALATION_CHANNEL or a routing rule")
        return channel


def _retry_after(headers: Any) -> timedelta:
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            try:
                return timedelta(
                    seconds=max(1, int(value[0] if isinstance(value, list) else value))
                )
            except (TypeError, ValueError):
                break
    return timedelta(seconds=1)
