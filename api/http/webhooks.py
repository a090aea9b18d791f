"""The events Baton POSTs, declared as the OpenAPI document's ``webhooks``: one per type.

These receivers are never called; they document the requests a platform's callback URL (and
a ``[[notifications]]`` webhook) receives.
"""

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, FastAPI, Header
from pydantic import BaseModel, Field

from api.http.event_bodies import (
    EscalationAiResumed,
    EscalationClosed,
    EscalationCreated,
    EscalationMessage,
    EscalationMessageDeleted,
    EscalationMessageEdited,
    EscalationReturned,
    EscalationTaken,
    SlaAtRisk,
    SlaBreached,
)

DELIVERY = """

**Signed** per Standard Webhooks, with the receiver's `whsec_…` secret: the signature is
`v1,` and the base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}` (the
`standardwebhooks` libraries check it). Refuse a request whose signature does not match or
whose timestamp is more than a few minutes off.

**Delivered at least once, in order per escalation.** Answer any 2xx status to acknowledge it.
Any other answer, or none, is retried with growing, jittered back-off (honouring
`Retry-After`) for at least 24 hours, with the same `webhook-id` on every attempt (drop
repeats by it); then it is parked as failed until an operator replays it
(`baton deliveries replay`). **410 Gone** parks it at once.
"""
TO_PLATFORM = "\n\nSent to the platform's `callback_url`."
ALSO_NOTIFIED = (
    TO_PLATFORM[:-1] + ", and to every `[[notifications]]` entry of kind `webhook` that lists "
    "this event in its `events` (signed with that entry's secret)."
)
TO_SUBSCRIBERS_ONLY = (
    "\n\nSent only to `[[notifications]]` entries of kind `webhook` that list this event in "
    "their `events` (signed with the entry's secret), never to platforms."
)


class SignedHeaders(BaseModel):
    """The Standard Webhooks headers of every event."""

    webhook_id: str = Field(
        description="The event's id (`evt_…`, as in the escalation's audit trail): the same on "
        "every attempt, so repeats can be dropped."
    )
    webhook_timestamp: str = Field(description="When this attempt was signed, in Unix seconds.")
    webhook_signature: str = Field(
        description="`v1,` and the base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}`"
        " keyed with the receiver's secret."
    )


Signed = Annotated[SignedHeaders, Header()]

ANSWERS: dict[int | str, dict[str, Any]] = {
    410: {"description": "Gone: the event is parked at once, never retried."},
    "default": {"description": "Any other answer, or none in time, is retried."},
}

router = APIRouter(tags=["events"], responses=ANSWERS)
ACKNOWLEDGED = "Any 2xx status acknowledges the event; the body is ignored."


Receiver = TypeVar("Receiver", bound=Callable[..., None])


def _event(
    name: str, operation_id: str, summary: str, what: str, sent_to: str
) -> Callable[[Receiver], Receiver]:
    """The decorator declaring the webhook of event type ``name``."""
    return router.post(
        name,
        operation_id=operation_id,
        summary=summary,
        description=what + sent_to + DELIVERY,
        response_description=ACKNOWLEDGED,
    )


@_event(
    "escalation.created",
    "escalationCreated",
    "An escalation was accepted",
    "Show the customer `data.customer_message` (\"I'm connecting you with a member of our "
    "team…\") and pause the AI: the conversation is the team's until it is returned or closed.",
    ALSO_NOTIFIED,
)
def escalation_created(body: EscalationCreated, headers: Signed) -> None: ...


@_event(
    "escalation.taken",
    "escalationTaken",
    "An agent took an escalation",
    "Show the customer `data.customer_message` (\"Hi, I'm Minh. I've reviewed your "
    "conversation and I'm here to help.\"). Sent again, with the new `data.agent`, when the "
    "escalation is reassigned.",
    ALSO_NOTIFIED,
)
def escalation_taken(body: EscalationTaken, headers: Signed) -> None: ...


@_event(
    "escalation.message",
    "escalationMessage",
    "The owner replied",
    "Deliver `data.message` to the customer: its `content` as plain text (no Slack markup; "
    "`markdown` has the same as CommonMark), its `attachments`, and the agent's name. "
    "`message.suggestion_id` is there when the agent sent the bot's suggested reply.",
    TO_PLATFORM,
)
def escalation_message(body: EscalationMessage, headers: Signed) -> None: ...


@_event(
    "escalation.message_edited",
    "escalationMessageEdited",
    "The owner edited a reply",
    "The owner edited a reply in Slack within `[relay] edit_window` of sending it: replace "
    "the customer's copy of `data.message.id` with `data.message` (`edited_at` says when). "
    "Later edits stay in Slack.",
    TO_PLATFORM,
)
def escalation_message_edited(body: EscalationMessageEdited, headers: Signed) -> None: ...


@_event(
    "escalation.message_deleted",
    "escalationMessageDeleted",
    "The owner deleted a reply",
    "The owner deleted a reply in Slack within `[relay] edit_window` of sending it: withdraw "
    "the customer's copy of `data.message_id`. Later deletions leave the customer's copy.",
    TO_PLATFORM,
)
def escalation_message_deleted(body: EscalationMessageDeleted, headers: Signed) -> None: ...


@_event(
    "escalation.returned",
    "escalationReturned",
    "An escalation went back to the bot",
    "Show the customer `data.customer_message` and resume the AI.",
    ALSO_NOTIFIED,
)
def escalation_returned(body: EscalationReturned, headers: Signed) -> None: ...


@_event(
    "escalation.closed",
    "escalationClosed",
    "An escalation was closed",
    "Show the customer `data.customer_message` and resume the AI, unless "
    "`data.keep_ai_paused` (then `escalation.ai_resumed` follows when the AI may resume). "
    "Also sent when Baton closes a taken escalation whose customer stayed silent "
    "(`[lifecycle] auto_close_after`, resolution `no_response`).",
    ALSO_NOTIFIED,
)
def escalation_closed(body: EscalationClosed, headers: Signed) -> None: ...


@_event(
    "escalation.ai_resumed",
    "escalationAiResumed",
    "The AI may resume",
    "An escalation closed with `keep_ai_paused` was handed back to the AI "
    "(`POST /v1/escalations/{escalation_id}/resume_ai`): resume it. Sent once.",
    TO_PLATFORM,
)
def escalation_ai_resumed(body: EscalationAiResumed, headers: Signed) -> None: ...


@_event(
    "sla.at_risk",
    "slaAtRisk",
    "An escalation is at risk of missing an SLA target",
    "An active escalation reached an `[sla] at_risk` fraction of a target (`data.target`, "
    "due at `data.due_at`); `data.level` counts the fractions reached.",
    TO_SUBSCRIBERS_ONLY,
)
def sla_at_risk(body: SlaAtRisk, headers: Signed) -> None: ...


@_event(
    "sla.breached",
    "slaBreached",
    "An escalation missed an SLA target",
    "An active escalation passed the due time of a target (`data.target`, due at "
    "`data.due_at`); `data.level` is 100.",
    TO_SUBSCRIBERS_ONLY,
)
def sla_breached(body: SlaBreached, headers: Signed) -> None: ...


def declare_webhooks(app: FastAPI) -> None:
    app.webhooks.include_router(router)
