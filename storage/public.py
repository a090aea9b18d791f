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

    id: str = Field(description="A Slack user id (`U…`) for an agent, or the platform's id.")
    name: str = Field(description="The name the customer sees (the id if there is none).")

    @classmethod
    def of(cls, ident: str | None, name: str | None) -> Self | None:
        """Nobody without an id (Baton itself); a person without a name goes by the id."""
        return None if ident is None else cls(id=ident, name=name or ident)


class SlaPublic(BaseModel):
    """One SLA target: when it falls due, and how it stands."""

    due_at: str = Field(description="When the target falls due (ISO 8601, UTC).")
    state: SlaState = Field(
        description="`on_track`, `at_risk` or `breached` while the clock runs; `met` or "
        "`missed` once it stopped (taken, or ended) before or after `due_at`."
    )


class RatingPublic(BaseModel):
    """The customer's rating of the help they got: the latest one."""

    score: int = Field(ge=1, le=5, description="1 (poor) to 5 (excellent).")
    comment: str | None = Field(description="What the customer said about it.")
    rated_at: str = Field(description="When it was rated (ISO 8601, UTC).")


class EscalationPublic(BaseModel):
    """An escalation, as the API answers it and as every platform event carries it."""

    id: str = Field(description="The escalation's id, `esc_…`.")
    conversation_id: str = Field(description="The conversation's id on the platform.")
    status: Status = Field(
        description="`queued` (waiting for an agent), `taken` (an agent owns it), "
        "`returned` (back to the bot) or `closed`. The AI is paused while queued or taken."
    )
    priority: Priority = Field(description="How urgent it is; it sets the SLA targets.")
    reason: Reason = Field(description="Why the bot escalated.")
    reason_detail: str | None = Field(description="The reason in the bot's words.")
    channel: str | None = Field(description="Where the customer writes from (`whatsapp`…).")
    customer: dict[str, Any] = Field(description="The customer, as given at creation.")
    summary: str | None = Field(description="The bot's summary of the conversation.")
    confidence: int | None = Field(description="The bot's confidence, 0 to 100, as given.")
    assignee: PersonPublic | None = Field(description="The agent who owns it; null unless taken.")
    sla: dict[str, SlaPublic] = Field(
        description="Each SLA target its priority has (first_take, resolution), by name."
    )
    created_at: str = Field(description="When it was created (ISO 8601, UTC).")
    updated_at: str = Field(description="When it last changed (ISO 8601, UTC).")
    taken_at: str | None = Field(
        description="When its owner took it, or was assigned it (kept once it ends); null "
        "while queued."
    )
    ended_at: str | None = Field(description="When it was returned or closed.")
    resolution: Resolution | None = Field(description="How it was closed; null unless closed.")
    rating: RatingPublic | None = Field(description="The customer's latest rating, if any.")

    @classmethod
    def of(cls, esc: Escalation) -> Self:
        return cls(**_escalation_fields(esc))


class MessagePublic(BaseModel):
    """A message of the conversation, from either side."""

    id: str = Field(description="The message's id, `msg_…`.")
    role: Role = Field(description="Who wrote it.")
    content: str = Field(description="What was written; an agent's reply as plain text.")
    attachments: list[dict[str, Any]] = Field(
        description="Files sent with it: each with `url` and, if known, `name` and "
        "`mime_type`; a file an agent shared in Slack has instead its `id` (`att_…`, "
        "downloaded from `GET /v1/files/{id}`), `name`, `mime_type` and `size`."
    )
    external_id: str | None = Field(description="The platform's id of the message, as given.")
    author: PersonPublic | None = Field(
        description="The agent who wrote it; null for the customer's side."
    )
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

    id: str = Field(description="The message's id, `msg_…`: an edit or a deletion names it.")
    content: str = Field(description="Plain text.")
    markdown: str = Field(description="The same text as CommonMark.")
    attachments: list[dict[str, Any]] = Field(
        description="Files for the customer: each with `url` and, if known, `name` and "
        "`mime_type`; an agent's file shared in Slack has Baton's link, which works without "
        "an API key until it expires (`files.url_ttl`)."
    )
    agent: PersonPublic = Field(description="The agent who wrote it, named as customers see them.")
    sent_at: str = Field(description="When the agent sent it (ISO 8601, UTC).")
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

    id: str = Field(description="The suggestion's id, `sug_…`.")
    escalation_id: str = Field(description="The escalation it is for.")
    content: str = Field(description="The suggested reply, as plain text.")
    markdown: str = Field(description="The same as CommonMark.")
    created_at: str = Field(description="When it was suggested (ISO 8601, UTC).")
    sent_at: str | None = Field(description="When an agent sent it to the customer.")
    sent_by: PersonPublic | None = Field(description="The agent who sent it.")
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

    id: str = Field(description="The entry's id, `evt_…`: also the `webhook-id` of its event.")
    type: str = Field(
        description="What happened: `created`, `taken`, `reassigned`, `unassigned`, `reply`, "
        "`message`, `note`, `returned`, `closed`, `priority_changed`, `rated`, `sla_at_risk`…"
    )
    actor: PersonPublic | None = Field(description="Who did it; null for Baton itself.")
    data: dict[str, Any] = Field(description="The details of what happened, by type.")
    created_at: str = Field(description="When it happened (ISO 8601, UTC).")

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

    context: dict[str, Any] = Field(description="What the bot knew and did, as given.")
    close_note: str | None = Field(description="The note it was closed with.")
    keep_ai_paused: bool = Field(description="Closed with the bot kept paused.")
    ai_resumed_at: str | None = Field(
        description="When the AI of an escalation closed with it kept paused was resumed."
    )
    messages: list[MessagePublic] = Field(description="The conversation, oldest first.")
    events: list[EventPublic] = Field(description="The audit trail, oldest first.")

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
