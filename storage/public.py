"""The escalation as platforms see it: in API answers and inside every signed event."""

from datetime import UTC, datetime
from typing import Any

from storage.models import Escalation, Event, Message


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def person(ident: str | None, name: str | None) -> dict[str, str] | None:
    return None if ident is None else {"id": ident, "name": name or ident}


def escalation_public(esc: Escalation) -> dict[str, Any]:
    return {
        "id": esc.id,
        "conversation_id": esc.conversation_id,
        "status": str(esc.status),
        "priority": str(esc.priority),
        "reason": str(esc.reason),
        "reason_detail": esc.reason_detail,
        "channel": esc.channel,
        "customer": esc.customer,
        "confidence": esc.confidence,
        "assignee": person(esc.assignee_id, esc.assignee_name),
        "sla": {
            target: {"due_at": iso(due), "state": str(state)}
            for target, (due, state) in esc.sla().items()
        },
        "created_at": iso(esc.created_at),
        "updated_at": iso(esc.updated_at),
        "taken_at": iso(esc.taken_at),
        "ended_at": iso(esc.ended_at),
        "resolution": None if esc.resolution is None else str(esc.resolution),
    }


def message_public(msg: Message) -> dict[str, Any]:
    return {
        "id": msg.id,
        "role": str(msg.role),
        "content": msg.content,
        "attachments": msg.attachments,
        "external_id": msg.external_id,
        "author": person(msg.author_id, msg.author_name),
        "timestamp": iso(msg.sent_at),
        "received_at": iso(msg.created_at),
    }


def event_public(evt: Event) -> dict[str, Any]:
    return {
        "id": evt.id,
        "type": evt.type,
        "actor": person(evt.actor_id, evt.actor_name),
        "data": evt.data,
        "created_at": iso(evt.created_at),
    }


def escalation_detail(
    esc: Escalation, messages: list[Message], events: list[Event]
) -> dict[str, Any]:
    return {
        **escalation_public(esc),
        "context": esc.context,
        "close_note": esc.close_note,
        "keep_ai_paused": esc.keep_ai_paused,
        "messages": [message_public(m) for m in messages],
        "events": [event_public(e) for e in events],
    }
