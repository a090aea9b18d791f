"""Every Slack identifier Baton puts in a view or message: one place, one spelling."""

from enum import StrEnum


class Action(StrEnum):
    TAKE = "esc_take"
    REPLY = "esc_reply"
    RETURN = "esc_return"
    CLOSE = "esc_close"
    MORE = "esc_more"  # overflow: reassign, unassign, priority


class Block(StrEnum):
    CARD_ACTIONS = "card_actions"
    CARD_DETAILS = "card_details"


class MoreOption(StrEnum):
    """Values of the card's overflow menu, prefixed to the escalation id."""

    REASSIGN = "reassign"
    UNASSIGN = "unassign"
    PRIORITY = "priority"
