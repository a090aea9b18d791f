"""Side effects as outbox rows, written in the transaction that asked for them.

Slack rows name what to do (post the card, update it, post a message into the thread);
the Slack worker renders them from the rows as they are when it runs. Platform rows carry
the complete event body, frozen at commit, so every attempt sends the same bytes.
"""

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from storage.models import Escalation, OutboxRow, Topic
from storage.public import escalation_public, iso

RETRY_FOR = timedelta(hours=24)


class SlackEffect(StrEnum):
    CARD_POST = "card.post"
    CARD_UPDATE = "card.update"
    THREAD_MESSAGE = "thread.message"
    THREAD_NOTE = "thread.note"
    REPLY_STATUS = "reply.status"  # whether an agent's reply reached the customer
    SLA_ALERT = "sla.alert"  # at risk or breached, in the thread
    SLA_MANAGERS = "sla.managers"  # a breach, in the managers' channel
    SLA_OWNER = "sla.owner"  # a breach, to the owner in a DM
    OWNER_NUDGE = "owner.nudge"  # the customer has waited on the owner too long, in a DM
    CARD_REROUTED = "card.rerouted"  # a card went to the escalation channel instead, to managers
    FILE_UPLOAD = "file.upload"  # a customer's attachment, into the thread
    RATING = "thread.rating"  # the customer's rating, in the thread
    AUTO_CLOSED = "thread.auto_closed"  # closed for the customer's silence, to its owner
    SUGGESTION = "thread.suggestion"  # the bot's drafted reply: posted, or shown sent or stale
    NOTIFY = "notify"  # a [[notifications]] entry of kind slack: a post elsewhere, or a mention


class PlatformEvent(StrEnum):
    CREATED = "escalation.created"
    TAKEN = "escalation.taken"
    MESSAGE = "escalation.message"
    MESSAGE_EDITED = "escalation.message_edited"  # the owner edited a reply within the window
    MESSAGE_DELETED = "escalation.message_deleted"  # the owner deleted one within the window
    RETURNED = "escalation.returned"
    CLOSED = "escalation.closed"
    AI_RESUMED = "escalation.ai_resumed"  # closed with the AI kept paused, now resumed


def slack_row(esc: Escalation, kind: SlackEffect, now: datetime, **payload: Any) -> OutboxRow:
    return slack_row_for(esc.id, esc.platform_id, kind, now, payload)


def slack_reply_status(
    escalation_id: str,
    platform_id: str | None,
    message_id: str,
    state: str,
    error: str | None,
    now: datetime,
) -> OutboxRow:
    payload = {"message_id": message_id, "state": state, "error": error}
    return slack_row_for(escalation_id, platform_id, SlackEffect.REPLY_STATUS, now, payload)


def slack_row_for(
    escalation_id: str,
    platform_id: str | None,
    kind: SlackEffect,
    now: datetime,
    payload: dict[str, Any],
) -> OutboxRow:
    """A Slack row for an escalation known by its id."""
    return OutboxRow(
        topic=Topic.slack,
        kind=kind,
        escalation_id=escalation_id,
        platform_id=platform_id,
        payload=payload,
        next_attempt_at=now,
        created_at=now,
        give_up_at=now + RETRY_FOR,
    )


def event_body(
    esc: Escalation, event_type: str, now: datetime, extra: Mapping[str, Any]
) -> dict[str, Any]:
    """An event as platforms and webhook subscribers get it, the escalation as it is now."""
    return {
        "type": event_type,
        "timestamp": iso(now),
        "data": {
            "escalation_id": esc.id,
            "conversation_id": esc.conversation_id,
            "escalation": escalation_public(esc),
            **extra,
        },
    }


def platform_row(
    esc: Escalation, event_type: PlatformEvent, event_id: str, now: datetime, extra: dict[str, Any]
) -> OutboxRow:
    body = event_body(esc, event_type, now, extra)
    return OutboxRow(
        topic=Topic.platform,
        kind=event_type,
        escalation_id=esc.id,
        platform_id=esc.platform_id,
        event_id=event_id,
        payload=body,
        next_attempt_at=now,
        created_at=now,
        give_up_at=now + RETRY_FOR,
    )
