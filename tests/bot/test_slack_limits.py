"""The biggest escalation the API accepts still fits Slack's Block Kit limits: the stand-in
refuses blocks over them (``invalid_blocks``) as Slack does, so a card, thread post or
update that would break them shows here as a parked row."""

from typing import Any

from sqlalchemy import select

from storage.models import DeliveryState, OutboxRow, Topic
from tests.bot.conftest import ANN, SlackEnv

RTL = "مرحبا، أريد استرداد المبلغ "  # Arabic, right to left
EMOJI = "👩🏽‍💻🇻🇳✅ "
LONG = (RTL + EMOJI + "& <!channel> *bold* ") * 2000  # far past every limit


def _biggest() -> dict[str, Any]:
    return {
        "customer": {
            "id": "c" * 200,
            "name": LONG[:1000],
            "email": "e" * 990 + "@x.example",
            "phone": "+84 " + "9" * 46,
            "locale": "vi-" + "x" * 32,
            "avatar_url": "https://cdn.example.com/" + "a" * 2000 + ".png",
            "attributes": {f"{n} {LONG[:96]}": LONG[:1000] for n in range(50)},
        },
        "summary": LONG[:3000],
        "confidence": 100,
        "reason_detail": LONG[:1000],
        "transcript": [
            {"role": role, "content": LONG[:40_000], "timestamp": "2026-03-12T10:00:00Z"}
            for role in ("customer", "assistant") * 3
        ],
        "context": {
            "memory": {f"key {n} {RTL}": LONG[:2000] for n in range(30)},
            "tags": [LONG[:1000]] * 20,
            "gate_audit": [{"check": LONG[:3000]}] * 10,
            "tool_calls": [{"name": "refund", "args": LONG[:3000]}] * 10,
        },
    }


async def _parked(senv: SlackEnv) -> list[str]:
    async with senv.env.db.read() as s:
        rows = await s.execute(
            select(OutboxRow.kind, OutboxRow.last_error).where(
                OutboxRow.topic == Topic.slack, OutboxRow.state == DeliveryState.failed
            )
        )
        return [f"{kind}: {error}" for kind, error in rows]


async def test_the_biggest_escalation_fits_slacks_limits_through_its_life(
    slack_env: SlackEnv,
) -> None:
    esc_id = await slack_env.escalate(**_biggest())
    await slack_env.take(esc_id, ANN)
    await slack_env.say(esc_id, ANN, LONG[:3900])
    response = await slack_env.client.post(
        f"/v1/escalations/{esc_id}/messages",
        json={"role": "customer", "content": LONG[:40_000]},
        headers=slack_env.env.auth,
    )
    assert response.status_code == 201, response.text
    await slack_env.deliver()

    assert await _parked(slack_env) == []
    card = await slack_env.card(esc_id)
    assert "<!channel>" not in card.text  # escaped, however long
    replies = await slack_env.replies(esc_id)
    assert len(replies) >= 3  # transcript, context, the customer's message
