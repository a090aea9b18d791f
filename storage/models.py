"""The tables, and the vocabularies their columns draw from."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from storage.ids import new_id
from storage.sla import SlaState, Target, state_of
from storage.types import UTCDateTime


class Status(StrEnum):
    queued = "queued"
    taken = "taken"
    returned = "returned"
    closed = "closed"


ACTIVE_STATUSES = (Status.queued, Status.taken)
ACTIVE_PREDICATE = "status IN ('queued', 'taken')"  # the partial unique index's condition


class Priority(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    urgent = "urgent"


class Reason(StrEnum):
    customer_request = "customer_request"
    low_confidence = "low_confidence"
    gate_failure = "gate_failure"
    keyword = "keyword"
    sentiment = "sentiment"
    tool_failure = "tool_failure"
    rate_limit = "rate_limit"
    manual = "manual"
    other = "other"


class Role(StrEnum):
    customer = "customer"
    assistant = "assistant"
    agent = "agent"
    system = "system"


class Resolution(StrEnum):
    resolved = "resolved"
    customer_satisfied = "customer_satisfied"
    no_response = "no_response"
    duplicate = "duplicate"
    spam = "spam"
    other = "other"


class Topic(StrEnum):
    """Who drains an outbox row: the Slack worker, the platform relay, or the notifier
    (emails and webhooks to subscribers). Rows of ``hourly`` are not drained: they wait for
    their hour's email, which collects them."""

    slack = "slack"
    platform = "platform"
    notify = "notify"
    hourly = "hourly"


class DeliveryState(StrEnum):
    pending = "pending"
    done = "done"
    failed = "failed"


PENDING_PREDICATE = "state = 'pending'"  # the partial outbox indexes' condition


def _utc(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


def _word(**kw: Any) -> Any:
    """An enum kept as its plain string, so adding a value never needs a database type change."""
    return Field(sa_type=String(32), **kw)


def _json(**kw: Any) -> Any:
    return Field(sa_type=JSON, **kw)


class Platform(SQLModel, table=True):
    __tablename__ = "platforms"

    id: str = Field(primary_key=True)
    name: str = Field(unique=True)
    callback_url: str
    webhook_secret_sealed: str  # encrypted with the instance's secret key, never in clear
    created_at: datetime = _utc()


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: str = Field(primary_key=True)
    platform_id: str = Field(foreign_key="platforms.id", index=True)
    prefix: str = Field(unique=True)  # the visible start of the key, to find it by
    key_hash: str  # sha256 of the whole key
    created_at: datetime = _utc()
    revoked_at: datetime | None = _utc(default=None)


class Escalation(SQLModel, table=True):
    __tablename__ = "escalations"
    __table_args__ = (
        # One active escalation per conversation and platform.
        Index(
            "uq_escalations_active_conversation",
            "platform_id",
            "conversation_id",
            unique=True,
            sqlite_where=text(ACTIVE_PREDICATE),
            postgresql_where=text(ACTIVE_PREDICATE),
        ),
        Index("ix_escalations_platform_customer", "platform_id", "customer_id"),
        Index("ix_escalations_status_created", "status", "created_at"),
    )

    id: str = Field(primary_key=True)
    platform_id: str = Field(foreign_key="platforms.id", index=True)
    conversation_id: str
    status: Status = _word()
    priority: Priority = _word()
    reason: Reason = _word()
    reason_detail: str | None = None
    channel: str | None = None
    customer: dict[str, Any] = _json()
    customer_id: str | None = None
    customer_name: str | None = None
    summary: str | None = None  # the bot's own, at creation
    confidence: int | None = None
    context: dict[str, Any] = _json(default_factory=dict)
    assignee_id: str | None = Field(default=None, index=True)
    assignee_name: str | None = None
    created_at: datetime = _utc(index=True)
    updated_at: datetime = _utc()
    taken_at: datetime | None = _utc(default=None)
    first_taken_at: datetime | None = _utc(default=None, index=True)
    first_reply_at: datetime | None = _utc(default=None)
    ended_at: datetime | None = _utc(default=None, index=True)
    ended_by: dict[str, Any] | None = _json(default=None)
    resolution: Resolution | None = _word(default=None)
    close_note: str | None = None
    keep_ai_paused: bool = False
    ai_resumed_at: datetime | None = _utc(default=None)  # of an escalation closed paused
    ai_resumed_by: dict[str, Any] | None = _json(default=None)
    # The customer's rating of the help they got (1-5); a later one replaces it.
    rating_score: int | None = None
    rating_comment: str | None = None
    rated_at: datetime | None = _utc(default=None, index=True)
    customer_wrote_at: datetime | None = _utc(default=None)  # the customer's latest message
    last_message_at: datetime | None = _utc(default=None)
    last_message_preview: str | None = None
    first_take_due_at: datetime | None = _utc(default=None)
    resolution_due_at: datetime | None = _utc(default=None)
    # How far each SLA clock has been announced: 0, then each at-risk threshold, then breach.
    first_take_sla_level: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    resolution_sla_level: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    sla_check_at: datetime | None = _utc(default=None, index=True)  # the next alert falls due
    # Since when the customer has waited on the owner: set on take and by a customer message,
    # cleared by the owner's reply, by the nudge it earns, and when the owner changes or ends.
    awaiting_owner_since: datetime | None = _utc(default=None, index=True)
    version: int = 1

    def running_sla_levels(self) -> dict[Target, int]:
        """The SLA clocks still running, with the alert level each has reached: the first
        take runs while queued and never taken, resolution until the escalation ends."""
        running = {}
        if self.status == Status.queued and self.first_taken_at is None:
            running[Target.first_take] = self.first_take_sla_level
        if self.status in ACTIVE_STATUSES:
            running[Target.resolution] = self.resolution_sla_level
        return running

    def sla(self) -> dict[str, tuple[datetime, SlaState]]:
        """Each SLA target of this escalation: its due time and its state; a stopped clock
        (taken, ended) was met or missed."""
        clocks = (
            (
                Target.first_take,
                self.first_take_due_at,
                self.first_take_sla_level,
                self.first_taken_at or self.ended_at,  # leaving the queue stops it
            ),
            (Target.resolution, self.resolution_due_at, self.resolution_sla_level, self.ended_at),
        )
        states = {}
        for target, due, level, stopped in clocks:
            if due is None:
                continue
            if stopped is None:
                state = state_of(level)
            else:
                state = SlaState.missed if stopped > due else SlaState.met
            states[str(target)] = (due, state)
        return states


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        Index(
            "uq_messages_external_id",
            "escalation_id",
            "external_id",
            unique=True,
            sqlite_where=text("external_id IS NOT NULL"),
            postgresql_where=text("external_id IS NOT NULL"),
        ),
        # A Slack message is relayed once, however often Slack delivers its event.
        Index(
            "uq_messages_slack_ts",
            "escalation_id",
            "slack_ts",
            unique=True,
            sqlite_where=text("slack_ts IS NOT NULL"),
            postgresql_where=text("slack_ts IS NOT NULL"),
        ),
    )

    id: str = Field(primary_key=True)
    escalation_id: str = Field(foreign_key="escalations.id", index=True)
    role: Role = _word()
    content: str
    attachments: list[dict[str, Any]] = _json(default_factory=list)
    external_id: str | None = None
    author_id: str | None = None
    author_name: str | None = None
    slack_ts: str | None = None  # the agent's own message in the thread, for delivery reactions
    sent_at: datetime = _utc()
    created_at: datetime = _utc()


class FileDirection(StrEnum):
    to_customer = "to_customer"  # an agent's file in Slack, relayed by Baton's own link
    to_agent = "to_agent"  # a customer's attachment, uploaded into the card's thread


class FileState(StrEnum):
    relayed = "relayed"  # to the customer: its link is in the relayed message
    pending = "pending"  # to an agent: not in the thread yet
    uploaded = "uploaded"  # to an agent: in the thread
    failed = "failed"  # to an agent: shown as its link, with why


class FileAttachment(SQLModel, table=True):
    """A file crossing between Slack and the customer, either way. Its bytes are never
    stored: an agent's file is streamed from Slack when the customer's side asks for it,
    a customer's file is fetched from its URL once, to be uploaded into the thread."""

    __tablename__ = "attachments"

    id: str = Field(primary_key=True)  # att_…
    escalation_id: str = Field(foreign_key="escalations.id", index=True)
    message_id: str | None = None
    direction: FileDirection = _word()
    state: FileState = _word()
    name: str
    mime_type: str | None = None
    size: int | None = Field(default=None, sa_type=BigInteger)
    source_url: str  # Slack's url_private_download, or the customer's URL
    # To the customer: Slack's file. To an agent: the upload into the thread, recorded
    # before its bytes are sent, so a retry can ask Slack whether it got there.
    slack_file_id: str | None = None
    error: str | None = None
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


class Suggestion(SQLModel, table=True):
    """A reply the bot drafted for the agents, posted in the card's thread: sent once, by
    its owner, as it is or edited."""

    __tablename__ = "suggestions"

    id: str = Field(primary_key=True)  # sug_…
    escalation_id: str = Field(foreign_key="escalations.id", index=True)
    content: str
    markdown: str
    created_at: datetime = _utc()
    slack_ts: str | None = None  # its post in the thread, once posted
    sent_at: datetime | None = _utc(default=None)
    sent_by: dict[str, Any] | None = _json(default=None)
    message_id: str | None = None  # the reply it became


class Event(SQLModel, table=True):
    """The audit trail: one row for everything that happened to an escalation."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_type_created", "type", "created_at"),)

    id: str = Field(primary_key=True)
    escalation_id: str = Field(foreign_key="escalations.id", index=True)
    type: str
    actor_id: str | None = None
    actor_name: str | None = None
    data: dict[str, Any] = _json(default_factory=dict)
    created_at: datetime = _utc()

    @classmethod
    def of(
        cls,
        escalation_id: str,
        event_type: str,
        now: datetime,
        data: dict[str, Any],
        actor: tuple[str, str] | None = None,
    ) -> "Event":
        """A new entry of the trail; ``actor`` is (id, name), None for Baton itself."""
        actor_id, actor_name = actor if actor else (None, None)
        return cls(
            id=new_id("evt"),
            escalation_id=escalation_id,
            type=event_type,
            actor_id=actor_id,
            actor_name=actor_name,
            data=data,
            created_at=now,
        )


class OutboxRow(SQLModel, table=True):
    """A side effect a transition asked for, written in the same transaction."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "topic", "state", "next_attempt_at"),
        Index("ix_outbox_escalation", "escalation_id", "topic", "id"),
        Index("ix_outbox_done", "state", "done_at"),
        # For the claim (storage.outbox.deliveries.claim_due): each escalation's (and lane's)
        # oldest pending row, and each topic's pending rows in id order.
        Index(
            "ix_outbox_pending_escalation",
            "topic",
            "escalation_id",
            "lane",
            "id",
            sqlite_where=text(PENDING_PREDICATE),
            postgresql_where=text(PENDING_PREDICATE),
        ),
        *(
            Index(
                f"ix_outbox_pending_{topic}",
                "id",
                sqlite_where=text(f"{PENDING_PREDICATE} AND topic = '{topic}'"),
                postgresql_where=text(f"{PENDING_PREDICATE} AND topic = '{topic}'"),
            )
            for topic in Topic
        ),
    )

    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
    topic: Topic = _word()
    kind: str
    escalation_id: str = Field(foreign_key="escalations.id")
    # Rows of one escalation are delivered in order per lane: '' for the card's and the
    # platform's, one per subscriber for notifications (a subscriber that is down holds up
    # only its own).
    lane: str = Field(default="", sa_column_kwargs={"server_default": text("''")})
    platform_id: str | None = None
    event_id: str | None = None
    payload: dict[str, Any] = _json(default_factory=dict)
    state: DeliveryState = _word(default=DeliveryState.pending)
    attempts: int = 0
    next_attempt_at: datetime = _utc()
    claimed_by: str | None = None
    claimed_until: datetime | None = _utc(default=None)
    last_error: str | None = None
    created_at: datetime = _utc()
    give_up_at: datetime | None = _utc(default=None)  # retried until then, then parked
    done_at: datetime | None = _utc(default=None)


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_keys"

    platform_id: str = Field(foreign_key="platforms.id", primary_key=True)
    key: str = Field(primary_key=True)
    request_hash: str
    in_flight: bool = True
    locked_until: datetime = _utc()
    status_code: int | None = None
    response: dict[str, Any] | None = _json(default=None)
    created_at: datetime = _utc()
    expires_at: datetime = _utc(index=True)


class SlackThread(SQLModel, table=True):
    """Where an escalation's card lives; its thread is found by team, channel and ts."""

    __tablename__ = "slack_threads"
    __table_args__ = (UniqueConstraint("team_id", "channel_id", "thread_ts"),)

    escalation_id: str = Field(foreign_key="escalations.id", primary_key=True)
    team_id: str
    channel_id: str
    thread_ts: str
    created_at: datetime = _utc()


class SlackEventSeen(SQLModel, table=True):
    """An Events API delivery claimed, then handled: Slack's retries carry the same
    ``event_id``. ``created_at`` is when it was (last) claimed; ``handled_at`` is null while
    it is being handled."""

    __tablename__ = "slack_events_seen"

    event_id: str = Field(primary_key=True)
    created_at: datetime = _utc(index=True)
    handled_at: datetime | None = _utc(default=None)


class Agent(SQLModel, table=True):
    """A Slack user Baton has seen, with the name a customer will be shown."""

    __tablename__ = "agents"

    id: str = Field(primary_key=True)
    email: str | None = Field(default=None, index=True)
    display_name: str | None = None
    real_name: str | None = None
    updated_at: datetime = _utc()

    @property
    def name(self) -> str:
        return self.display_name or self.real_name or self.id


class DigestRun(SQLModel, table=True):
    """The managers' digest of one local day: claimed by one replica, sent once."""

    __tablename__ = "digest_runs"

    day: date = Field(primary_key=True)
    claimed_by: str | None = None
    claimed_until: datetime | None = _utc(default=None)
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    channel_id: str | None = None
    message_ts: str | None = None
    last_error: str | None = None
    sent_at: datetime | None = _utc(default=None)
    created_at: datetime = _utc()


class ConversationCount(SQLModel, table=True):
    """How many conversations a platform's bot had on a day (the platform says): what
    escalations are a share of."""

    __tablename__ = "conversation_counts"

    platform_id: str = Field(foreign_key="platforms.id", primary_key=True)
    day: date = Field(primary_key=True)
    count: int
    updated_at: datetime = _utc()


class RateBucket(SQLModel, table=True):
    """A shared request budget, so replicas split one API key's rate instead of multiplying it."""

    __tablename__ = "rate_buckets"

    key_id: str = Field(primary_key=True)
    tokens: float
    updated_at: datetime = _utc()


class SlackHome(SQLModel, table=True):
    """A user's App Home: the filters and page they chose, and what was last published, so
    any replica can refresh it when escalations change (see ``storage.homes``)."""

    __tablename__ = "slack_homes"

    user_id: str = Field(primary_key=True)
    priority: str | None = None  # filter: one Priority value, or every one
    channel: str | None = None  # filter: one customer channel (whatsapp, widget…)
    page: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    opened_at: datetime = _utc(index=True)  # the last app_home_opened: homes seen lately
    view_hash: str | None = None  # of the blocks last published
    seen_through: datetime | None = _utc(default=None)  # escalation changes it reflects
    settle_at: datetime | None = _utc(default=None)  # look once more then (late commits)
    next_publish_at: datetime | None = _utc(default=None, index=True)  # throttle, Retry-After


def _table(model: type[SQLModel]) -> Table:
    # SQLModel gives every table model its ``__table__`` but does not declare it.
    table: Table = model.__table__  # type: ignore[attr-defined]  # undeclared by SQLModel
    return table


# What the App Home's refresher watches: the latest change to any escalation.
Index("ix_escalations_updated_at", _table(Escalation).c.updated_at)


def _trigram_index(table: Table, column: str) -> None:
    """For ``storage.search``: a pg_trgm GIN index serves ILIKE '%text%' on PostgreSQL.
    SQLite has no such index (the migration and ``create_all`` skip it there)."""
    Index(
        f"ix_{table.name}_{column}_trgm",
        table.c[column],
        postgresql_using="gin",
        postgresql_ops={column: "gin_trgm_ops"},
    ).ddl_if(dialect="postgresql")


_trigram_index(_table(Message), "content")
_trigram_index(_table(Escalation), "customer_name")
_trigram_index(_table(Escalation), "reason_detail")


# ------------------------------------------------- read models (not tables): the daily digest

# Upper bounds (seconds) of the wait-to-take buckets; the last bucket is open-ended.
WAIT_BUCKETS = (60, 5 * 60, 15 * 60, 60 * 60, 4 * 60 * 60)


@dataclass(frozen=True)
class Day:
    """A local calendar day, as the UTC instants it spans (23 or 25 hours on DST days)."""

    day: date
    timezone: str
    start: datetime
    end: datetime

    @classmethod
    def of(cls, day: date, timezone: str) -> "Day":
        zone = ZoneInfo(timezone)
        start = datetime.combine(day, time(0), zone).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
        return cls(day, timezone, start, end)

    @property
    def hours(self) -> int:
        return round((self.end - self.start).total_seconds() / 3600)


@dataclass(frozen=True)
class Compliance:
    target: str
    met: int
    total: int

    @property
    def share(self) -> float | None:
        return None if self.total == 0 else self.met / self.total


@dataclass(frozen=True)
class AgentDay:
    agent_id: str
    name: str
    handled: int
    median_first_reply: float | None  # seconds from their take to their first reply


@dataclass(frozen=True)
class ChannelDay:
    channel: str
    created: int
    taken: int


@dataclass(frozen=True)
class Waiting:
    escalation_id: str
    customer_name: str | None
    reason: str
    priority: str
    created_at: datetime
    slack_channel: str | None
    slack_ts: str | None


@dataclass(frozen=True)
class Digest:
    day: Day
    created: int
    taken: int
    returned: int
    closed: int
    wait_median: float | None  # seconds
    wait_p90: float | None
    resolution_median: float | None
    compliance: list[Compliance]
    reasons: list[tuple[str, int]]
    channels: list[ChannelDay]
    agents: list[AgentDay]
    waiting: list[Waiting]
    waiting_total: int
    per_hour: list[int]  # created per local hour of the day
    wait_buckets: list[int]  # first taken that day, per WAIT_BUCKETS bucket
    ratings: int = 0  # escalations whose (latest) rating came that day
    rating_average: float | None = None
    # The platforms that said how many conversations their bot had that day: how many, and
    # how many of that day's escalations were theirs. None: no platform said.
    conversations: int | None = None
    escalated: int = 0
    returned_to_bot: int = 0  # returned that day
    bounced: int = 0  # of those, escalated again for the same conversation within 24 hours

    @property
    def escalation_rate(self) -> float | None:
        return None if not self.conversations else self.escalated / self.conversations

    @property
    def bounce_rate(self) -> float | None:
        return None if not self.returned_to_bot else self.bounced / self.returned_to_bot
