"""Finding escalations by what was said or why: customer and agent messages, the customer's
name, the reason and its detail.

One query in both databases: a case-insensitive substring match (``ILIKE '%text%'``), which
finds a word inside a longer one, a phone number or an order id as well as a name, in any
language, with no stemming to surprise anyone. On PostgreSQL, pg_trgm GIN indexes on
``messages.content``, ``escalations.customer_name`` and ``escalations.reason_detail`` (see
migration 0006) serve exactly that predicate, so it stays fast with millions of messages;
full-text search (``to_tsvector``) was not chosen because it matches whole, stemmed words
only, and per-language stemming fits badly with customers writing Vietnamese and English.
SQLite has no trigram index: the embedded, single-process default scans, which is fine at
its size (and its ``lower()`` folds ASCII letters only). The reason is matched against its
closed vocabulary in Python and becomes an ``IN``.
"""

from dataclasses import dataclass

from sqlalchemy import Select, func, or_, select, union
from sqlmodel import col

from storage.database import Database
from storage.models import Escalation, Message, Reason, Role

SEARCHED_ROLES = (Role.customer, Role.agent)
MIN_LENGTH = 2


@dataclass(frozen=True)
class Hit:
    escalation: Escalation
    message: Message | None  # the latest matching message, if the match was in one


@dataclass(frozen=True)
class Found:
    hits: list[Hit]
    total: int


def like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def matching_reasons(text: str) -> list[Reason]:
    """Reasons whose value (``gate_failure``) or label (``gate failure``) contains ``text``."""
    needle = text.strip().lower()
    return [r for r in Reason if needle in r.value or needle in r.value.replace("_", " ")]


async def search(db: Database, text: str, *, limit: int) -> Found:
    """Escalations where ``text`` appears, newest first; any status."""
    text = text.strip()
    if len(text) < MIN_LENGTH:
        return Found([], 0)
    pattern = like_pattern(text)
    in_messages: Select[str] = select(col(Message.escalation_id).label("id")).where(
        col(Message.role).in_(SEARCHED_ROLES), col(Message.content).ilike(pattern, escape="\\")
    )
    about = [
        col(Escalation.customer_name).ilike(pattern, escape="\\"),
        col(Escalation.reason_detail).ilike(pattern, escape="\\"),
    ]
    reasons = matching_reasons(text)
    if reasons:
        about.append(col(Escalation.reason).in_(reasons))
    in_escalations: Select[str] = select(col(Escalation.id).label("id")).where(or_(*about))
    ids = union(in_messages, in_escalations).subquery()
    chosen = col(Escalation.id).in_(select(ids.c.id))
    async with db.read() as s:
        total = (await s.execute(select(func.count()).where(chosen))).scalar_one()
        rows = list(
            (
                await s.execute(
                    select(Escalation)
                    .where(chosen)
                    .order_by(col(Escalation.created_at).desc(), col(Escalation.id).desc())
                    .limit(limit)
                )
            ).scalars()
        )
        messages = await s.execute(
            select(Message)
            .where(
                col(Message.escalation_id).in_([e.id for e in rows]),
                col(Message.role).in_(SEARCHED_ROLES),
                col(Message.content).ilike(pattern, escape="\\"),
            )
            .order_by(col(Message.sent_at).desc(), col(Message.id).desc())
        )
        latest: dict[str, Message] = {}
        for m in messages.scalars():
            latest.setdefault(m.escalation_id, m)
    return Found([Hit(esc, latest.get(esc.id)) for esc in rows], int(total))
