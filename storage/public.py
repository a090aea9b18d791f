"""The entities as platforms see them: in API answers and inside every signed event.

One model per entity. The platform API declares them as its answers and returns them; the
platform events carry the escalation as ``model_dump(mode="json")`` (``escalation_public``),
frozen into their outbox rows at commit. Each model is built from its row with ``of``,
validated once there and not again when it is answered.
"""

from datetime import UTC, datetime
from typing import Any, Self, overload

from pydantic import BaseModel, Field

from storage.models import (
    Escalation,
    Event,
    Message,
    Priority,
    Reason,
    Resolution,
    Role,
    Status,
    Suggestion,
)
from storage.sla import SlaState


@overload
def iso(value: datetime) -> str: ...


@overload
def iso(value: None) -> None: ...


def iso(value: datetime | None) -> str | None:
    """A time as every answer and event writes it: UTC, to the millisecond, with ``Z``."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class PersonPublic(BaseModel):
    """An agent (a Slack user, named as the customer sees them) or a platform."""

    id: str
    name: str

    @classmethod
    def of(cls, ident: str | None, name: str | None) -> Self | None:
        """Nobody without an id (Baton itself); a person without a name goes by the id."""
        return None if ident is None else cls(id=ident, name=name or ident)


class SlaPublic(BaseModel):
    """One SLA target: when it falls due, and how it stands."""

    due_at: str
    state: SlaState


class RatingPublic(BaseModel):
    """The customer's rating of the help they got: the latest one."""

    score: int = Field(ge=1, le=5)
    comment: str | None
    rated_at: str


class EscalationPublic(BaseModel):
    """An escalation, as the API answers it and as every platform event carries it."""

    id: str
    conversation_id: str
    status: Status
    priority: Priority
    reason: Reason
    reason_detail: str | None
    channel: str | None
    customer: dict[str, Any] = Field(description="The customer, as given at creation.")
    summary: str | None = Field(description="The bot's summary of the conversation.")
    confidence: int | None
    assignee: PersonPublic | None
    sla: dict[str, SlaPublic] = Field(
        description="Each SLA target its priority has (first_take, resolution), by name."
    )
    created_at: str
    updated_at: str
    taken_at: str | None
    ended_at: str | None
    resolution: Resolution | None
    rating: RatingPublic | None

    @classmethod
    def of(cls, esc: Escalation) -> Self:
        return cls(**_escalation_fields(esc))


class MessagePublic(BaseModel):
    id: str
    role: Role
    content: str
    attachments: list[dict[str, Any]]
    external_id: str | None
    author: PersonPublic | None
    timestamp: str = Field(description="When it was sent.")
    received_at: str = Field(description="When Baton stored it.")

    @classmethod
    def of(cls, msg: Message) -> Self:
        return cls(
            id=msg.id,
            role=msg.role,
            content=msg.content,
            attachments=msg.attachments,
            external_id=msg.external_id,
            author=PersonPublic.of(msg.author_id, msg.author_name),
            timestamp=iso(msg.sent_at),
            received_at=iso(msg.created_at),
        )


class RelayedMessagePublic(BaseModel):
    """An agent's reply as ``escalation.message`` (and its edit) carries it to the platform."""

    id: str
    content: str = Field(description="Plain text.")
    markdown: str = Field(description="The same text as CommonMark.")
    attachments: list[dict[str, Any]]
    agent: PersonPublic
    sent_at: str
    edited_at: str | None = Field(default=None, description="Only on an edit.")
    suggestion_id: str | None = Field(
        default=None, description="Only when the agent sent the bot's suggested reply."
    )

    def as_event_data(self) -> dict[str, Any]:
        """The event's ``message``: ``edited_at`` only when it was edited, ``suggestion_id``
        only when it was the bot's suggestion."""
        return self.model_dump(mode="json", exclude=self._unset())

    def _unset(self) -> set[str]:
        return {k for k in ("edited_at", "suggestion_id") if getattr(self, k) is None}


class SuggestionPublic(BaseModel):
    """A reply the bot drafted, as the API answers it."""

    id: str
    escalation_id: str
    content: str
    markdown: str
    created_at: str
    sent_at: str | None = Field(description="When an agent sent it to the customer.")
    sent_by: PersonPublic | None
    message_id: str | None = Field(description="The message it was sent as.")

    @classmethod
    def of(cls, sug: Suggestion) -> Self:
        sent_by = sug.sent_by or {}
        return cls(
            id=sug.id,
            escalation_id=sug.escalation_id,
            content=sug.content,
            markdown=sug.markdown,
            created_at=iso(sug.created_at) or "",
            sent_at=iso(sug.sent_at),
            sent_by=PersonPublic.of(sent_by.get("id"), sent_by.get("name")),
            message_id=sug.message_id,
        )


class EventPublic(BaseModel):
    """An entry of the audit trail (a note is one)."""

    id: str
    type: str
    actor: PersonPublic | None
    data: dict[str, Any]
    created_at: str

    @classmethod
    def of(cls, evt: Event) -> Self:
        return cls(
            id=evt.id,
            type=evt.type,
            actor=PersonPublic.of(evt.actor_id, evt.actor_name),
            data=evt.data,
            created_at=iso(evt.created_at),
        )


class EscalationDetailPublic(EscalationPublic):
    """An escalation with its messages and its audit trail, oldest first."""

    context: dict[str, Any]
    close_note: str | None
    keep_ai_paused: bool
    ai_resumed_at: str | None = Field(
        description="When the AI of an escalation closed with it kept paused was resumed."
    )
    messages: list[MessagePublic]
    events: list[EventPublic]

    @classmethod
    def of_history(cls, esc: Escalation, messages: list[Message], events: list[Event]) -> Self:
        return cls(
            **_escalation_fields(esc),
            context=esc.context,
            close_note=esc.close_note,
            keep_ai_paused=esc.keep_ai_paused,
            ai_resumed_at=iso(esc.ai_resumed_at),
            messages=[MessagePublic.of(m) for m in messages],
            events=[EventPublic.of(e) for e in events],
        )


def _escalation_fields(esc: Escalation) -> dict[str, Any]:
    return {
        "id": esc.id,
        "conversation_id": esc.conversation_id,
        "status": esc.status,
        "priority": esc.priority,
        "reason": esc.reason,
        "reason_detail": esc.reason_detail,
        "channel": esc.channel,
        "customer": esc.customer,
        "summary": esc.summary,
        "confidence": esc.confidence,
        "assignee": PersonPublic.of(esc.assignee_id, esc.assignee_name),
        "sla": {
            target: SlaPublic(due_at=iso(due), state=state)
            for target, (due, state) in esc.sla().items()
        },
        "created_at": iso(esc.created_at),
        "updated_at": iso(esc.updated_at),
        "taken_at": iso(esc.taken_at),
        "ended_at": iso(esc.ended_at),
        "resolution": esc.resolution,
        "rating": _rating(esc),
    }


def _rating(esc: Escalation) -> RatingPublic | None:
    if esc.rating_score is None or esc.rated_at is None:
        return None
    return RatingPublic(
        score=esc.rating_score, comment=esc.rating_comment, rated_at=iso(esc.rated_at) or ""
    )


def escalation_public(esc: Escalation) -> dict[str, Any]:
    """The escalation as JSON, as every platform event carries it."""
    return EscalationPublic.of(esc).model_dump(mode="json")
