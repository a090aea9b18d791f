"""Reading escalations back: one with its history, or a filtered page of many."""

import base64
import binascii
import re
from dataclasses import dataclass

from sqlalchemy import Select, exists, or_, select
from sqlmodel import col

from storage.database import Database
from storage.errors import NotFound
from storage.models import ACTIVE_STATUSES, Escalation, Event, Message
from storage.search import like_pattern

ACTIVE = "active"
# What a cursor holds: an escalation id, ``esc_`` and a ULID (Crockford's base 32).
_CURSOR_ID = re.compile(r"esc_[0-9A-HJKMNP-TV-Z]{26}")


class BadCursor(ValueError):
    pass


@dataclass(frozen=True)
class EscalationFilter:
    status: str | None = None  # a Status value, or "active"
    priority: str | None = None
    channel: str | None = None
    assignee: str | None = None
    conversation_id: str | None = None
    q: str | None = None


@dataclass(frozen=True)
class Page:
    items: list[Escalation]
    next_cursor: str | None


def encode_cursor(esc_id: str) -> str:
    return base64.urlsafe_b64encode(esc_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The escalation id in ``cursor``; anything else (a NUL, which PostgreSQL cannot
    compare, or text of any other shape) is refused the same on every database."""
    try:
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadCursor("cursor is not one this API gave out") from exc
    if _CURSOR_ID.fullmatch(decoded) is None:
        raise BadCursor("cursor is not one this API gave out")
    return decoded


def _filtered(scope: str | None, f: EscalationFilter) -> Select[Escalation]:
    stmt = select(Escalation)
    if scope is not None:
        stmt = stmt.where(col(Escalation.platform_id) == scope)
    if f.status == ACTIVE:
        stmt = stmt.where(col(Escalation.status).in_(ACTIVE_STATUSES))
    elif f.status is not None:
        stmt = stmt.where(col(Escalation.status) == f.status)
    if f.priority is not None:
        stmt = stmt.where(col(Escalation.priority) == f.priority)
    if f.channel is not None:
        stmt = stmt.where(col(Escalation.channel) == f.channel)
    if f.assignee is not None:
        stmt = stmt.where(col(Escalation.assignee_id) == f.assignee)
    if f.conversation_id is not None:
        stmt = stmt.where(col(Escalation.conversation_id) == f.conversation_id)
    if f.q:
        pattern = like_pattern(f.q)
        in_messages = exists().where(
            col(Message.escalation_id) == Escalation.id,
            col(Message.content).ilike(pattern, escape="\\"),
        )
        stmt = stmt.where(
            or_(
                in_messages,
                col(Escalation.reason).ilike(pattern, escape="\\"),
                col(Escalation.reason_detail).ilike(pattern, escape="\\"),
            )
        )
    return stmt


async def list_escalations(
    db: Database, scope: str | None, f: EscalationFilter, *, limit: int, cursor: str | None
) -> Page:
    """Newest first; ``cursor`` continues after the last item of the previous page."""
    stmt = _filtered(scope, f)
    if cursor is not None:
        stmt = stmt.where(col(Escalation.id) < decode_cursor(cursor))
    stmt = stmt.order_by(col(Escalation.id).desc()).limit(limit + 1)
    async with db.read() as s:
        rows = list((await s.execute(stmt)).scalars())
    more = len(rows) > limit
    items = rows[:limit]
    return Page(items, encode_cursor(items[-1].id) if more and items else None)


async def get_escalation(db: Database, scope: str | None, esc_id: str) -> Escalation:
    async with db.read() as s:
        stmt = select(Escalation).where(col(Escalation.id) == esc_id)
        if scope is not None:
            stmt = stmt.where(col(Escalation.platform_id) == scope)
        esc = (await s.execute(stmt)).scalars().first()
    if esc is None:
        raise NotFound("escalation", esc_id)
    return esc


async def get_history(db: Database, esc_id: str) -> tuple[list[Message], list[Event]]:
    """Messages in arrival order and the audit trail, oldest first."""
    async with db.read() as s:
        messages = (
            await s.execute(
                select(Message).where(col(Message.escalation_id) == esc_id).order_by(Message.id)
            )
        ).scalars()
        events = (
            await s.execute(
                select(Event).where(col(Event.escalation_id) == esc_id).order_by(Event.id)
            )
        ).scalars()
        return list(messages), list(events)
