"""The demo's terminal view of Block Kit messages, and their Block Kit Builder links."""

import json
from datetime import UTC, datetime
from urllib.parse import unquote

from rich.console import Console

from api.demo.block_preview import BUILDER, builder_link, render_message
from blocks.card import escalation_card
from storage.models import Escalation, Priority, Reason, Status


def shown(blocks: list[dict], names: dict[str, str] | None = None) -> str:
    console = Console(width=100, record=True, color_system=None)
    console.print(render_message(blocks, "fallback", "card", names or {}))
    return console.export_text()


def test_the_builder_link_carries_the_blocks() -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "a & b <@U1> #x?"}}]
    link = builder_link(blocks)
    assert link.startswith(BUILDER)
    assert "#" not in link.removeprefix(BUILDER)  # the whole payload is one fragment
    assert json.loads(unquote(link.removeprefix(BUILDER))) == {"blocks": blocks}


def test_mrkdwn_reads_as_slack_shows_it() -> None:
    text = (
        "*Taken* by <@U0MINH> <!date^1795512788^{date_short_pretty}|2026-11-24 09:33 UTC>\n"
        ">a quote with &lt;b&gt; &amp; [not markup] <https://x.test|a link>"
    )
    out = shown([{"type": "section", "text": {"type": "mrkdwn", "text": text}}], {"U0MINH": "Minh"})
    assert "Taken by @Minh 2026-11-24 09:33 UTC" in out
    assert "▌ a quote with <b> & [not markup] a link (https://x.test)" in out


def test_a_card_shows_its_fields_state_and_buttons() -> None:
    now = datetime(2026, 3, 12, 10, tzinfo=UTC)
    esc = Escalation(
        id="esc_1",
        platform_id="plt_1",
        conversation_id="conv_1",
        status=Status.queued,
        priority=Priority.high,
        reason=Reason.customer_request,
        customer={"id": "c1", "name": "Lan Nguyen"},
        channel="whatsapp",
        created_at=now,
        updated_at=now,
    )
    out = shown(escalation_card(esc).blocks_as_dicts())
    for seen in ("Lan Nguyen · Customer request", "whatsapp", "🟠 High", "Waiting since"):
        assert seen in out
    for button in (" Take ", " Return to bot ", " Close ", " ⋯ "):
        assert button in out
