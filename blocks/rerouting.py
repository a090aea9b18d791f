"""What Baton says when a card cannot go to the channel routing picked and goes to the
escalation channel instead: a line on the card, and a notice for the managers."""

import re

from slack_sdk.models.blocks import SectionBlock

from blocks.card import CardMessage, customer_name, reason_label
from blocks.slack_text import escaped, plain
from storage.models import Escalation

_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")


def channel_link(channel: str) -> str:
    """``<#C…>`` (Slack shows the channel's name) for an id; else the name as written."""
    if _CHANNEL_ID.match(channel):
        return f"<#{channel}>"
    return escaped(channel if channel.startswith("#") else f"#{channel}", 100)


def why(error: str, bot_name: str) -> str:
    """Why Baton cannot post in a channel, and what fixes it, from Slack's answer there."""
    if error == "not_in_channel":
        return f"Baton is not in that channel: invite it there with `/invite @{bot_name}`"
    if error == "is_archived":
        return "that channel is archived: unarchive it, or route these cards elsewhere"
    return (
        "Baton cannot find that channel: check the routing rule's channel id, or, for a "
        f"private channel, invite Baton there with `/invite @{bot_name}`"
    )


def rerouted_line(channel: str, error: str, bot_name: str) -> str:
    """On the card: where it should have gone, and why it is here."""
    return (
        f":twisted_rightwards_arrows: Routed to {channel_link(channel)}, but "
        f"{why(error, escaped(bot_name, 80))}. Until then, cards routed there come here."
    )


def rerouted_for_managers(
    esc: Escalation,
    channel: str,
    error: str,
    posted_in: str,
    bot_name: str,
    card_link: str | None,
) -> CardMessage:
    """Once per channel: cards routed there go to the escalation channel until it is fixed."""
    first = f"{escaped(customer_name(esc), 200)} ({reason_label(esc)}, {esc.priority})"
    where = f" <{card_link}|Open the card>" if card_link else ""
    text = (
        f":twisted_rightwards_arrows: Cards routed to {channel_link(channel)} are being posted "
        f"in {channel_link(posted_in)} instead: {why(error, escaped(bot_name, 80))}. "
        f"The first one: {first}.{where}"
    )
    return CardMessage(
        text=plain(f"Cards routed to {channel} are being posted in {posted_in} instead"),
        blocks=[SectionBlock(text=text)],
    )
