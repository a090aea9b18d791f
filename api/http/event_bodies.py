"""The bodies of the events Baton POSTs, as the OpenAPI document describes them.

They document what ``storage.outbox.rows.event_body`` writes (the tests hold each to real
outbox rows); Baton never builds an event from them.
"""

from typing import Literal

from pydantic import BaseModel, Field

from storage.models import Resolution
from storage.public import EscalationPublic, PersonPublic, RelayedMessagePublic

TYPE = "The event's type; one webhook of this document per type."
TIMESTAMP = "When it happened (ISO 8601, UTC)."
DATA = "What happened, and the escalation as it is after it."
CUSTOMER_MESSAGE = (
    "The text for the platform to show the customer, in their locale (the configuration's "
    "`[templates]` can override it)."
)


class EventData(BaseModel):
    """What every event's ``data`` holds."""

    escalation_id: str = Field(description="The escalation's id, `esc_…`.")
    conversation_id: str = Field(description="The conversation's id on the platform.")
    escalation: EscalationPublic = Field(description="The escalation as it is after the event.")


class CreatedData(EventData):
    customer_message: str = Field(
        description=CUSTOMER_MESSAGE + ' E.g. "I\'m connecting you with a member of our team…"'
    )


class TakenData(EventData):
    agent: PersonPublic = Field(description="The agent who now owns it.")
    customer_message: str = Field(
        description=CUSTOMER_MESSAGE + " E.g. \"Hi, I'm Minh. I've reviewed your conversation…\""
    )


class MessageData(EventData):
    message: RelayedMessagePublic = Field(description="The reply, for the customer.")


class MessageDeletedData(EventData):
    message_id: str = Field(description="The reply to withdraw from the customer, `msg_…`.")


class ReturnedData(EventData):
    customer_message: str = Field(description=CUSTOMER_MESSAGE)


class ClosedData(EventData):
    resolution: Resolution = Field(description="How it was closed.")
    note: str | None = Field(description="The closing note, if any.")
    keep_ai_paused: bool = Field(
        description="Keep the bot paused: it resumes on `escalation.ai_resumed` instead."
    )
    customer_message: str = Field(description=CUSTOMER_MESSAGE)


class SlaAlertData(EventData):
    target: Literal["first_take", "resolution"] = Field(
        description="The SLA target: being taken, or being returned or closed."
    )
    level: int = Field(
        description="1, 2… for each `[sla] at_risk` fraction reached, in order; 100 for a breach."
    )
    due_at: str = Field(description="When the target falls (or fell) due (ISO 8601).")


class EscalationCreated(BaseModel):
    """A new escalation was accepted: show the customer ``customer_message``, pause the AI."""

    type: Literal["escalation.created"] = Field(description=TYPE)
    timestamp: str = Field(description=TIMESTAMP)
    data: CreatedData = Field(description=DATA)


class EscalationTaken(BaseModel):
    """An agent took the escalation, or it was reassigned: show ``customer_message``."""

    type: Literal["escalation.taken"] = Field(description=TYPE)
    timestamp: str = Field(description=TIMESTAMP)
    data: TakenData = Field(description=DATA)


class EscalationMessage(BaseModel):
    """The owner replied: deliver ``message`` to the customer."""

    type: Literal["escalation.message"] = Field(description=TYPE)
    timestamp: str = Field(description=TIMESTAMP)
    data: MessageData = Field(description=DATA)


class EscalationMessageEdited(BaseModel):
    """The owner edited a reply in Slack: replace the customer's copy of ``message.id``."""

    type: Literal["escalation.message_edited"] = Field(description=TYPE)
    timestamp: str = Field(description=TIMESTAMP)
    data: MessageData = Field(description=DATA)


class EscalationMessageDeleted(BaseModel):
    """The owner deleted a reply in Slack: withdraw the customer's copy of ``message_id``."""

    type: Literal["escalation.message_deleted"] = Field(description=TYPE)
    timestamp: str = Field(description=TIMESTAMP)
    data: MessageDeletedData = Field(description=DATA)


class EscalationReturned(BaseModel):
    """The escalation went back to the bot: show ``customer_message``, resume the AI."""

    type: Literal["escalation.returned"] = Field(description=TYPE)
    timestamp: str = Field(description=TIMESTAMP)
    data: ReturnedData = Field(description=DATA)


class EscalationClosed(BaseModel):
    """The escalation was closed: resume the AI unless ``keep_ai_paused``."""

    type: Literal["escalation.closed"] = Field(description=TYPE)
    timestamp: str = Field(description=TIMESTAMP)
    data: ClosedData = Field(description=DATA)


class EscalationAiResumed(BaseModel):
    """An escalation closed with the AI kept paused: resume the AI now."""

    type: Literal["escalation.ai_resumed"] = Field(description=TYPE)
    timestamp: str = Field(description=TIMESTAMP)
    data: EventData = Field(description=DATA)


class SlaAtRisk(BaseModel):
    """An escalation reached an at-risk fraction of an SLA target."""

    type: Literal["sla.at_risk"] = Field(description=TYPE)
    timestamp: str = Field(description=TIMESTAMP)
    data: SlaAlertData = Field(description=DATA)


class SlaBreached(BaseModel):
    """An escalation missed an SLA target."""

    type: Literal["sla.breached"] = Field(description=TYPE)
    timestamp: str = Field(description=TIMESTAMP)
    data: SlaAlertData = Field(description=DATA)
