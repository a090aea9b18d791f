"""Take in Slack with an operator's text that fails for this customer (no name): the click
takes the escalation, the card shows the owner, the customer is sent the shipped text."""

import json

from sqlalchemy import select

from api.config import parse_config
from api.demo.slack_standin import StandIn
from blocks.ids import Action
from storage.database import Database
from storage.models import OutboxRow, Topic
from tests.bot.conftest import ANN, running_slack_env

CONFIG = {
    "api": {"rate_limit": "0"},
    "templates": {"taken": "Hi {{ customer.name.split()[0] }}, I'm {{ agent.name }}."},
}


async def _taken_text(db: Database, esc_id: str) -> str | None:
    async with db.read() as s:
        rows = (
            await s.execute(
                select(OutboxRow).where(
                    OutboxRow.escalation_id == esc_id,
                    OutboxRow.topic == Topic.platform,
                    OutboxRow.kind == "escalation.taken",
                )
            )
        ).scalars()
        texts = [row.payload["data"]["customer_message"] for row in rows]
    return texts[0] if texts else None


async def test_a_click_on_take_is_not_lost_to_a_failing_template(
    database_url: str, standin: StandIn
) -> None:
    config = parse_config(CONFIG)
    async with running_slack_env(database_url, standin, config=config) as senv:
        nameless = await senv.escalate(customer={"id": "cust_1", "locale": "en"})
        named = await senv.escalate(customer={"id": "cust_2", "name": "Lan Nguyen"})
        await senv.take(nameless, ANN)  # waits until Ann owns it, then lets the card update
        await senv.take(named, ANN)
        card = await senv.card(nameless)
        assert f"<@{ANN}>" in json.dumps(card.blocks)
        buttons = [
            e["action_id"] for b in card.blocks if b["type"] == "actions" for e in b["elements"]
        ]
        assert Action.TAKE not in buttons and Action.REPLY in buttons
        assert await _taken_text(senv.env.db, nameless) == (
            "Hi, I'm Ann. I've reviewed your conversation and I'm here to help."
        )
        assert await _taken_text(senv.env.db, named) == "Hi Lan, I'm Ann."
        assert senv.ephemerals(ANN) == []
