"""Token buckets shared by every replica (PostgreSQL only): one row per API key.

A draw refills the bucket for the time since the last one (at ``rate`` tokens a second, up
to ``burst``) and takes up to ``chunk`` whole tokens, in one statement that locks the row,
so replicas drawing at once never grant the same token twice.
"""

from sqlalchemy import text

from storage.database import Database

_DRAW = text(
    """
    WITH cur AS (
        SELECT key_id,
               LEAST(:burst, tokens + :rate * EXTRACT(EPOCH FROM (clock_timestamp() - updated_at)))
                   AS avail
        FROM rate_buckets WHERE key_id = :key FOR UPDATE
    )
    UPDATE rate_buckets AS b
       SET tokens = cur.avail - LEAST(:chunk, FLOOR(cur.avail)),
           updated_at = clock_timestamp()
      FROM cur
     WHERE b.key_id = cur.key_id
    RETURNING LEAST(:chunk, FLOOR(cur.avail)) AS granted, cur.avail AS avail
    """
)
_SEED = text(
    "INSERT INTO rate_buckets (key_id, tokens, updated_at) "
    "VALUES (:key, :burst, clock_timestamp()) ON CONFLICT (key_id) DO NOTHING"
)


async def draw_tokens(
    db: Database, key_id: str, *, rate: float, burst: float, chunk: int
) -> tuple[int, float]:
    """The whole tokens granted (at most ``chunk``) and the tokens the bucket held before;
    a key drawing for the first time starts with a full bucket."""
    params = {"key": key_id, "burst": burst, "rate": rate, "chunk": chunk}
    async with db.write() as s:
        row = (await s.execute(_DRAW, params)).first()
        if row is None:
            await s.execute(_SEED, params)
            row = (await s.execute(_DRAW, params)).first()
        assert row is not None
        return int(row.granted), float(row.avail)
