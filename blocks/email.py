"""Notification emails about escalation events, from the Jinja2 templates in
``templates/email/``, which an operator may override (``[templates.email]``).

Every template gets ``event`` (the event body), ``type``, ``data`` (the body's data),
``escalation`` (``data.escalation``), ``customer`` (the customer's name, or "a customer"),
``card_link`` (or None), ``transcript`` (the lines shown, oldest first) and ``omitted`` (how
many earlier messages were left out). The batch templates get ``notices`` (each with all of
the above and its ``subject``), ``start`` and ``end``. Filters: ``label`` (``gate_failure`` →
"Gate failure"), ``target`` (``first_take`` → "first take"), ``when`` and ``clock`` (a time or
an ISO string, in UTC), ``day``, ``hour``, ``speaker`` (who wrote a transcript line),
``cut(n)`` (at most n characters, not splitting a character an emoji is made of).
"""

import email.policy
import logging
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from blocks.sla import TARGET_NAMES
from blocks.texts import TemplateProblem

__all__ = [
    "KEYS",
    "EmailTemplates",
    "Notice",
    "RenderedEmail",
    "TemplateProblem",
    "TranscriptLine",
    "cut",
    "email_message",
    "one_line",
]

KEYS = ("subject", "text", "html", "batch_subject", "batch_text", "batch_html")
# The events [[notifications]] entries may ask for (storage.notifications.EVENTS; a test
# holds the two equal: blocks may use storage's model types only).
EVENT_TYPES = (
    "escalation.created",
    "escalation.taken",
    "escalation.returned",
    "escalation.closed",
    "sla.at_risk",
    "sla.breached",
)
SUBJECT_LIMIT = 150
TRANSCRIPT_LINES = 50
TRANSCRIPT_CHARS = 20_000
# An hour's batch may hold dozens of notices: each shows only the end of its conversation.
BATCH_TRANSCRIPT_LINES = 10
BATCH_TRANSCRIPT_CHARS = 2_000
ELLIPSIS = "…"

_TEMPLATES = Path(__file__).parent / "templates" / "email"
_HTML_KEYS = frozenset({"html", "batch_html"})
_BATCH_KEYS = frozenset({"batch_subject", "batch_text", "batch_html"})
_ROLES = {"customer": "customer", "agent": "agent", "assistant": "bot", "system": "Baton"}

log = logging.getLogger("baton.templates")


@dataclass(frozen=True)
class TranscriptLine:
    role: str  # a storage.models.Role value: customer, assistant (the bot), agent, system
    author: str | None
    content: str
    sent_at: datetime


@dataclass(frozen=True)
class Notice:
    event: Mapping[str, Any]
    card_link: str | None = None
    transcript: Sequence[TranscriptLine] = ()


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


# Filters -------------------------------------------------------------------------------


def _moment(value: object) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _time_filter(shown: Callable[[datetime], str]) -> Callable[[object], str]:
    """A filter showing a time (or its ISO string) in UTC; anything else as it is."""

    def show(value: object) -> str:
        moment = _moment(value)
        return str(value) if moment is None else shown(moment)

    return show


def _label(value: object) -> str:
    return str(value).replace("_", " ").capitalize()


def _speaker(line: TranscriptLine) -> str:
    role = _ROLES.get(line.role, line.role)
    author = (line.author or "").strip()
    return f"{author} ({role})" if author else role.capitalize()


def _environment(html: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=html, trim_blocks=True, lstrip_blocks=True
    )
    env.filters.update(
        label=_label,
        target=lambda word: TARGET_NAMES.get(word, word),
        when=_time_filter(lambda t: f"{t.day} {t:%b %Y %H:%M} UTC"),
        clock=_time_filter(lambda t: f"{t.day} {t:%b %H:%M}"),
        hour=_time_filter(lambda t: f"{t:%H:%M}"),
        day=_time_filter(lambda t: f"{t.day} {t:%b %Y}"),
        speaker=_speaker,
        cut=lambda text, limit=80: cut(str(text), limit),
    )
    return env


_ENVIRONMENTS = {False: _environment(False), True: _environment(True)}


def _compile(key: str, source: str) -> Template:
    return _ENVIRONMENTS[key in _HTML_KEYS].from_string(source)


# What the templates see ------------------------------------------------------------------


def _customer_name(escalation: Mapping[str, Any]) -> str:
    customer = escalation.get("customer") or {}
    name = customer.get("name") if isinstance(customer, Mapping) else None
    return str(name).strip() if name and str(name).strip() else "a customer"


def _trimmed(
    transcript: Sequence[TranscriptLine], lines: int, chars: int
) -> tuple[list[TranscriptLine], int]:
    """The newest lines, at most ``lines`` of them holding at most ``chars`` characters, and
    how many earlier ones were left out. The newest line alone is cut to fit if it must."""
    shown: list[TranscriptLine] = []
    budget = chars
    for line in reversed(transcript[-lines:] if lines else ()):
        if len(line.content) > budget:
            if not shown:
                shown.append(replace(line, content=line.content[: budget - 1] + ELLIPSIS))
            break
        shown.append(line)
        budget -= len(line.content)
    shown.reverse()
    return shown, len(transcript) - len(shown)


def _context(notice: Notice, lines: int, chars: int) -> dict[str, Any]:
    data = notice.event.get("data") or {}
    escalation = data.get("escalation") or {}
    shown, omitted = _trimmed(notice.transcript, lines, chars)
    return {
        "event": notice.event,
        "type": notice.event.get("type", ""),
        "data": data,
        "escalation": escalation,
        "customer": _customer_name(escalation),
        "card_link": notice.card_link or None,
        "transcript": shown,
        "omitted": omitted,
    }


# Making the output safe to send ----------------------------------------------------------

_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_BODY_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*){2,}")
_ZWJ = "\u200d"


def _paired(text: str) -> str:
    """Lone surrogates (JavaScript's halves of an emoji) as U+FFFD; a pair as its character."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def one_line(text: str, limit: int = SUBJECT_LIMIT) -> str:
    """A header value: no line breaks or other control characters, at most ``limit``
    characters, cut between graphemes."""
    return cut(" ".join(_LINE_BREAKS.sub(" ", _paired(text)).split()), limit)


def _body(text: str) -> str:
    text = _paired(text).replace("\r\n", "\n").replace("\r", "\n")
    return _BLANK_LINES.sub("\n\n", _BODY_CONTROLS.sub("", text)).strip() + "\n"


def _regional(char: str) -> bool:
    return "\U0001f1e6" <= char <= "\U0001f1ff"


def _extends(text: str, at: int) -> bool:
    """Whether ``text[at]`` belongs to the grapheme ``text[at - 1]`` is in (the common cases:
    combining marks, emoji sequences and modifiers, flags)."""
    char, before = text[at], text[at - 1]
    if unicodedata.category(char) in ("Mn", "Mc", "Me") or _ZWJ in (char, before):
        return True
    if "\ufe00" <= char <= "\ufe0f" or "\U0001f3fb" <= char <= "\U0001f3ff":
        return True
    if "\U000e0020" <= char <= "\U000e007f":  # tag characters of a subdivision flag
        return True
    if _regional(char) and _regional(before):
        run = 0
        while at - run - 1 >= 0 and _regional(text[at - run - 1]):
            run += 1
        return run % 2 == 1
    return False


def cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    end = limit - len(ELLIPSIS)
    while end > 0 and _extends(text, end):
        end -= 1
    return text[:end].rstrip() + ELLIPSIS


def _safe(rendered: RenderedEmail) -> RenderedEmail:
    return RenderedEmail(one_line(rendered.subject), _body(rendered.text), _body(rendered.html))


# Samples to try a template out with ------------------------------------------------------

_AT = datetime(2026, 3, 12, 10, 0, tzinfo=UTC)
_MINH = {"id": "U0MINH", "name": "Minh"}
_LONG_NAME = ("Nguyễn Thị Minh Khai " * 48)[:1_000]
_TYPICAL_CUSTOMER = {"id": "cust_1", "name": "Nguyen Van A", "email": "a@example.com"}


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _sample_escalation(
    customer: Mapping[str, Any], agent: Mapping[str, Any] | None, status: str, bare: bool
) -> dict[str, Any]:
    """Shaped as ``storage.public.EscalationPublic`` dumps one (a test holds them equal)."""
    due = {"due_at": _iso(_AT + timedelta(minutes=15)), "state": "ok"}
    return {
        "id": "esc_01SAMPLE",
        "conversation_id": "conv_1",
        "status": status,
        "priority": "low" if bare else "high",
        "reason": "gate_failure",
        "reason_detail": None if bare else "3x gate failure",
        "channel": None if bare else "whatsapp",
        "customer": dict(customer),
        "summary": None if bare else "Wants a refund for order #1234.",
        "confidence": None if bare else 42,
        "assignee": dict(agent) if agent and status != "queued" else None,
        "sla": {} if bare else {"first_take": due, "resolution": due},
        "created_at": _iso(_AT),
        "updated_at": _iso(_AT),
        "taken_at": None if status == "queued" else _iso(_AT),
        "ended_at": _iso(_AT) if status in ("returned", "closed") else None,
        "resolution": "resolved" if status == "closed" else None,
        "rating": None,
    }


_STATUS = {
    "escalation.created": "queued",
    "escalation.taken": "taken",
    "escalation.returned": "returned",
    "escalation.closed": "closed",
}


def _sample_extras(event_type: str, agent: Mapping[str, Any]) -> dict[str, Any]:
    if event_type == "escalation.taken":
        return {"agent": dict(agent), "customer_message": "Hi, I'm here to help."}
    if event_type == "escalation.closed":
        return {"resolution": "resolved", "note": "Refund sent.", "keep_ai_paused": False}
    if event_type.startswith("sla."):
        return {"target": "first_take", "due_at": _iso(_AT + timedelta(minutes=15))}
    return {}


def _sample_transcript(customer: str | None, agent: str | None) -> tuple[TranscriptLine, ...]:
    return (
        TranscriptLine("customer", customer, "I want my money back.", _AT),
        TranscriptLine("assistant", None, "Let me get someone to help.", _AT),
        TranscriptLine("agent", agent, "Hi, I'm looking at your order now.", _AT),
    )


def _sample(
    event_type: str,
    *,
    customer: Mapping[str, Any] = _TYPICAL_CUSTOMER,
    agent: Mapping[str, Any] = _MINH,
    with_transcript: bool = True,
    card_link: str | None = "https://acme.slack.com/archives/C0ESC/p1",
    bare: bool = False,
) -> Notice:
    status = _STATUS.get(event_type, "taken")
    escalation = _sample_escalation(customer, agent, status, bare)
    data = {
        "escalation_id": escalation["id"],
        "conversation_id": escalation["conversation_id"],
        "escalation": escalation,
        **_sample_extras(event_type, agent),
    }
    transcript = _sample_transcript(customer.get("name"), agent.get("name"))
    return Notice(
        {"type": event_type, "timestamp": _iso(_AT), "data": data},
        card_link,
        transcript if with_transcript else (),
    )


# A template that fails for a typical notice of any type would fail for nearly every one,
# and is refused; one that fails only for the odd ones real platforms send is reported, and
# those notices get the shipped template.
TYPICAL = tuple(_sample(t) for t in EVENT_TYPES)
_ODD_KINDS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("a customer without a name", {"customer": {**_TYPICAL_CUSTOMER, "name": None}}),
    ("a customer whose name is empty", {"customer": {**_TYPICAL_CUSTOMER, "name": ""}}),
    ("a customer known only by an id", {"customer": {"id": "cust_1"}}),
    (
        "a right-to-left name",
        {
            "customer": {"id": "c", "name": "محمد بن عبد الله"},
            "agent": {"id": "U", "name": "נועה 🌸"},
        },
    ),
    ("a name of one emoji", {"customer": {"id": "c", "name": "🦊"}}),
    (
        "1,000-character names",
        {"customer": {"id": "c", "name": _LONG_NAME}, "agent": {"id": "U", "name": _LONG_NAME}},
    ),
    ("no transcript", {"with_transcript": False}),
    ("no card link", {"card_link": None}),
    ("no summary, channel or SLA", {"bare": True}),
)
ODD = tuple(
    (label, tuple(_sample(t, **kwargs) for t in EVENT_TYPES)) for label, kwargs in _ODD_KINDS
)
_SAMPLE_SUBJECT = "New escalation: Nguyen Van A (high)"


def _batch_context(notices: Sequence[Notice]) -> dict[str, Any]:
    items = [
        {**_context(n, BATCH_TRANSCRIPT_LINES, BATCH_TRANSCRIPT_CHARS), "subject": _SAMPLE_SUBJECT}
        for n in notices
    ]
    return {"notices": items, "start": _AT, "end": _AT + timedelta(hours=1)}


def _sample_contexts(key: str, notices: Sequence[Notice]) -> list[dict[str, Any]]:
    if key in _BATCH_KEYS:
        return [_batch_context(notices)]
    return [_context(n, TRANSCRIPT_LINES, TRANSCRIPT_CHARS) for n in notices]


def _failure(exc: Exception) -> str:
    text = str(exc) if isinstance(exc, TemplateError) else f"{type(exc).__name__}: {exc}"
    return one_line(text, 300)


def _first_failure(template: Template, contexts: Sequence[dict[str, Any]]) -> str | None:
    for context in contexts:
        try:
            template.render(context)
        except Exception as exc:  # a template can raise anything its expressions do
            what = context.get("type") or "batch"
            return f"{_failure(exc)} (for {what})"
    return None


def compile_checked(key: str, source: str, where: str) -> tuple[Template, list[str]]:
    """Compile a template and try it on every sample; raise naming ``where`` when it fails
    for a typical notice. Returns it with the odd samples it fails for."""
    try:
        template = _compile(key, source)
    except TemplateError as exc:
        raise TemplateProblem(f"{where}: {_failure(exc)}") from exc
    problem = _first_failure(template, _sample_contexts(key, TYPICAL))
    if problem is not None:
        raise TemplateProblem(f"{where}: {problem}")
    fails_for = []
    for label, notices in ODD:
        problem = _first_failure(template, _sample_contexts(key, notices))
        if problem is not None:
            fails_for.append(f"{label} ({problem})")
    return template, fails_for


@cache
def _shipped() -> dict[str, Template]:
    """The shipped templates, which must hold for every sample."""
    shipped = {}
    for key in KEYS:
        path = _TEMPLATES / f"{key}.j2"
        template, fails_for = compile_checked(key, path.read_text(encoding="utf-8"), str(path))
        if fails_for:
            raise TemplateProblem(f"{path} fails for {'; '.join(fails_for)}")
        shipped[key] = template
    return shipped


# Rendering -------------------------------------------------------------------------------


class EmailTemplates:
    """Renders notification emails; ``overrides`` maps keys of ``KEYS`` to Jinja2 sources.

    An override that fails for one notice gives way to the shipped template, and its
    failure is logged once per template, however many notices it fails for.
    """

    def __init__(self, overrides: Mapping[str, str] = {}) -> None:
        self.warnings: list[str] = []
        self._overrides: dict[str, Template] = {}
        self._reported: set[str] = set()
        for key, source in overrides.items():
            where = f"templates.email.{key}"
            if key not in KEYS:
                raise TemplateProblem(f"{where}: unknown template (expected one of {KEYS})")
            self._overrides[key], fails_for = compile_checked(key, source, where)
            if fails_for:
                self.warnings.append(
                    f"{where} fails for {'; for '.join(fails_for)}: those notices get the"
                    " shipped template instead"
                )
        self._shipped = _shipped()

    def notification(self, notice: Notice) -> RenderedEmail:
        context = _context(notice, TRANSCRIPT_LINES, TRANSCRIPT_CHARS)
        return _safe(
            RenderedEmail(
                self._render("subject", context),
                self._render("text", context),
                self._render("html", context),
            )
        )

    def batch(self, notices: Sequence[Notice], start: datetime, end: datetime) -> RenderedEmail:
        """One email for the notices of an hour (``start`` to ``end``), oldest first."""
        items = [self._batch_item(n) for n in notices]
        context = {"notices": items, "start": start, "end": end}
        return _safe(
            RenderedEmail(
                self._render("batch_subject", context),
                self._render("batch_text", context),
                self._render("batch_html", context),
            )
        )

    def _batch_item(self, notice: Notice) -> dict[str, Any]:
        item = _context(notice, BATCH_TRANSCRIPT_LINES, BATCH_TRANSCRIPT_CHARS)
        item["subject"] = one_line(self._render("subject", item))
        return item

    def _render(self, key: str, context: Mapping[str, Any]) -> str:
        override = self._overrides.get(key)
        if override is not None:
            try:
                return override.render(context)
            except Exception as exc:  # never let an operator's template stop a notification
                self._report(key, exc)
        return self._shipped[key].render(context)

    def _report(self, key: str, exc: Exception) -> None:
        if key in self._reported:
            return
        self._reported.add(key)
        log.warning(
            "templates.email.%s could not be rendered (%s); the shipped template was used"
            " instead. Logged once per template until restart: fix it in the configuration"
            " file",
            key,
            _failure(exc),
        )


def email_message(
    rendered: RenderedEmail, *, sender: str, to: Sequence[str], date: datetime | None = None
) -> EmailMessage:
    """The email as sent: plain text and HTML alternatives, both UTF-8, in 7-bit transfer
    encodings, so that it passes any server and lines of any length."""
    message = EmailMessage(policy=_SEVEN_BIT)
    _set_subject(message, one_line(rendered.subject))
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = format_datetime(date or datetime.now(UTC))
    message["Message-ID"] = make_msgid("baton", domain=_domain(sender))
    message.set_content(_body(rendered.text), subtype="plain", charset="utf-8")
    message.add_alternative(_body(rendered.html), subtype="html", charset="utf-8")
    return message


_SEVEN_BIT = email.policy.default.clone(cte_type="7bit")


def _set_subject(message: EmailMessage, subject: str) -> None:
    """RFC 2047 encoded by ``email.header``, not by the policy: the policy's folding drops
    the space it folds at between two encoded words (CPython 3.11), which joins two words of
    a right-to-left name. Text that looks encoded already is encoded again, not decoded."""
    if subject.isascii() and "=?" not in subject:
        message["Subject"] = subject
    else:
        message.set_raw("Subject", Header(subject, "utf-8", header_name="Subject").encode())


def _domain(sender: str) -> str:
    """The sender's domain, for the Message-ID (``make_msgid`` would look the host up)."""
    domain = parseaddr(sender)[1].rpartition("@")[2]
    return domain if domain and domain.isascii() else "baton.localhost"
