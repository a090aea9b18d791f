"""What Baton posts in a card's thread: the conversation so far and the customer's context,
then each message, agent reply, note and failed delivery as it happens."""

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from slack_sdk.models.blocks import Block, SectionBlock

from blocks.card import (
    FALLBACK_LIMIT,
    SECTION_LIMIT,
    CardMessage,
    customer_name,
    mention,
    reason_label,
    slack_date,
    stars,
)
from blocks.durations import spoken
from blocks.slack_text import (
    ELLIPSIS,
    escape,
    escaped,
    fit_escaped,
    fitting,
    safe_cut,
    split_escaped,
)
from storage.models import Escalation, Event, Message, Role

MESSAGE_BLOCKS = 50
MESSAGE_TEXT = 12_000  # our cap on one message's text: Slack refuses much larger messages
MAX_INTRO_MESSAGES = 10
CONTENT_SHOWN = 8_000  # characters of one message's escaped content; the rest is in the API
ATTACHMENTS_TEXT = 2_000
CONTEXT_SECTIONS = 8
EARLIER_SHOWN = 20
LINE_LIMIT = 500
QUOTE_LIMIT = 300
_MAX_DEPTH = 4

_ROLES: dict[str, str] = {
    Role.customer: ":bust_in_silhouette: *Customer*",
    Role.assistant: ":robot_face: *AI assistant*",
    Role.agent: ":headphones: *Agent*",
    Role.system: ":gear: *System*",
}
_CONTEXT_TITLES = {
    "memory": "Memory",
    "tags": "Tags",
    "gate_audit": "Gate audit",
    "tool_calls": "Tool calls",
}
_BLANK_LINES = re.compile(r"\n[ \t\r]*(?:\n[ \t\r]*){2,}")


def api_path(escalation_id: str) -> str:
    return f"GET /v1/escalations/{escape(escalation_id)}"


def one_line(text: str, limit: int) -> str:
    """Whitespace collapsed, escaped, at most ``limit`` characters."""
    head = text[: limit * 2] + (ELLIPSIS if len(text) > limit * 2 else "")
    return escaped(" ".join(head.split()), limit)


# -- compact JSON --------------------------------------------------------------------------


def _scalar(value: Any) -> str:
    try:
        return json.dumps(value)
    except ValueError:  # an int too long to print
        return ELLIPSIS


def _json_parts(value: Any, depth: int) -> Iterator[str]:
    """``value`` as JSON, piece by piece, so a caller stops once it has enough; nesting past
    a few levels shows as ``{…}``, which also keeps any depth from exhausting the stack."""
    if isinstance(value, dict):
        if not value or depth >= _MAX_DEPTH:
            yield "{…}" if value else "{}"
            return
        yield "{"
        for i, (key, item) in enumerate(value.items()):
            yield (", " if i else "") + json.dumps(str(key)[:100], ensure_ascii=False) + ": "
            yield from _json_parts(item, depth + 1)
        yield "}"
    elif isinstance(value, list | tuple):
        if not value or depth >= _MAX_DEPTH:
            yield "[…]" if value else "[]"
            return
        yield "["
        for i, item in enumerate(value):
            yield ", " if i else ""
            yield from _json_parts(item, depth + 1)
        yield "]"
    elif isinstance(value, str):
        cut = value[:LINE_LIMIT] + (ELLIPSIS if len(value) > LINE_LIMIT else "")
        yield json.dumps(cut, ensure_ascii=False)
    elif value is None or isinstance(value, bool | int | float):
        yield _scalar(value)
    else:
        yield json.dumps(str(value)[:LINE_LIMIT], ensure_ascii=False)


def _compact(value: Any, limit: int = LINE_LIMIT) -> str:
    """Any JSON value on one line, escaped, at most ``limit`` characters; a string is bare."""
    if isinstance(value, str):
        return one_line(value, limit)
    parts: list[str] = []
    length = 0
    for part in _json_parts(value, 0):
        parts.append(part)
        length += len(part)
        if length > limit:
            break
    return escaped("".join(parts), limit)


def _item(value: Any) -> str:
    """A list item: a dict reads as ``key: value · key: value``."""
    if not isinstance(value, dict) or not value:
        return _compact(value)
    pairs = []
    length = 0
    for key, item in value.items():
        pair = f"*{one_line(str(key), 100)}*: {_compact(item, 200)}"
        pairs.append(pair)
        length += len(pair) + 3
        if length > LINE_LIMIT:
            break
    return fit_escaped(" · ".join(pairs), LINE_LIMIT)


# -- units: blocks that stay together in one message ----------------------------------------


@dataclass(frozen=True)
class _Unit:
    blocks: list[Block]
    size: int


def _unit(text: str) -> _Unit:
    pieces = split_escaped(text, SECTION_LIMIT) or [ELLIPSIS]
    return _Unit([SectionBlock(text=piece) for piece in pieces], sum(map(len, pieces)))


def _fits(blocks: int, size: int, unit: _Unit) -> bool:
    return blocks + len(unit.blocks) <= MESSAGE_BLOCKS and size + unit.size <= MESSAGE_TEXT


def _pack(units: Iterable[_Unit]) -> list[list[Block]]:
    """Units in order, as few messages as the limits allow (filling each in turn is optimal)."""
    messages: list[list[Block]] = []
    blocks: list[Block] = []
    size = 0
    for unit in units:
        if blocks and not _fits(len(blocks), size, unit):
            messages.append(blocks)
            blocks, size = [], 0
        blocks = blocks + unit.blocks
        size += unit.size
    if blocks:
        messages.append(blocks)
    return messages


@dataclass(frozen=True)
class _Backwards:
    """Packing from the last unit to the first: how many messages, and the first one's fill."""

    count: int = 0
    blocks: int = 0
    size: int = 0

    def add(self, unit: _Unit) -> "_Backwards":
        if self.count and _fits(self.blocks, self.size, unit):
            return _Backwards(self.count, self.blocks + len(unit.blocks), self.size + unit.size)
        return _Backwards(self.count + 1, len(unit.blocks), unit.size)


def _lines(title: str, lines: Iterable[str], count: int, more: str) -> str:
    """``title`` then one bullet per line while they fit a section, then how many did not."""
    text = title
    shown = 0
    for line in lines:
        candidate = f"{text}\n• {line}"
        if len(candidate) > SECTION_LIMIT - 100:
            break
        text = candidate
        shown += 1
    if shown < count:
        text += f"\n_{ELLIPSIS}and {count - shown:,} {more}_"
    return text


# -- messages ---------------------------------------------------------------------------------


def _person(person_id: str | None, name: str | None) -> str:
    """The name when known (no notification for someone's own action), else a mention."""
    if name:
        return f"*{one_line(name, 200)}*"
    return mention(person_id, None)


def _author(msg: Message) -> str:
    if msg.role == Role.agent:
        return _person(msg.author_id, msg.author_name)
    # A customer-side id is never turned into a mention, whatever it looks like.
    return one_line(msg.author_name, 200) if msg.author_name else ""


def _role(msg: Message) -> str:
    return _ROLES.get(str(msg.role)) or f"*{one_line(str(msg.role), 50)}*"


def _body(content: str | None, escalation_id: str) -> str:
    """Escaped content, cut after ``CONTENT_SHOWN`` characters with a note on where the rest is."""
    text = _BLANK_LINES.sub("\n\n", (content or "").strip())
    if not text:
        return "_(empty message)_"
    safe = escape(text[: CONTENT_SHOWN + 1])  # escaping only lengthens: enough to decide
    if len(safe) <= CONTENT_SHOWN:
        return safe
    return (
        safe[: safe_cut(safe, CONTENT_SHOWN)]
        + f"{ELLIPSIS}\n_(truncated: the message has {len(text):,} characters; the full text is"
        f" in the API: `{api_path(escalation_id)}`)_"
    )


def _attachments(items: Sequence[Any] | None) -> str:
    lines: list[str] = []
    for item in items or ():
        if isinstance(item, dict):
            line = ":paperclip: " + one_line(str(item.get("name") or "attachment"), 150)
            kind = item.get("type") or item.get("mime_type")
            if kind:
                line += f" ({one_line(str(kind), 50)})"
            if item.get("url"):
                line += f": {one_line(str(item['url']), 500)}"  # shown as typed, never a label
        else:
            line = f":paperclip: {one_line(str(item), 500)}"
        if sum(map(len, lines)) + len(line) > ATTACHMENTS_TEXT:
            lines.append(f"_{ELLIPSIS}and {len(items or ()) - len(lines):,} more attachments_")
            break
        lines.append(line)
    return "\n".join(lines)


def _message_unit(head: str, content: str | None, attachments: Any, escalation_id: str) -> _Unit:
    text = f"{head}\n{_body(content, escalation_id)}"
    files = _attachments(attachments if isinstance(attachments, list | tuple) else None)
    return _unit(f"{text}\n{files}" if files else text)


def _transcript_unit(msg: Message, escalation_id: str) -> _Unit:
    head = [_role(msg)]
    author = _author(msg)
    if author:
        head.append(author)
    if msg.sent_at:
        head.append(slack_date(msg.sent_at))
    return _message_unit(" · ".join(head), msg.content, msg.attachments, escalation_id)


def _fallback(text: str) -> str:
    return one_line(text, min(FALLBACK_LIMIT, 300))


def _message(unit: _Unit, fallback: str) -> CardMessage:
    return CardMessage(text=_fallback(fallback), blocks=unit.blocks)


# -- the first posts: transcript, context, earlier escalations ------------------------------


def _transcript_heading(total: int, omitted: int, escalation_id: str) -> _Unit:
    title = ":scroll: *Conversation so far*"
    if total == 0:
        return _unit(f"{title}\n_No transcript was sent with this escalation._")
    title += f" ({total:,} {'message' if total == 1 else 'messages'})"
    if omitted == 0:
        return _unit(title)
    return _unit(
        f"{title}\n_{ELLIPSIS} {omitted:,} earlier {'message' if omitted == 1 else 'messages'}"
        f" not shown — the full transcript is in the API: `{api_path(escalation_id)}`_"
    )


def _context_section(key: str, value: Any) -> str:
    title = f"*{_CONTEXT_TITLES.get(key) or one_line(str(key), 100)}*"
    if isinstance(value, dict):
        lines = (f"*{one_line(str(k), 100)}*: {_compact(v)}" for k, v in value.items())
        return _lines(title, lines, len(value), "more not shown")
    if isinstance(value, list | tuple):
        if value and all(isinstance(v, str) for v in islice(value, 200)):
            return _inline(title, value)
        return _lines(title, map(_item, value), len(value), "more not shown")
    return f"{title}: {_compact(value, SECTION_LIMIT - 300)}"


def _inline(title: str, words: Sequence[Any]) -> str:
    shown = fitting((one_line(str(word), 100) for word in words), SECTION_LIMIT - 100 - len(title))
    text = f"{title}: {', '.join(shown)}"
    if len(shown) < len(words):
        text += f" _{ELLIPSIS}and {len(words) - len(shown):,} more_"
    return text


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | dict | list | tuple) and not value)


def _customer_unit(customer: Any) -> _Unit | None:
    """What the platform knows of the customer beyond their name: phone and attributes."""
    if not isinstance(customer, dict):
        return None
    attributes = customer.get("attributes")
    attributes = attributes if isinstance(attributes, dict) else {}
    phone = customer.get("phone")
    if not phone and not attributes:
        return None
    title = "*Customer*"
    if phone:
        title += f" · :telephone_receiver: {one_line(str(phone), 60)}"
    lines = (f"*{one_line(str(k), 100)}*: {one_line(str(v), 300)}" for k, v in attributes.items())
    return _unit(_lines(title, lines, len(attributes), "more attributes not shown"))


def _context_units(esc: Escalation) -> list[_Unit]:
    title = ":card_index: *Customer context*"
    context = esc.context if isinstance(esc.context, dict) else {"context": esc.context}
    known = [key for key in _CONTEXT_TITLES if key in context]
    keys = [key for key in (*known, *context) if not _empty(context[key])]
    keys = list(dict.fromkeys(keys))
    customer = _customer_unit(esc.customer)
    if not keys and customer is None:
        return [_unit(f"{title}\n_No customer context was sent._")]
    units = [_unit(title)]
    if customer is not None:
        units.append(customer)
    units += [_unit(_context_section(key, context[key])) for key in keys[:CONTEXT_SECTIONS]]
    if len(keys) > CONTEXT_SECTIONS:
        units.append(
            _unit(
                f"_{ELLIPSIS}and {len(keys) - CONTEXT_SECTIONS:,} more context fields not shown;"
                f" the full context is in the API: `{api_path(esc.id)}`_"
            )
        )
    return units


def _earlier_line(esc: Escalation) -> str:
    status = one_line(str(esc.status), 30)
    if esc.resolution:
        status += f" ({one_line(str(esc.resolution).replace('_', ' '), 50)})"
    when = slack_date(esc.created_at, "{date_short_pretty}") if esc.created_at else "?"
    return f"{when} · {one_line(reason_label(esc), 100)} · {status} · `{one_line(esc.id, 60)}`"


def _earlier_unit(esc: Escalation, earlier: Sequence[Escalation]) -> _Unit:
    title = ":file_folder: *Earlier escalations of this customer*"
    others = sorted(
        (e for e in earlier if e.id != esc.id),
        key=lambda e: e.created_at.timestamp() if e.created_at else 0.0,
        reverse=True,
    )
    if not others:
        return _unit(f"{title}\n_None._")
    lines = map(_earlier_line, others[:EARLIER_SHOWN])
    return _unit(_lines(title, lines, len(others), "older escalations not shown"))


def intro_messages(
    esc: Escalation, transcript: Sequence[Message], earlier: Sequence[Escalation]
) -> list[CardMessage]:
    """The first replies in the thread: the transcript, newest messages kept when it is too
    long, then the customer context and earlier escalations, in at most 10 messages."""
    tail = [*_context_units(esc), _earlier_unit(esc, earlier)]
    packed = _Backwards()
    for unit in reversed(tail):
        packed = packed.add(unit)
    widest_heading = _transcript_heading(len(transcript), len(transcript), esc.id)
    shown: list[_Unit] = []
    for msg in reversed(transcript):
        unit = _transcript_unit(msg, esc.id)
        trial = packed.add(unit)
        if trial.add(widest_heading).count > MAX_INTRO_MESSAGES:
            break
        packed = trial
        shown.append(unit)
    shown.reverse()
    heading = _transcript_heading(len(transcript), len(transcript) - len(shown), esc.id)
    messages = _pack([heading, *shown, *tail])
    about = f"Conversation so far with {customer_name(esc)}"
    if len(messages) == 1:
        return [CardMessage(text=_fallback(about), blocks=messages[0])]
    return [
        CardMessage(text=_fallback(f"{about} ({i}/{len(messages)})"), blocks=blocks)
        for i, blocks in enumerate(messages, 1)
    ]


# -- posts as the conversation goes on --------------------------------------------------------


def customer_message(msg: Message) -> CardMessage:
    """A message from the customer's side (customer, AI assistant or system)."""
    unit = _transcript_unit(msg, msg.escalation_id)
    who = msg.author_name or str(msg.role).replace("_", " ").capitalize()
    return _message(unit, f"{who}: {msg.content or ''}")


def agent_message(msg: Message) -> CardMessage:
    """An agent's reply sent through the Reply modal or the API, not typed in the thread."""
    head = f":outbox_tray: {_person(msg.author_id, msg.author_name)} → customer:"
    unit = _message_unit(head, msg.content, msg.attachments, msg.escalation_id)
    name = msg.author_name or "An agent"
    return _message(unit, f"{name} → customer: {msg.content or ''}")


def note_message(event: Event) -> CardMessage:
    """An internal note, never sent to the customer."""
    data = event.data if isinstance(event.data, dict) else {}
    content = data.get("content")
    who = _person(event.actor_id, event.actor_name)
    head = f":memo: *Internal note* by {who} · _not sent to the customer_"
    text = content if isinstance(content, str) else ("" if content is None else str(content))
    unit = _message_unit(head, text, None, event.escalation_id)
    return _message(unit, f"Internal note by {event.actor_name or 'an agent'}: {text}")


def auto_closed_message(event: Event) -> CardMessage:
    """Tells the owner that the escalation closed itself: the customer went quiet."""
    data = event.data if isinstance(event.data, dict) else {}
    owner = data.get("owner") if isinstance(data.get("owner"), dict) else {}
    quiet = spoken(float(data.get("quiet_seconds") or 0))
    who = mention(owner.get("id"), owner.get("name")) if owner else "The owner"
    text = (
        f":zzz: {who}: closed automatically (no response), as the customer wrote nothing "
        f"for {quiet}. The customer was told the conversation is closed; they can write "
        "again any time."
    )
    return _message(_unit(text), f"Closed automatically: the customer wrote nothing for {quiet}")


def rating_message(event: Event) -> CardMessage:
    """The customer's rating of the help they got, with their comment."""
    data = event.data if isinstance(event.data, dict) else {}
    score = int(data.get("score") or 0)
    head = f"{stars(score)} *The customer rated this {score}/5*"
    comment = data.get("comment")
    text = f"{head}\n>{one_line(comment, QUOTE_LIMIT)}" if comment else head
    return _message(_unit(text), f"The customer rated this {score}/5")


def delivery_failed(msg: Message, error: str | None) -> CardMessage:
    """Tells the thread that an agent's reply never reached the customer, and what to do."""
    # A mention on purpose: the author should notice.
    who = mention(msg.author_id, msg.author_name)
    quote = one_line(msg.content or "", QUOTE_LIMIT) or "_(empty message)_"
    problem = one_line(error, LINE_LIMIT) if error else "_no error was recorded_"
    text = (
        f":warning: *This reply from {who} could not be delivered to the customer:*\n"
        f">{quote}\n"
        f"*Error:* {problem}\n"
        "*What to do:* the customer's platform kept failing for 24 hours, or refused the"
        " message. Once the platform is fixed, an operator can resend it with"
        " `baton deliveries replay --all-failed`. Or tell the customer another way."
    )
    return _message(_unit(text), "A reply could not be delivered to the customer")


def file_not_attached(name: str, url: str, reason: str) -> CardMessage:
    """A customer's file that could not be brought into the thread: its link, and why."""
    text = (
        f":warning: The customer's file *{one_line(name, 150)}* could not be attached here: "
        f"{one_line(reason, LINE_LIMIT)}.\n:paperclip: Its link: {one_line(url, 500)}"
    )
    return _message(_unit(text), f"The customer's file {name} could not be attached")
