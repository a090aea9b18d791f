"""A long conversation in Slack: the thread shows the newest messages Slack's limits allow
and says how many earlier ones it leaves out; the API keeps them all."""

import json
import re

from api.demo.slack_standin import StoredMessage
from tests.bot.conftest import SlackEnv

COUNT = 3_000


def _sections(message: StoredMessage) -> list[str]:
    return [b["text"]["text"] for b in message.blocks if b["type"] == "section"]


async def test_a_3000_message_conversation_shows_its_newest_and_counts_the_rest(
    slack_env: SlackEnv,
) -> None:
    transcript = [
        {"role": "customer", "content": f"Tin nhắn #{i:04d}: " + "chữ " * 40} for i in range(COUNT)
    ]
    esc_id = await slack_env.escalate(transcript=transcript)
    intro = await slack_env.replies(esc_id)
    assert 1 <= len(intro) <= 10
    for message in intro:  # Slack's limits: 50 blocks, 3,000 characters a section
        assert len(message.blocks) <= 50
        assert all(len(text) <= 3_000 for text in _sections(message))
    text = "\n".join(t for message in intro for t in _sections(message))
    shown = [int(n) for n in re.findall(r"Tin nhắn #(\d{4})", text)]
    assert shown == list(range(COUNT - len(shown), COUNT))  # the newest, in order, once each
    heading = _sections(intro[0])[0]
    assert f"({COUNT:,} messages)" in heading
    assert f"{COUNT - len(shown):,} earlier messages not shown" in heading
    assert f"GET /v1/escalations/{esc_id}" in heading
    detail = await slack_env.client.get(f"/v1/escalations/{esc_id}", headers=slack_env.env.auth)
    assert len(detail.json()["messages"]) == COUNT
    assert json.dumps(detail.json()["messages"][0], ensure_ascii=False).find("#0000") > 0
