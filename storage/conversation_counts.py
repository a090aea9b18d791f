"""How many conversations each platform's bot had per day, as the platform reports it."""

from datetime import date

from storage.database import Database
from storage.models import ConversationCount


async def record(db: Database, platform_id: str, day: date, count: int) -> None:
    """Set the platform's count for ``day``, replacing an earlier report."""
    now = db.clock.now()
    table = ConversationCount.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    upsert = (
        db.insert(table)
        .values(platform_id=platform_id, day=day, count=count, updated_at=now)
        .on_conflict_do_update(
            index_elements=["platform_id", "day"], set_={"count": count, "updated_at": now}
        )
    )
    async with db.write(notify=False) as s:
        await s.execute(upsert)
