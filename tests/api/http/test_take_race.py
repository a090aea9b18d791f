"""Many agents press Take at once: exactly one wins, every time, and the others are told who."""

import asyncio

from sqlalchemy import func, select

from storage.models import Event, OutboxRow, Topic
from tests.conftest import Env

AGENTS = 32
ROUNDS = 20


async def test_32_concurrent_takes_have_one_winner_20_times_over(env: Env) -> None:
    for round_ in range(ROUNDS):
        esc = await env.create()
        responses = await asyncio.gather(
            *(
                env.client.post(
                    f"/v1/escalations/{esc['id']}/take",
                    json={"agent": f"U{round_}x{n}"},
                    headers=env.auth,
                )
                for n in range(AGENTS)
            )
        )
        winners = [r for r in responses if r.status_code == 200]
        losers = [r for r in responses if r.status_code == 409]
        assert len(winners) == 1, f"round {round_}: {[r.status_code for r in responses]}"
        assert len(losers) == AGENTS - 1
        owner = winners[0].json()["assignee"]["id"]
        for loser in losers:
            error = loser.json()["error"]
            assert error["code"] == "conflict"
            assert error["details"]["owner"]["id"] == owner
            assert owner in error["message"]
        async with env.db.read() as s:
            takes = await s.scalar(
                select(func.count()).where(Event.escalation_id == esc["id"], Event.type == "taken")
            )
            taken_events = await s.scalar(
                select(func.count()).where(
                    OutboxRow.escalation_id == esc["id"],
                    OutboxRow.topic == Topic.platform,
                    OutboxRow.kind == "escalation.taken",
                )
            )
        assert takes == taken_events == 1
