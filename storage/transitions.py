"""Every move of an escalation, declared once, and the one way a move is written.

The table says, for each move: the statuses it may start from (and whether, from taken,
only the owner may make it), the status it ends in, the audit event it leaves, the Slack
effects and the platform event it asks for, the customer text that goes with that event,
and the event ``[[notifications]]`` subscribers may hear of. ``storage.machine`` takes its
rules from here, and so do the sweeps (the owner nudge, the SLA alerts).

A move is one transaction, written in two steps:

- ``claim``: a conditional UPDATE of the escalation, ``WHERE id = :id AND status IN (…)``
  (from the table) and any further condition. No row back means the move is not allowed
  now, or another writer got there first: of writers racing for one row, exactly one wins.
- ``record``: for the winner, the audit event and the outbox rows it asks for, in the same
  transaction.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, insert, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from storage.errors import InvalidTransition, NotOwner, StorageError
from storage.models import ACTIVE_STATUSES, Escalation, Event, OutboxRow, Status
from storage.notifications import Subscription, subscription_rows
from storage.outbox.rows import PlatformEvent, SlackEffect, platform_row, slack_row


@dataclass(frozen=True)
class Actor:
    """Somebody who acts on an escalation: a Slack user, or a platform through the API."""

    id: str
    name: str

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name}


@dataclass(frozen=True)
class Claim:
    """A conditional update of one escalation: it changes only while every ``where`` holds,
    and (with a ``scope``) only if it belongs to that platform."""

    escalation_id: str
    values: Mapping[str, Any]
    where: tuple[ColumnElement[bool], ...] = ()
    scope: str | None = None


@dataclass(frozen=True)
class Effects:
    """What a won move writes with it: its audit event, then its Slack rows (in order), then
    its platform event, whose body is ``platform_data`` with the escalation as it is now."""

    event: str
    data: Mapping[str, Any]
    actor: Actor | None = None
    slack: tuple[SlackEffect, ...] = ()
    platform: PlatformEvent | None = None
    platform_data: Mapping[str, Any] = field(default_factory=dict)
    message_id: str | None = None  # the message a thread.message row posts
    notify: str | None = None  # the event subscribers hear of
    subscribers: tuple[Subscription, ...] = ()  # those that want to hear of it


@dataclass(frozen=True)
class Rows:
    """The rows of one move's effects: its audit event and its outbox rows."""

    event: Event
    outbox: list[OutboxRow]


@dataclass(frozen=True)
class Transition:
    """One move of the table below: its rules and what it writes."""

    verb: str  # as a refusal says it: "cannot {verb} esc_…"
    event: str  # the audit event's type
    source: tuple[Status, ...]  # the statuses it may start from
    to: Status | None = None  # the status it ends in; None: unchanged
    owner_only: bool = False  # from taken, only the owner may make it
    slack: tuple[SlackEffect, ...] = ()  # the Slack effects, in order
    platform: PlatformEvent | None = None  # the platform event
    customer_text: str | None = None  # the customer text the platform event carries
    notify: str | None = None  # the event [[notifications]] subscribers may hear of

    def allows(self, status: Status) -> bool:
        return status in self.source

    def guard(self, owner_id: str | None = None) -> ColumnElement[bool]:
        """The condition on the row that admits the move (``owner_id``: who makes it)."""
        status = col(Escalation.status)
        if not self.owner_only:
            return status.in_(self.source)
        assert owner_id is not None, f"only the owner may {self.verb} an escalation"
        owned = and_(status == Status.taken, col(Escalation.assignee_id) == owner_id)
        others = [s for s in self.source if s != Status.taken]
        return or_(status.in_(others), owned) if others else owned

    def claim(
        self,
        escalation_id: str,
        values: Mapping[str, Any],
        *,
        by: Actor | None = None,
        where: Sequence[ColumnElement[bool]] = (),
        scope: str | None = None,
    ) -> Claim:
        """The move's conditional update: its guard, the ``to`` status and ``values``."""
        status = {} if self.to is None else {"status": self.to}
        guard = self.guard(by.id if by is not None else None)
        return Claim(escalation_id, {**values, **status}, (guard, *where), scope)

    def refusal(self, escalation_id: str, current: Escalation) -> StorageError:
        """Why the move was not made, given the row as it is."""
        if self.owner_only and current.status == Status.taken:
            return NotOwner(escalation_id, self.verb, current.assignee_name, current.assignee_id)
        return InvalidTransition(escalation_id, self.verb, current.status)

    def effects(
        self,
        data: Mapping[str, Any],
        *,
        actor: Actor | None = None,
        platform_data: Mapping[str, Any] | None = None,
        message_id: str | None = None,
        without: Sequence[SlackEffect] = (),
        subscribers: Sequence[Subscription] | None = None,
    ) -> Effects:
        """The move's effects, but for the Slack ones named in ``without`` (what Slack shows
        already). A move that notifies is told its ``subscribers`` (``Notices.matching``),
        if only to say there are none."""
        assert self.notify is None or subscribers is not None, f"{self.event}: who is told?"
        slack = tuple(kind for kind in self.slack if kind not in without)
        platform = platform_data if platform_data is not None else {}
        return Effects(
            self.event,
            data,
            actor,
            slack,
            self.platform,
            platform,
            message_id,
            self.notify,
            tuple(subscribers or ()),
        )


ALL_STATUSES = tuple(Status)
QUEUED, TAKEN, ACTIVE = (Status.queued,), (Status.taken,), ACTIVE_STATUSES

# fmt: off
CREATE = Transition(
    "create", "created", source=(), to=Status.queued,
    slack=(SlackEffect.CARD_POST,), platform=PlatformEvent.CREATED, customer_text="created",
    notify="escalation.created",
)
TAKE = Transition(
    "take", "taken", source=QUEUED, to=Status.taken,
    slack=(SlackEffect.CARD_UPDATE,), platform=PlatformEvent.TAKEN, customer_text="taken",
    notify="escalation.taken",
)
REASSIGN = Transition(
    "assign", "reassigned", source=TAKEN, to=Status.taken,
    slack=(SlackEffect.CARD_UPDATE,), platform=PlatformEvent.TAKEN, customer_text="taken",
    notify="escalation.taken",
)
UNASSIGN = Transition(
    "assign", "unassigned", source=TAKEN, to=Status.queued,
    slack=(SlackEffect.CARD_UPDATE,),
)
REPLY = Transition(
    "reply to", "reply", source=TAKEN, owner_only=True,
    slack=(SlackEffect.THREAD_MESSAGE, SlackEffect.CARD_UPDATE), platform=PlatformEvent.MESSAGE,
)
CUSTOMER_MESSAGE = Transition(
    "add a message to", "message", source=ACTIVE,
    slack=(SlackEffect.THREAD_MESSAGE, SlackEffect.CARD_UPDATE),
)
RETURN = Transition(
    "return", "returned", source=ACTIVE, to=Status.returned, owner_only=True,
    slack=(SlackEffect.CARD_UPDATE,), platform=PlatformEvent.RETURNED, customer_text="returned",
    notify="escalation.returned",
)
CLOSE = Transition(
    "close", "closed", source=ACTIVE, to=Status.closed, owner_only=True,
    slack=(SlackEffect.CARD_UPDATE,), platform=PlatformEvent.CLOSED, customer_text="closed",
    notify="escalation.closed",
)
AUTO_CLOSE = Transition(
    "close", "closed", source=TAKEN, to=Status.closed,
    slack=(SlackEffect.CARD_UPDATE, SlackEffect.AUTO_CLOSED), platform=PlatformEvent.CLOSED,
    customer_text="closed", notify="escalation.closed",
)
SUGGEST = Transition(
    "suggest a reply for", "suggested", source=ACTIVE, slack=(SlackEffect.SUGGESTION,),
)
RATE = Transition(
    "rate", "rated", source=(Status.returned, Status.closed),
    slack=(SlackEffect.RATING, SlackEffect.CARD_UPDATE),
)
RESUME_AI = Transition(
    "resume the AI of", "ai_resumed", source=(Status.closed,),
    slack=(SlackEffect.CARD_UPDATE,), platform=PlatformEvent.AI_RESUMED,
)
CHANGE_PRIORITY = Transition(
    "change the priority of", "priority_changed", source=ACTIVE,
    slack=(SlackEffect.CARD_UPDATE,),
)

# Entries of the audit trail that change no column of the escalation (no claim).
NOTE = Transition("add a note to", "note", source=ALL_STATUSES, slack=(SlackEffect.THREAD_NOTE,))
HOLD = Transition("hold a message for", "held", source=ALL_STATUSES)
EDIT_REPLY = Transition(
    "edit a reply to", "message_edited", source=TAKEN, owner_only=True,
    platform=PlatformEvent.MESSAGE_EDITED,
)
DELETE_REPLY = Transition(
    "delete a reply to", "message_deleted", source=TAKEN, owner_only=True,
    platform=PlatformEvent.MESSAGE_DELETED,
)

# The sweeps': they change only their own columns (no new version of the row). The nudge
# claims by its statuses; an SLA alert claims the row exactly as the sweep read it.
NUDGE = Transition(
    "nudge the owner of", "owner_nudged", source=TAKEN,
    slack=(SlackEffect.OWNER_NUDGE,),
)
SLA_AT_RISK = Transition(
    "raise an alert on", "sla_at_risk", source=ACTIVE,
    slack=(SlackEffect.SLA_ALERT,), notify="sla.at_risk",
)
SLA_BREACHED = Transition(
    "raise an alert on", "sla_breached", source=ACTIVE,
    slack=(SlackEffect.SLA_ALERT, SlackEffect.SLA_MANAGERS, SlackEffect.SLA_OWNER),
    notify="sla.breached",
)
# fmt: on

# The Slack effects that show their audit event name it; a thread.message names its message.
_SHOW_THEIR_EVENT = frozenset(
    {
        SlackEffect.THREAD_NOTE,
        SlackEffect.RATING,
        SlackEffect.AUTO_CLOSED,
        SlackEffect.SLA_ALERT,
        SlackEffect.SLA_MANAGERS,
        SlackEffect.SLA_OWNER,
        SlackEffect.OWNER_NUDGE,
    }
)


async def claim(s: AsyncSession, change: Claim) -> Escalation | None:
    """Make the conditional update; the row as it now is, or None if it did not match."""
    stmt = update(Escalation).where(col(Escalation.id) == change.escalation_id, *change.where)
    if change.scope is not None:
        stmt = stmt.where(col(Escalation.platform_id) == change.scope)
    stmt = (
        stmt.values(**change.values)
        .returning(Escalation)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return (await s.execute(stmt)).scalars().first()


def rows_of(esc: Escalation, now: datetime, effects: Effects) -> Rows:
    """The audit event and the outbox rows of ``effects``, not yet written."""
    actor = (effects.actor.id, effects.actor.name) if effects.actor else None
    event = Event.of(esc.id, effects.event, now, dict(effects.data), actor)
    outbox = [slack_row(esc, kind, now, **_payload(kind, event, effects)) for kind in effects.slack]
    if effects.platform is not None:
        outbox.append(
            platform_row(esc, effects.platform, event.id, now, dict(effects.platform_data))
        )
    if effects.notify is not None and effects.subscribers:
        # What the platform hears with its event, or (an SLA alert) what the trail says.
        data = effects.platform_data if effects.platform is not None else effects.data
        outbox.extend(subscription_rows(esc, effects.subscribers, effects.notify, event, data, now))
    return Rows(event, outbox)


def record(s: AsyncSession, esc: Escalation, now: datetime, effects: Effects) -> Event:
    """Write the audit event and the outbox rows of ``effects`` in this transaction."""
    rows = rows_of(esc, now, effects)
    s.add(rows.event)
    s.add_all(rows.outbox)
    return rows.event


async def record_all(s: AsyncSession, batch: Sequence[Rows]) -> None:
    """Write the rows of many moves with one statement per table (a batch of creations)."""
    if not batch:
        return
    await s.execute(insert(Event), [_columns(r.event) for r in batch])
    outbox = [_columns(row, exclude={"id"}) for r in batch for row in r.outbox]
    await s.execute(insert(OutboxRow), outbox)


def _columns(row: SQLModel, exclude: set[str] | None = None) -> dict[str, Any]:
    """A table row's column values, for a bulk insert."""
    table = row.__table__  # type: ignore[attr-defined]  # SQLModel sets it on table models
    return {
        column.key: getattr(row, column.key)
        for column in table.columns
        if not exclude or column.key not in exclude
    }


def _payload(kind: SlackEffect, event: Event, effects: Effects) -> dict[str, Any]:
    if kind == SlackEffect.SUGGESTION:
        return {"suggestion_id": effects.data["suggestion_id"]}
    if kind == SlackEffect.THREAD_MESSAGE:
        assert effects.message_id is not None, "a thread message names its message"
        return {"message_id": effects.message_id}
    return {"event_id": event.id} if kind in _SHOW_THEIR_EVENT else {}
