"""The escalation card: escaped customer text, buttons per state, Block Kit limits."""

import json
from datetime import timedelta

import pytest

from blocks.card import escalation_card
from blocks.ids import Action
from blocks.slack_text import escape, escaped
from storage.models import Resolution, Status
from tests.blocks.models import EVIL, NOW
from tests.blocks.models import escalation as _escalation


def _action_ids(blocks: list[dict]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_customer_text_can_neither_ping_nor_link() -> None:
    esc = _escalation(
        customer={"id": "c", "name": EVIL, "email": EVIL},
        reason_detail=EVIL,
        last_message_preview=EVIL,
        channel=EVIL,
    )
    card = escalation_card(esc)
    rendered = json.dumps(card.blocks_as_dicts()) + card.text
    for dangerous in ("<!channel>", "<https://evil.example", "<@U0BOSS>"):
        assert dangerous not in rendered
    mrkdwn = [
        f["text"]
        for b in card.blocks_as_dicts()
        if b["type"] == "section"
        for f in b.get("fields", []) + ([b["text"]] if "text" in b else [])
    ]
    assert any("&lt;!channel&gt;" in text for text in mrkdwn)
    assert "&lt;!channel&gt;" in card.text


def test_a_queued_card_offers_take_and_a_taken_one_reply() -> None:
    queued = escalation_card(_escalation()).blocks_as_dicts()
    assert _action_ids(queued) == [Action.TAKE, Action.RETURN, Action.CLOSE, Action.MORE]
    taken = escalation_card(
        _escalation(status=Status.taken, assignee_id="U0MINH", assignee_name="Minh", taken_at=NOW)
    ).blocks_as_dicts()
    assert _action_ids(taken) == [Action.REPLY, Action.RETURN, Action.CLOSE, Action.MORE]
    assert "<@U0MINH>" in json.dumps(taken)
    button = next(b for b in taken if b["type"] == "actions")["elements"][0]
    assert button["value"] == "esc_01TEST"


@pytest.mark.parametrize("status", [Status.returned, Status.closed])
def test_an_ended_card_has_no_buttons_and_says_who_ended_it(status: Status) -> None:
    esc = _escalation(
        status=status,
        ended_at=NOW,
        ended_by={"id": "U0MINH", "name": "Minh"},
        resolution=Resolution.resolved if status == Status.closed else None,
    )
    blocks = escalation_card(esc).blocks_as_dicts()
    assert _action_ids(blocks) == []
    context = next(b for b in blocks if b["type"] == "context")["elements"][0]["text"]
    assert "<@U0MINH>" in context
    assert f"<!date^{int(NOW.timestamp())}^" in context  # each reader's own timezone
    assert ("Closed" if status == Status.closed else "Returned to the bot") in context


def test_any_input_size_fits_block_kit_limits() -> None:
    esc = _escalation(
        customer={"id": "c", "name": "N" * 5000, "email": "&" * 5000},
        reason_detail="<" * 10_000,
        last_message_preview="&<>" * 20_000,
        channel="x" * 3000,
    )
    card = escalation_card(esc)
    blocks = card.blocks_as_dicts()  # slack_sdk validates its limits here
    header = next(b for b in blocks if b["type"] == "header")["text"]["text"]
    assert len(header) <= 150 and header.endswith("…")
    for block in blocks:
        if block["type"] == "section":
            assert all(len(f["text"]) <= 2000 for f in block.get("fields", []))
            assert len(block.get("text", {}).get("text", "")) <= 3000
    assert len(card.text) <= 3000


def test_escaping_never_cuts_an_entity_in_half() -> None:
    assert escape("a<b>&c") == "a&lt;b&gt;&amp;c"
    cut = escaped("&" * 100, 12)
    assert cut.endswith("…") and len(cut) <= 12
    assert cut[:-1].replace("&amp;", "") == ""


def test_card_shows_each_sla_target_due_time_and_state() -> None:
    due = NOW + timedelta(minutes=15)
    card = escalation_card(
        _escalation(first_take_due_at=due, first_take_sla_level=1, resolution_due_at=due)
    )
    text = json.dumps(card.blocks_as_dicts())
    assert f"First take due <!date^{int(due.timestamp())}^" in text
    assert "*at risk*" in text and "on track" in text
    taken_late = _escalation(
        status=Status.taken, first_take_due_at=due, first_taken_at=due + timedelta(minutes=1)
    )
    assert ":x: missed" in json.dumps(escalation_card(taken_late).blocks_as_dicts())
    assert "due" not in json.dumps(escalation_card(_escalation()).blocks_as_dicts())
