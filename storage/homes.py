"""Users' App Homes: what each chose to see, and when each must be published again.

Slack says when a user opens their Home (``app_home_opened``) but never when they leave, so
a Home opened within ``open_for`` counts as open. An open Home is *due* when an escalation
changed after the change mark its published view reflects (``seen_through``), or when its
``settle_at`` has come: one more look shortly after each publish, which catches a change
committed late or stamped by a replica whose clock runs behind. A due Home is *claimed*
with a conditional update that also moves ``next_publish_at`` ahead, so one replica
publishes it, at most once per interval, and a 429's Retry-After holds it the same way.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from enum import Enum

from sqlalchemy import func, or_, select, text, update
from sqlmodel import col

from storage.database import Database, rowcount
from storage.models import Escalation, SlackHome

_REFRESHER_LOCK = 0x0BA7_0006  # one replica refreshes Homes at a time (global pacing)


async def opened(db: Database, user_id: str) -> SlackHome:
    """Remember that ``user_id`` is looking at their Home now; their filters are kept."""
    now = db.clock.now()
    stmt = (
        db.insert(SlackHome)
        .values(user_id=user_id, opened_at=now, page=0)
        .on_conflict_do_update(index_elements=["user_id"], set_={"opened_at": now})
    )
    async with db.write(notify=False) as s:
        await s.execute(stmt)
        home = await s.get(SlackHome, user_id, populate_existing=True)
    assert home is not None
    return home


async def load(db: Database, user_id: str) -> SlackHome | None:
    async with db.read() as s:
        return await s.get(SlackHome, user_id)


class Unset(Enum):
    UNSET = "unset"


UNSET = Unset.UNSET  # a filter left as it is (None means "all")


async def choose(
    db: Database,
    user_id: str,
    *,
    priority: str | Unset | None = UNSET,
    channel: str | Unset | None = UNSET,
) -> SlackHome:
    """New filters (None is "all", UNSET keeps the current one); the list starts again at its
    first page."""
    values: dict[str, object] = {"page": 0}
    if priority is not UNSET:
        values["priority"] = priority
    if channel is not UNSET:
        values["channel"] = channel
    return await _set(db, user_id, **values)


async def turn_to(db: Database, user_id: str, page: int) -> SlackHome:
    return await _set(db, user_id, page=max(0, page))


async def _set(db: Database, user_id: str, **values: object) -> SlackHome:
    """Change what ``user_id``'s Home shows; they are looking at it now. One upsert, so a
    Home not stored yet starts with these values and the other filters as "all"."""
    now = db.clock.now()
    stmt = (
        db.insert(SlackHome)
        .values(user_id=user_id, opened_at=now, **{"page": 0, **values})
        .on_conflict_do_update(index_elements=["user_id"], set_={**values, "opened_at": now})
    )
    async with db.write(notify=False) as s:
        await s.execute(stmt)
        home = await s.get(SlackHome, user_id, populate_existing=True)
    assert home is not None
    return home


async def change_mark(db: Database) -> datetime | None:
    """When an escalation last changed (an index on ``updated_at`` answers this)."""
    async with db.read() as s:
        return (await s.execute(select(func.max(Escalation.updated_at)))).scalar_one_or_none()


async def due(
    db: Database, mark: datetime | None, *, open_since: datetime, limit: int
) -> list[SlackHome]:
    """Open Homes that need another look and whose throttle has passed; longest-waiting first."""
    now = db.clock.now()
    stale = [col(SlackHome.settle_at) <= now]
    if mark is not None:
        stale += [col(SlackHome.seen_through).is_(None), col(SlackHome.seen_through) < mark]
    stmt = (
        select(SlackHome)
        .where(
            col(SlackHome.opened_at) >= open_since,
            or_(col(SlackHome.next_publish_at).is_(None), col(SlackHome.next_publish_at) <= now),
            or_(*stale),
        )
        .order_by(col(SlackHome.next_publish_at).nulls_first(), SlackHome.user_id)
        .limit(limit)
    )
    async with db.read() as s:
        return list((await s.execute(stmt)).scalars())


async def claim(db: Database, user_id: str, until: datetime) -> SlackHome | None:
    """This replica publishes ``user_id``'s Home; nobody else before ``until``. None if the
    throttle has not passed (another replica, or a Retry-After, got there first)."""
    now = db.clock.now()
    async with db.write(notify=False) as s:
        claimed = await s.execute(
            update(SlackHome)
            .where(
                col(SlackHome.user_id) == user_id,
                or_(
                    col(SlackHome.next_publish_at).is_(None), col(SlackHome.next_publish_at) <= now
                ),
            )
            .values(next_publish_at=until)
        )
        if rowcount(claimed) != 1:
            return None
        return await s.get(SlackHome, user_id, populate_existing=True)


async def shown(
    db: Database,
    rendered: SlackHome,
    *,
    view_hash: str,
    seen_through: datetime | None,
    settle_at: datetime | None,
) -> None:
    """What the Home now shows, and which escalation changes that covers. If the user
    changed a filter or the page while it was rendered, what was published may be stale:
    it is then due again at once."""
    values: dict[str, object] = {
        "view_hash": view_hash,
        "seen_through": seen_through,
        "settle_at": settle_at,
    }
    unchanged = (
        col(SlackHome.user_id) == rendered.user_id,
        col(SlackHome.priority).is_not_distinct_from(rendered.priority),
        col(SlackHome.channel).is_not_distinct_from(rendered.channel),
        col(SlackHome.page) == rendered.page,
    )
    async with db.write(notify=False) as s:
        result = await s.execute(update(SlackHome).where(*unchanged).values(**values))
        if rowcount(result) == 0:
            await s.execute(
                update(SlackHome)
                .where(col(SlackHome.user_id) == rendered.user_id)
                .values(view_hash=None, settle_at=db.clock.now())
            )


async def hold(db: Database, user_id: str, until: datetime) -> None:
    """Slack said to wait (429 Retry-After): this Home is not published before ``until``."""
    async with db.write(notify=False) as s:
        await s.execute(
            update(SlackHome).where(col(SlackHome.user_id) == user_id).values(next_publish_at=until)
        )


@asynccontextmanager
async def refresher_turn(db: Database) -> AsyncIterator[bool]:
    """True while this replica is the one refreshing Homes. On PostgreSQL a session advisory
    lock makes it one replica at a time, so its pace is the whole app's pace toward Slack's
    views.publish limit; SQLite is one process anyway."""
    if db.dialect != "postgresql":
        yield True
        return
    async with db.engine.connect() as conn:
        got = (
            await conn.execute(text("SELECT pg_try_advisory_lock(:id)"), {"id": _REFRESHER_LOCK})
        ).scalar_one()
        await conn.commit()
        try:
            yield bool(got)
        finally:
            if got:
                await conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _REFRESHER_LOCK})
                await conn.commit()
