"""The owner's reminder when a customer has waited on them too long."""

from datetime import timedelta

from slack_sdk.models.blocks import SectionBlock

from blocks.card import CardMessage, customer_name, reason_label
from blocks.durations import spoken
from blocks.slack_text import escaped, plain
from storage.models import Escalation


def owner_nudge(esc: Escalation, waited: timedelta, card_link: str | None) -> CardMessage:
    who = escaped(customer_name(esc), 200)
    where = f"<{card_link}|the thread>" if card_link else "the escalation's thread"
    text = (
        f":hourglass_flowing_sand: *{who}* ({reason_label(esc)}, {esc.priority}) has been "
        f"waiting on you for {spoken(waited)}. Reply in {where}, or use *Return to bot* or "
        "*Unassign* on the card if you can't get to it now."
    )
    return CardMessage(
        text=plain(f"{customer_name(esc)} has been waiting on you for {spoken(waited)}"),
        blocks=[SectionBlock(text=text)],
    )
