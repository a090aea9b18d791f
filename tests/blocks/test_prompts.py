"""The prompt shown to someone who wrote in the thread of an escalation nobody owns."""

import json

from blocks.ids import Action
from blocks.prompts import held_message_prompt
from tests.blocks.models import EVIL
from tests.blocks.models import escalation as _escalation


def test_the_prompt_says_the_message_was_held_and_offers_both_choices() -> None:
    prompt = held_message_prompt(_escalation(), "evt_01HELD")
    blocks = prompt.blocks_as_dicts()
    text = blocks[0]["text"]["text"]
    assert "Nobody owns this escalation yet" in text
    assert "*not sent* to Nguyen Van A" in text
    assert "not sent to the customer" in prompt.text
    buttons = next(b for b in blocks if b["type"] == "actions")["elements"]
    assert [(b["text"]["text"], b["action_id"], b["value"]) for b in buttons] == [
        ("Take and send", Action.TAKE_AND_SEND, "esc_01TEST:evt_01HELD"),
        ("Keep as note", Action.KEEP_AS_NOTE, "esc_01TEST:evt_01HELD"),
    ]
    assert buttons[0]["style"] == "primary" and "style" not in buttons[1]


def test_a_customer_name_in_the_prompt_can_neither_ping_nor_link() -> None:
    prompt = held_message_prompt(_escalation(customer={"name": EVIL * 100}), "evt_1")
    rendered = json.dumps(prompt.blocks_as_dicts()) + prompt.text  # to_dict validates limits
    for dangerous in ("<!channel>", "<https://evil.example", "<@U0BOSS>"):
        assert dangerous not in rendered
    assert "&lt;!channel&gt; &lt;https://evil.example|your bank&gt; &amp;" in rendered
    assert len(prompt.blocks_as_dicts()[0]["text"]["text"]) <= 3000
