"""A [[notifications]] entry of kind slack: one line about the event, in another channel
(with a link to the card) or in the card's thread, opening with the entry's mention.

Everything the customer or the bot wrote is escaped; the mention is the configuration's.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import Block, SectionBlock

from blocks.card import CardMessage, customer_name, mention, slack_date
from blocks.sla import escalation_subject, target_name
from blocks.slack_text import escaped, plain
from storage.models import Escalation

SUMMARY_CHARS = 500  # of the bot's summary, in a new escalation's notice


def notification_post(
    esc: Escalation, event: Mapping[str, Any], mentions: str, card_link: str | None
) -> CardMessage:
    """The post for ``event`` (a notification body: ``type`` and ``data``)."""
    headline, line = _what(esc, str(event["type"]), event.get("data") or {})
    link = f" <{card_link}|Open the card>" if card_link else ""
    opening = f"{mentions} " if mentions else ""
    blocks: list[Block] = [SectionBlock(text=f"{opening}{line}{link}")]
    summary = esc.summary if event["type"] == "escalation.created" else None
    if summary:
        blocks.append(SectionBlock(text=f">{escaped(summary, SUMMARY_CHARS)}"))
    # The text is what a push notification shows: the mention must be in it to notify.
    text = f"{opening}{plain(f'{headline}: {customer_name(esc)}')}"
    return CardMessage(text=text, blocks=blocks)


def _what(esc: Escalation, event_type: str, data: Mapping[str, Any]) -> tuple[str, str]:
    """A headline (plain) and the line saying what happened (mrkdwn)."""
    subject = escalation_subject(esc)
    match event_type:
        case "escalation.created":
            return "New escalation", f":bell: *New escalation*: {subject}"
        case "escalation.taken":
            agent = data.get("agent") or {}
            who = mention(agent.get("id"), agent.get("name"))
            return "Taken", f":raising_hand: *Taken* by {who}: {subject}"
        case "escalation.returned":
            return "Returned to the bot", f":robot_face: *Returned to the bot*: {subject}"
        case "escalation.closed":
            resolution = str(data.get("resolution") or "closed").replace("_", " ")
            return "Closed", f":white_check_mark: *Closed* ({escaped(resolution, 50)}): {subject}"
        case "sla.at_risk" | "sla.breached" as alert:
            target = target_name(str(data.get("target", "")))
            due = slack_date(datetime.fromisoformat(str(data["due_at"])))
            if alert == "sla.breached":
                line = f":rotating_light: *SLA breached*: the {target} of {subject} was due {due}"
                return "SLA breached", line
            return "SLA at risk", f":warning: *SLA at risk*: the {target} of {subject} is due {due}"
    return event_type, f"*{escaped(event_type, 50)}*: {subject}"
