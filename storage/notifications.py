"""Notifications beyond the card: who hears of a move, and the outbox rows that tell them.

Each ``[[notifications]]`` entry of the configuration is a ``Subscription`` here. A move
that notifies (``Transition.notify``) asks ``Notices.matching`` which subscriptions want it,
and writes one outbox row per subscription in its own transaction (``subscription_rows``):

- email and webhook: topic ``notify``, in the subscription's own lane, so a subscriber that
  is down holds up nobody else; the row carries the event body frozen at commit.
- an hourly email: topic ``hourly``, due at the end of its hour, when ``collect_hourly``
  gathers the hour's rows of each subscription into one ``notify`` row.
- Slack: topic ``slack``, in the escalation's one lane, after the card's own post.
"""

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlmodel import col

from storage.database import Database
from storage.models import DeliveryState, Escalation, Event, OutboxRow, Topic
from storage.outbox.rows import RETRY_FOR, SlackEffect, event_body
from storage.platforms import PlatformNames
from storage.public import iso

EVENTS = (
    "escalation.created",
    "escalation.taken",
    "escalation.returned",
    "escalation.closed",
    "sla.at_risk",
    "sla.breached",
)
HOURLY_EMAIL = "email.hourly"  # the kind of a notify row holding an hour's events
COLLECT_AT_MOST = 1000  # events per hourly email; an hour with more sends several


class Via(StrEnum):
    email = "email"
    webhook = "webhook"
    slack = "slack"


@dataclass(frozen=True)
class Subscription:
    """One entry: the events it wants, its filters (None: any), and how it is told.

    ``key`` names the entry the same way on every replica and across restarts (the
    configuration derives it from where the notifications go): rows carry it, and the
    worker that delivers a row finds the entry by it."""

    key: str
    via: Via
    events: frozenset[str]
    priority: frozenset[str] | None = None
    platform: frozenset[str] | None = None
    hourly: bool = False

    def wants(self, event_type: str, esc: Escalation) -> bool:
        """The event and the priority match; the platform is checked by ``Notices``."""
        return event_type in self.events and (
            self.priority is None or str(esc.priority) in self.priority
        )


class Notices:
    """The subscriptions, and which of them want a move."""

    def __init__(self, db: Database, subscriptions: Sequence[Subscription] = ()) -> None:
        self.subscriptions = tuple(subscriptions)
        self._names = PlatformNames(db)

    def __bool__(self) -> bool:
        return bool(self.subscriptions)

    async def matching(self, esc: Escalation, event_type: str | None) -> tuple[Subscription, ...]:
        if event_type is None:
            return ()
        wanting = [s for s in self.subscriptions if s.wants(event_type, esc)]
        if not any(s.platform is not None for s in wanting):
            return tuple(wanting)
        name = await self._names.get(esc.platform_id)
        return tuple(s for s in wanting if s.platform is None or name in s.platform)


def subscription_rows(
    esc: Escalation,
    subscriptions: Collection[Subscription],
    event_type: str,
    event: Event,
    data: Mapping[str, Any],
    now: datetime,
) -> list[OutboxRow]:
    """The rows telling ``subscriptions`` of ``event``; the body is the platform events'
    shape (section 3 of the spec), typed ``event_type``."""
    body = event_body(esc, event_type, now, data)
    return [_row(esc, sub, event.id, body, now) for sub in subscriptions]


def _row(
    esc: Escalation, sub: Subscription, event_id: str, body: dict[str, Any], now: datetime
) -> OutboxRow:
    payload: dict[str, Any] = {"subscription": sub.key, "event": body}
    topic, kind, lane, due = Topic.notify, str(sub.via), sub.key, now
    if sub.via == Via.slack:
        topic, kind, lane = Topic.slack, SlackEffect.NOTIFY, ""
    elif sub.hourly:
        hour = now.replace(minute=0, second=0, microsecond=0)
        topic, due = Topic.hourly, hour + timedelta(hours=1)
        payload["hour"] = iso(hour)
    return OutboxRow(
        topic=topic,
        kind=kind,
        escalation_id=esc.id,
        platform_id=esc.platform_id,
        lane=lane,
        event_id=event_id,
        payload=payload,
        next_attempt_at=due,
        created_at=now,
        give_up_at=due + RETRY_FOR,
    )


async def collect_hourly(db: Database, *, most: int = COLLECT_AT_MOST) -> int:
    """Gather the events of every hour that has ended into one email row per subscription
    and hour; returns how many emails. Rows are taken with ``SKIP LOCKED``: of replicas
    collecting at once, each row goes to exactly one, so each event is in one email."""
    emails = 0
    while True:
        collected, full = await _collect_once(db, most)
        emails += collected
        if not full:
            return emails


async def _collect_once(db: Database, most: int) -> tuple[int, bool]:
    now = db.clock.now()
    due = (
        select(OutboxRow)
        .where(
            col(OutboxRow.topic) == Topic.hourly,
            col(OutboxRow.state) == DeliveryState.pending,
            col(OutboxRow.next_attempt_at) <= now,
        )
        .order_by(col(OutboxRow.id))
        .limit(most)
        .with_for_update(skip_locked=True)
    )
    async with db.write() as s:
        rows = list((await s.execute(due)).scalars())
        if not rows:
            return 0, False
        hours: dict[tuple[str, str], list[OutboxRow]] = defaultdict(list)
        for row in rows:
            hours[(row.lane, row.payload["hour"])].append(row)
        for (lane, hour), events in hours.items():
            s.add(_hourly_email(lane, hour, events, now))
        await s.execute(
            update(OutboxRow)
            .where(col(OutboxRow.id).in_([r.id for r in rows]))
            .values(state=DeliveryState.done, done_at=now)
            .execution_options(synchronize_session=False)
        )
        return len(hours), len(rows) == most


def _hourly_email(lane: str, hour: str, events: list[OutboxRow], now: datetime) -> OutboxRow:
    """One email row for an hour's events. A row belongs to an escalation; this one is filed
    under the first event's (its lane keeps it from waiting on that escalation's others)."""
    first = events[0]
    return OutboxRow(
        topic=Topic.notify,
        kind=HOURLY_EMAIL,
        escalation_id=first.escalation_id,
        platform_id=None,
        lane=lane,
        event_id=f"{first.event_id}.hourly",
        payload={
            "subscription": first.payload["subscription"],
            "hour": hour,
            "events": [e.payload["event"] for e in events],
        },
        next_attempt_at=now,
        created_at=now,
        give_up_at=now + RETRY_FOR,
    )
