"""Request and response bodies of the platform API.

Requests are strict: unknown fields and wrong types answer 422 naming the field.
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
)
from pydantic_core import PydanticCustomError

from storage.models import Priority, Reason, Resolution, Role


def _no_nul(value: str | None) -> str | None:
    # PostgreSQL's text cannot hold NUL characters: refused on every database alike.
    if value is not None and "\x00" in value:
        raise PydanticCustomError("nul_character", "must not contain NUL characters")
    return value


NoNul = AfterValidator(_no_nul)
Text = Annotated[str, StringConstraints(strict=True, max_length=40_000), NoNul]
NonEmptyText = Annotated[
    str, StringConstraints(strict=True, min_length=1, max_length=40_000), NoNul
]
Ident = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=255), NoNul]
ShortText = Annotated[str, StringConstraints(strict=True, max_length=1_000), NoNul]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Attachment(_Body):
    url: AnyHttpUrl
    name: ShortText | None = None
    mime_type: ShortText | None = None


class Customer(_Body):
    id: Ident | None = None
    name: ShortText | None = None
    email: ShortText | None = None
    avatar_url: AnyHttpUrl | None = None
    locale: Annotated[str, StringConstraints(strict=True, max_length=35), NoNul] | None = None


class TranscriptMessage(_Body):
    role: Role
    content: Text
    timestamp: datetime | None = None
    attachments: list[Attachment] = Field(default_factory=list, max_length=20)


class Context(_Body):
    memory: dict[str, Any] = Field(default_factory=dict)
    tags: list[ShortText] = Field(default_factory=list)
    gate_audit: list[Any] = Field(default_factory=list)
    tool_calls: list[Any] = Field(default_factory=list)


class CreateEscalation(_Body):
    conversation_id: Ident
    customer: Customer
    channel: Ident | None = None
    reason: Reason
    reason_detail: ShortText | None = None
    priority: Priority = Priority.medium
    confidence: Annotated[StrictInt, Field(ge=0, le=100)] | None = None
    transcript: list[TranscriptMessage] = Field(default_factory=list, max_length=1_000)
    context: Context = Field(default_factory=Context)
    assign_to: Ident | None = None


class CustomerMessage(_Body):
    role: Literal[Role.customer, Role.assistant, Role.system] = Role.customer
    content: Text
    attachments: list[Attachment] = Field(default_factory=list, max_length=20)
    external_id: Ident | None = None
    timestamp: datetime | None = None


class AgentAction(_Body):
    agent: Ident


class Reply(_Body):
    agent: Ident
    content: NonEmptyText
    attachments: list[Attachment] = Field(default_factory=list, max_length=20)


class Note(_Body):
    agent: Ident
    content: NonEmptyText


class Close(_Body):
    agent: Ident
    resolution: Resolution
    note: Text | None = None
    keep_ai_paused: StrictBool = False


class Patch(_Body):
    priority: Priority | None = None
    assignee: Ident | None = None
    note: NonEmptyText | None = None


# ------------------------------------------------------------------ responses (documentation)


class Person(BaseModel):
    id: str
    name: str


class SlaState(BaseModel):
    state: Literal["on_track", "at_risk", "breached", "met", "missed"]
    due_at: str | None


class EscalationOut(BaseModel):
    id: str
    conversation_id: str
    status: Literal["queued", "taken", "returned", "closed"]
    priority: Priority
    reason: Reason
    reason_detail: str | None
    channel: str | None
    customer: dict[str, Any]
    confidence: int | None
    assignee: Person | None
    sla: dict[str, SlaState]
    created_at: str
    updated_at: str
    taken_at: str | None
    ended_at: str | None
    resolution: Resolution | None


class MessageOut(BaseModel):
    id: str
    role: Role
    content: str
    attachments: list[dict[str, Any]]
    external_id: str | None
    author: Person | None
    timestamp: str
    received_at: str


class EventOut(BaseModel):
    id: str
    type: str
    actor: Person | None
    data: dict[str, Any]
    created_at: str


class EscalationDetailOut(EscalationOut):
    context: dict[str, Any]
    close_note: str | None
    keep_ai_paused: bool
    messages: list[MessageOut]
    events: list[EventOut]


class EscalationPage(BaseModel):
    data: list[EscalationOut]
    next_cursor: str | None
