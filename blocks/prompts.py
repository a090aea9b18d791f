"""Ephemeral messages that ask the person who sees them to choose."""

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, SectionBlock

from blocks.card import CardMessage, customer_name
from blocks.ids import Action
from blocks.thread import one_line
from storage.models import Escalation


def held_message_prompt(esc: Escalation, held_event_id: str) -> CardMessage:
    """To someone who wrote in the thread of a queued escalation: their message is held,
    not sent; they can take the escalation and send it, or keep it as an internal note."""
    who = one_line(customer_name(esc), 300)
    text = (
        ":raised_hand: *Nobody owns this escalation yet*, so your message was *not sent* to"
        f" {who}.\nTake the escalation to send it now, or keep it as an internal note."
    )
    value = f"{esc.id}:{held_event_id}"
    buttons = ActionsBlock(
        elements=[
            ButtonElement(
                text="Take and send", action_id=Action.TAKE_AND_SEND, value=value, style="primary"
            ),
            ButtonElement(text="Keep as note", action_id=Action.KEEP_AS_NOTE, value=value),
        ]
    )
    return CardMessage(
        text="Nobody owns this escalation yet: your message was not sent to the customer.",
        blocks=[SectionBlock(text=text), buttons],
    )
