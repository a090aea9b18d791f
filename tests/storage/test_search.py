"""Search's SQL: substring matches in both databases, and an index behind it on PostgreSQL."""

import pytest
from sqlalchemy import text

from storage.database import Database
from storage.search import like_pattern, matching_reasons


def test_wildcards_typed_are_searched_as_text() -> None:
    assert like_pattern("50%_off\\") == "%50\\%\\_off\\\\%"


def test_reasons_match_by_value_or_label() -> None:
    assert [str(r) for r in matching_reasons("Gate fail")] == ["gate_failure"]
    assert [str(r) for r in matching_reasons("gate_f")] == ["gate_failure"]
    assert matching_reasons("refund") == []


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("table", "column"),
    [("messages", "content"), ("escalations", "customer_name"), ("escalations", "reason_detail")],
)
async def test_postgres_serves_ilike_from_a_trigram_index(
    pg_database: str, table: str, column: str
) -> None:
    db = Database(pg_database)
    try:
        async with db.engine.connect() as conn:
            await conn.execute(text("SET enable_seqscan = off"))  # an empty table would scan
            plan = await conn.execute(
                text(f"EXPLAIN SELECT 1 FROM {table} WHERE {column} ILIKE :p"),
                {"p": "%ord-7731%"},
            )
            lines = "\n".join(row[0] for row in plan)
    finally:
        await db.dispose()
    assert f"ix_{table}_{column}_trgm" in lines, lines
