"""Request bodies of the platform API, and the page a list answers.

Requests are strict: unknown fields and wrong types answer 422 naming the field.
"""

import math
from contextvars import ContextVar
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    AnyUrl,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    StrictBool,
    StrictInt,
    StringConstraints,
    UrlConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from storage.models import Priority, Reason, Resolution, Role
from storage.public import EscalationPublic

CONTEXT_DEPTH = 32  # levels of nesting in ``context``, itself the first
SUMMARY_CHARS = 3_000
SUGGESTION_CHARS = 3_000
ATTRIBUTES = 50  # names in ``customer.attributes``
_REPORTED = 20  # unstorable strings named in one answer; the rest are alike
_checked_whole: ContextVar[bool] = ContextVar("checked_whole", default=False)


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored, or None. PostgreSQL's text cannot hold NUL, and a lone
    surrogate (half of a UTF-16 pair, as a JavaScript client makes when it cuts a string
    inside an emoji) is no character at all: neither can be written as UTF-8."""
    if "\x00" in text:
        return "must not contain NUL characters (\\u0000)"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return (
                "must not contain a lone surrogate (half of a UTF-16 pair, e.g. an emoji cut in"
                " two); send whole characters"
            )
    return None


def _storable(value: str | None) -> str | None:
    problem = text_problem(value) if value is not None else None
    if problem is not None:
        raise PydanticCustomError("unstorable_text", problem)
    return value


# Request bodies are checked whole by ``_Body``; this is for path, query and header values,
# and for the text types wherever else they are used.
NoNul = AfterValidator(_storable)
Text = Annotated[str, StringConstraints(strict=True, max_length=40_000), NoNul]
NonEmptyText = Annotated[
    str, StringConstraints(strict=True, min_length=1, max_length=40_000), NoNul
]
Ident = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=255), NoNul]
ShortText = Annotated[str, StringConstraints(strict=True, max_length=1_000), NoNul]


def _unstorable(data: Any) -> list[InitErrorDetails]:
    """Every string in ``data`` (keys too, at any depth) that cannot be stored, by where it
    is; walked without recursion, so no nesting exhausts the stack."""
    found: list[InitErrorDetails] = []
    pending: list[tuple[tuple[str | int, ...], Any]] = [((), data)]
    while pending and len(found) < _REPORTED:
        loc, value = pending.pop()
        if isinstance(value, str):
            problem = text_problem(value)
            if problem is not None:
                found.append(_error(loc, problem))
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                problem = text_problem(key) if isinstance(key, str) else None
                if problem is not None:
                    found.append(_error((*loc, _escaped(key)), f"the key {problem}"))
                else:
                    pending.append(((*loc, key), item))
        elif isinstance(value, list):
            pending.extend(((*loc, i), item) for i, item in reversed(list(enumerate(value))))
    return found


def _escaped(key: str) -> str:
    """A key as it can be named in an answer: what cannot be written in JSON's escapes."""
    return key.replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode()


def _error(loc: tuple[str | int, ...], problem: str) -> InitErrorDetails:
    # The input is left out: it is what cannot be written back in an answer.
    return InitErrorDetails(
        type=PydanticCustomError("unstorable_text", problem), loc=loc, input=None
    )


def _depth(value: Any) -> int:
    """Levels of nested objects and arrays in ``value`` (a scalar is 0)."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level)
            pending.extend((child, level + 1) for child in item)
    return deepest


def _whole_number(value: Any) -> Any:
    # JSON Schema's "integer" is any number without a fractional part, 30.0 as well as 30;
    # strings and booleans are still refused by StrictInt.
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        if math.isfinite(value):
            raise PydanticCustomError(
                "int_from_float",
                "Input should be a valid integer, got a number with a fractional part",
            )
    return value


# After any bounds in an Annotated: bounds placed after a validator are documented as "ge"/"le"
# instead of JSON Schema's "minimum"/"maximum".
WholeNumber = BeforeValidator(_whole_number)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="wrap")
    @classmethod
    def _storable_text(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        """Text that cannot be stored is refused wherever it is, naming where; once for a
        whole request body, not again for each body within it."""
        if _checked_whole.get():
            return handler(data)
        problems = _unstorable(data)
        if problems:
            raise ValidationError.from_exception_data(cls.__name__, problems)
        token = _checked_whole.set(True)
        try:
            return handler(data)
        finally:
            _checked_whole.reset(token)


class Attachment(_Body):
    """A file that goes with a message, by its link."""

    url: AnyHttpUrl = Field(
        description="Where the file can be downloaded (http or https). A customer's file is "
        "fetched from it and uploaded into the card's thread; an agent's is relayed as given."
    )
    name: ShortText | None = Field(None, description="The file's name, as people see it.")
    mime_type: ShortText | None = Field(None, description="Its media type, e.g. `image/png`.")


Summary = Annotated[str, StringConstraints(strict=True, max_length=SUMMARY_CHARS), NoNul]
AttributeName = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=100), NoNul]
HttpsUrl = Annotated[AnyUrl, UrlConstraints(allowed_schemes=["https"], max_length=2048)]
Phone = Annotated[str, StringConstraints(strict=True, max_length=50), NoNul]
Locale = Annotated[str, StringConstraints(strict=True, max_length=35), NoNul]
Confidence = Annotated[StrictInt, Field(ge=0, le=100), WholeNumber]
AGENT = (
    "The agent: a Slack user id (`U…`) or the email of a Slack user (without Slack set up, "
    "any name); customers see the agent's Slack display name."
)


class Customer(_Body):
    """The customer, as the platform knows them; shown on the card and kept as given."""

    id: Ident | None = Field(None, description="The customer's id on the platform.")
    name: ShortText | None = Field(
        None, description="The customer's name: on the card and in the customer-facing texts."
    )
    email: ShortText | None = Field(None, description="The customer's email, shown on the card.")
    phone: Phone | None = Field(None, description="The customer's phone number.")
    avatar_url: HttpsUrl | None = Field(
        None, description="An https image of the customer, shown on the card."
    )
    locale: Locale | None = Field(
        None,
        description="The customer's language as a BCP 47 tag (`vi`, `en-GB`): picks the "
        "language of the texts the customer gets (`vi-VN` falls back to `vi`, then English).",
    )
    attributes: dict[AttributeName, ShortText] = Field(
        default_factory=dict,
        max_length=ATTRIBUTES,
        description=f"What the platform knows of the customer (plan, city…): at most "
        f"{ATTRIBUTES} names, each with a string; shown in the card's thread.",
    )


class TranscriptMessage(_Body):
    """One message of the conversation before it was escalated."""

    role: Role = Field(description="Who wrote it.")
    content: Text = Field(description="What was written (at most 40,000 characters).")
    timestamp: datetime | None = Field(
        None, description="When it was sent (ISO 8601). Left out: when Baton received it."
    )
    attachments: list[Attachment] = Field(
        default_factory=list, max_length=20, description="Files sent with it (at most 20)."
    )


class Context(_Body):
    """What the bot knew and did; shown in the card's thread, each part under its title."""

    memory: dict[str, Any] = Field(
        default_factory=dict, description="The bot's memory of the customer, as any JSON object."
    )
    tags: list[ShortText] = Field(default_factory=list, description="Labels the bot gave it.")
    gate_audit: list[Any] = Field(
        default_factory=list, description="The bot's guardrail checks and how each came out."
    )
    tool_calls: list[Any] = Field(
        default_factory=list, description="The tools the bot called, and their results."
    )

    @model_validator(mode="before")
    @classmethod
    def _not_too_deep(cls, data: Any) -> Any:
        depth = _depth(data)
        if depth > CONTEXT_DEPTH:
            raise PydanticCustomError(
                "too_deep",
                "is nested {depth} levels deep; at most {limit} are accepted",
                {"depth": depth, "limit": CONTEXT_DEPTH},
            )
        return data


def _not_null_nor_defaulted(schema: dict[str, Any]) -> None:
    """A field that may be left out but not given as null: documented as neither."""
    schema.pop("default", None)
    options = [o for o in schema.pop("anyOf", []) if o != {"type": "null"}]
    if len(options) == 1:
        schema.update(options[0])
    elif options:
        schema["anyOf"] = options


def _priority_not_null(value: Priority | None, left_out: str) -> Priority:
    """null is no priority at all: refused, and not documented."""
    if value is None:
        choices = ", ".join(f"'{p.value}'" for p in Priority)
        raise PydanticCustomError(
            "priority_null", f"Input should be one of {choices}; leave priority out {left_out}"
        )
    return value


class CreateEscalation(_Body):
    """A conversation the bot hands to the support team."""

    conversation_id: Ident = Field(
        description="The conversation's id on the platform. While it has an active (queued "
        "or taken) escalation, creating another answers that one (200)."
    )
    customer: Customer = Field(description="Who the conversation is with.")
    channel: Ident | None = Field(
        None,
        description="Where the customer writes from (`whatsapp`, `web`…): shown on the card, "
        "matched by `[[routing]] customer_channel` and the list's `channel` filter.",
    )
    reason: Reason = Field(description="Why the bot escalated.")
    reason_detail: ShortText | None = Field(
        None, description="The reason in the bot's words, shown on the card."
    )
    # Left out: the configured default, so the schema states none.
    priority: Priority | None = Field(
        default=None,
        description="How urgent it is; it sets the SLA targets and may route the card. Left "
        "out: the server's configured default (`[api] default_priority`, `medium` unless set).",
        json_schema_extra=_not_null_nor_defaulted,
    )
    summary: Summary | None = Field(
        None, description="The bot's own summary of the conversation: first on the card."
    )
    confidence: Confidence | None = Field(
        None, description="The bot's confidence in its answers, 0 to 100, shown on the card."
    )
    # As long as the body limit (1 MiB) allows: the thread shows the newest messages.
    transcript: list[TranscriptMessage] = Field(
        default_factory=list,
        description="The conversation so far, oldest first; the card's thread shows the "
        "newest messages, the API keeps them all.",
    )
    context: Context = Field(
        default_factory=Context, description="What the bot knew and did, for the agents."
    )
    assign_to: Ident | None = Field(
        None,
        description="Creates it already taken by this agent (a Slack user id or email): "
        "`escalation.taken` follows `escalation.created`.",
    )

    @field_validator("priority")
    @classmethod
    def _priority_is_not_null(cls, value: Priority | None) -> Priority:
        return _priority_not_null(value, "for the configured default")


class CustomerMessage(_Body):
    """A message on the customer's side of the conversation, while it is escalated."""

    role: Literal[Role.customer, Role.assistant, Role.system] = Field(
        Role.customer, description="Who wrote it: the customer, the bot, or the platform."
    )
    content: Text = Field(description="What was written (at most 40,000 characters).")
    attachments: list[Attachment] = Field(
        default_factory=list,
        max_length=20,
        description="Files sent with it (at most 20), uploaded into the card's thread.",
    )
    external_id: Ident | None = Field(
        None,
        description="The message's id on the platform: sending the same one again answers "
        "200 with the message stored the first time, and posts nothing twice.",
    )
    timestamp: datetime | None = Field(
        None, description="When it was sent (ISO 8601). Left out: when Baton received it."
    )


class AgentAction(_Body):
    """Who acts."""

    agent: Ident = Field(description=AGENT)


class Reply(_Body):
    """An answer to the customer, from the escalation's owner."""

    agent: Ident = Field(description=AGENT + " Only the owner may reply.")
    content: NonEmptyText = Field(
        description="The reply, as plain text (1 to 40,000 characters): posted in the card's "
        "thread and relayed to the customer (`escalation.message`)."
    )
    attachments: list[Attachment] = Field(
        default_factory=list,
        max_length=20,
        description="Files sent with it (at most 20), relayed to the customer as given.",
    )


class SuggestionBody(_Body):
    """A reply the bot drafts for the owner to send."""

    # Slack's text box holds 3,000 characters: so much can be edited before it is sent.
    content: Annotated[
        str, StringConstraints(strict=True, min_length=1, max_length=SUGGESTION_CHARS), NoNul
    ] = Field(description="The reply the bot suggests, as plain text (at most 3,000 characters).")
    markdown: Text | None = Field(None, description="The same as CommonMark, if it has any.")


class Rating(_Body):
    """The customer's rating of the help they got."""

    score: Annotated[StrictInt, Field(ge=1, le=5), WholeNumber] = Field(
        description="1 (poor) to 5 (excellent)"
    )
    comment: ShortText | None = Field(None, description="What the customer said about it.")


class ConversationCountBody(_Body):
    """How many conversations the platform's bot had on a day."""

    count: Annotated[StrictInt, Field(ge=0, le=2**31 - 1), WholeNumber] = Field(
        description="Conversations the platform's bot had that day (escalated or not)."
    )


class Note(_Body):
    """An internal note: for the team, never sent to the customer."""

    agent: Ident = Field(description=AGENT)
    content: NonEmptyText = Field(
        description="The note (1 to 40,000 characters), posted in the card's thread."
    )


class Close(_Body):
    """How the escalation ended."""

    agent: Ident = Field(description=AGENT + " A taken escalation is closed by its owner only.")
    resolution: Resolution = Field(description="How it was resolved.")
    note: Text | None = Field(
        None, description="A closing note for the team and the platform (`escalation.closed`)."
    )
    keep_ai_paused: StrictBool = Field(
        False,
        description="Keep the bot paused after closing; `POST …/resume_ai` resumes it later.",
    )


class Patch(_Body):
    """Only the fields given change; ``assignee: null`` unassigns (back to queued)."""

    priority: Priority | None = Field(
        default=None,
        description="The new priority (its SLA targets follow). Left out: unchanged.",
        json_schema_extra=_not_null_nor_defaulted,
    )
    assignee: Ident | None = Field(
        None,
        description="The new owner (a Slack user id or email): on a queued escalation, takes "
        "it for them; on a taken one, reassigns it. `null` unassigns it (back to queued). "
        "Left out: unchanged.",
    )
    note: NonEmptyText | None = Field(None, description="An internal note to add.")

    @field_validator("priority")
    @classmethod
    def _priority_is_not_null(cls, value: Priority | None) -> Priority:
        return _priority_not_null(value, "to keep it unchanged")


# ------------------------------------------------------------------ responses
# The entities are answered as storage's public models (``storage.public``), the same ones
# the platform events carry; only the list's page is the API's own.


class EscalationPage(BaseModel):
    """One page of a list, newest first."""

    data: list[EscalationPublic] = Field(description="The escalations of this page.")
    next_cursor: str | None = Field(
        description="Pass it as `cursor` for the next page; null on the last one."
    )
