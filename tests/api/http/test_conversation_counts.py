"""A platform says how many conversations its bot had on a day: kept per platform and day,
a later report replacing the earlier; a date that is no date or a count below zero is
refused naming the field, and changes nothing."""

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from storage.models import ConversationCount
from tests.api.http.test_unstorable_text import assert_refused
from tests.conftest import Env


async def _counts(env: Env) -> list[tuple[str, date, int]]:
    async with env.db.read() as s:
        rows = await s.execute(
            select(
                ConversationCount.platform_id, ConversationCount.day, ConversationCount.count
            ).order_by(ConversationCount.platform_id, ConversationCount.day)
        )
        return [(p, d, c) for p, d, c in rows]


async def _put(env: Env, day: str, body: Any, auth: dict[str, str] | None = None) -> Any:
    return await env.client.put(
        f"/v1/stats/conversations/{day}", json=body, headers=auth or env.auth
    )


async def test_a_count_is_kept_per_platform_and_day_and_replaced(env: Env) -> None:
    other = await env.add_platform("globex")
    other_auth = {"Authorization": f"Bearer {other.api_key}"}
    assert (await _put(env, "2026-11-23", {"count": 1200})).json() == {
        "date": "2026-11-23",
        "count": 1200,
    }
    assert (await _put(env, "2026-11-24", {"count": 0})).status_code == 200
    assert (await _put(env, "2026-11-23", {"count": 900}, other_auth)).status_code == 200
    assert (await _put(env, "2026-11-23", {"count": 1250})).status_code == 200  # a correction

    mine, theirs = env.platform.platform.id, other.platform.id
    assert sorted(await _counts(env)) == sorted(
        [
            (mine, date(2026, 11, 23), 1250),
            (mine, date(2026, 11, 24), 0),
            (theirs, date(2026, 11, 23), 900),
        ]
    )


@pytest.mark.parametrize(
    ("day", "body", "field"),
    [
        ("2026-13-01", {"count": 5}, "date"),
        ("yesterday", {"count": 5}, "date"),
        ("2026-11-23", {"count": -1}, "count"),
        ("2026-11-23", {"count": 2.5}, "count"),
        ("2026-11-23", {"count": "12"}, "count"),
        ("2026-11-23", {}, "count"),
    ],
)
async def test_a_bad_date_or_count_is_refused(
    env: Env, day: str, body: dict[str, Any], field: str
) -> None:
    assert_refused(await _put(env, day, body), field)
    assert await _counts(env) == []


async def test_without_a_key_nothing_is_kept(env: Env) -> None:
    response = await env.client.put("/v1/stats/conversations/2026-11-23", json={"count": 5})
    assert response.status_code == 401
    assert await _counts(env) == []
