"""What the bot knows shows where agents look: its summary first on the card, its confidence
and the customer's language under it, the customer's picture beside their name, and phone
and attributes in the thread's customer context. Through the real app and the stand-in."""

from typing import Any

from tests.bot.conftest import SlackEnv

SUMMARY = "Charged twice for order 8842 & wants a refund <today>."


def _text(block: dict[str, Any]) -> str:
    return str(block.get("text", {}).get("text", ""))


async def test_the_summary_comes_first_and_the_bots_confidence_and_language_show(
    slack_env: SlackEnv,
) -> None:
    esc_id = await slack_env.escalate(
        summary=SUMMARY,
        confidence=35,
        customer={
            "id": "cust_19",
            "name": "Nguyen Van A",
            "locale": "vi",
            "avatar_url": "https://cdn.example.com/a.png",
        },
    )
    blocks = (await slack_env.card(esc_id)).blocks
    assert blocks[0]["type"] == "header"
    assert _text(blocks[1]) == (
        ":robot_face: *The bot's summary*\n"
        "Charged twice for order 8842 &amp; wants a refund &lt;today&gt;."
    )
    details = blocks[2]
    assert details["accessory"] == {
        "type": "image",
        "image_url": "https://cdn.example.com/a.png",
        "alt_text": "Nguyen Van A",
    }
    context = next(b for b in blocks if b["type"] == "context")
    lines = [e["text"] for e in context["elements"]]
    assert ":bar_chart: Bot confidence 35% · :globe_with_meridians: vi" in lines

    detail = await slack_env.client.get(f"/v1/escalations/{esc_id}", headers=slack_env.env.auth)
    assert detail.json()["summary"] == SUMMARY


async def test_without_summary_or_picture_the_card_is_as_before(slack_env: SlackEnv) -> None:
    esc_id = await slack_env.escalate(customer={"id": "c1", "name": "Lan"}, confidence=None)
    blocks = (await slack_env.card(esc_id)).blocks
    assert blocks[1]["block_id"] == "card_details" and "accessory" not in blocks[1]
    assert "confidence" not in str(blocks)


async def test_phone_and_attributes_show_in_the_threads_customer_context(
    slack_env: SlackEnv,
) -> None:
    attributes = {"plan": "gold", "city": "Đà Nẵng", "note": "<!channel> & co"}
    esc_id = await slack_env.escalate(
        customer={"id": "c2", "name": "Lan", "phone": "+84 90 123 4567", "attributes": attributes}
    )
    texts = "\n".join(
        _text(b) for m in await slack_env.replies(esc_id) for b in m.blocks if "text" in b
    )
    assert "*Customer* · :telephone_receiver: +84 90 123 4567" in texts
    assert "• *plan*: gold" in texts and "• *city*: Đà Nẵng" in texts
    assert "• *note*: &lt;!channel&gt; &amp; co" in texts
