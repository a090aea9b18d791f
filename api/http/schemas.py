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
from pydantic.json_schema import SkipJsonSchema
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
    url: AnyHttpUrl
    name: ShortText | None = None
    mime_type: ShortText | None = None


Summary = Annotated[str, StringConstraints(strict=True, max_length=SUMMARY_CHARS), NoNul]
AttributeName = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=100), NoNul]
HttpsUrl = Annotated[AnyUrl, UrlConstraints(allowed_schemes=["https"], max_length=2048)]


class Customer(_Body):
    id: Ident | None = None
    name: ShortText | None = None
    email: ShortText | None = None
    phone: Annotated[str, StringConstraints(strict=True, max_length=50), NoNul] | None = None
    avatar_url: HttpsUrl | None = Field(
        None, description="An https image of the customer, shown on the card."
    )
    locale: Annotated[str, StringConstraints(strict=True, max_length=35), NoNul] | None = None
    attributes: dict[AttributeName, ShortText] = Field(
        default_factory=dict,
        max_length=ATTRIBUTES,
        description=f"What the platform knows of the customer (plan, city…): at most "
        f"{ATTRIBUTES} names, each with a string; shown in the card's thread.",
    )


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


class CreateEscalation(_Body):
    conversation_id: Ident
    customer: Customer
    channel: Ident | None = None
    reason: Reason
    reason_detail: ShortText | None = None
    priority: Priority = Priority.medium
    summary: Summary | None = Field(
        None, description="The bot's own summary of the conversation: first on the card."
    )
    confidence: Annotated[StrictInt, Field(ge=0, le=100), WholeNumber] | None = None
    # As long as the body limit (1 MiB) allows: the thread shows the newest messages.
    transcript: list[TranscriptMessage] = Field(default_factory=list)
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


class SuggestionBody(_Body):
    # Slack's text box holds 3,000 characters: so much can be edited before it is sent.
    content: Annotated[
        str, StringConstraints(strict=True, min_length=1, max_length=SUGGESTION_CHARS), NoNul
    ] = Field(description="The reply the bot suggests, as plain text (at most 3,000 characters).")
    markdown: Text | None = Field(None, description="The same as CommonMark, if it has any.")


class Rating(_Body):
    score: Annotated[StrictInt, Field(ge=1, le=5), WholeNumber] = Field(
        description="1 (poor) to 5 (excellent)"
    )
    comment: ShortText | None = None


class ConversationCountBody(_Body):
    count: Annotated[StrictInt, Field(ge=0, le=2**31 - 1), WholeNumber] = Field(
        description="Conversations the platform's bot had that day (escalated or not)."
    )


class Note(_Body):
    agent: Ident
    content: NonEmptyText


class Close(_Body):
    agent: Ident
    resolution: Resolution
    note: Text | None = None
    keep_ai_paused: StrictBool = False


def _without_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class Patch(_Body):
    """Only the fields given change; ``assignee: null`` unassigns (back to queued)."""

    # Left out: unchanged. null is no priority at all, so it is refused, and not documented.
    priority: Priority | SkipJsonSchema[None] = Field(
        default=None,
        description="Left out: unchanged.",
        json_schema_extra=_without_default,
    )
    assignee: Ident | None = None
    note: NonEmptyText | None = None

    @field_validator("priority")
    @classmethod
    def _priority_is_not_null(cls, value: Priority | None) -> Priority | None:
        if value is None:
            choices = ", ".join(f"'{p.value}'" for p in Priority)
            raise PydanticCustomError(
                "priority_null",
                f"Input should be one of {choices}; leave priority out to keep it unchanged",
            )
        return value


# ------------------------------------------------------------------ responses
# The entities are answered as storage's public models (``storage.public``), the same ones
# the platform events carry; only the list's page is the API's own.


class EscalationPage(BaseModel):
    data: list[EscalationPublic]
    next_cursor: str | None
