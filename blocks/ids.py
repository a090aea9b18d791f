"""Every Slack identifier Baton puts in a view or message: one place, one spelling."""

from enum import StrEnum


class Action(StrEnum):
    TAKE = "esc_take"
    REPLY = "esc_reply"
    RETURN = "esc_return"
    CLOSE = "esc_close"
    MORE = "esc_more"  # overflow: reassign, unassign, priority
    TAKE_AND_SEND = "esc_take_and_send"
    KEEP_AS_NOTE = "esc_keep_as_note"
    RESUME_AI = "esc_resume_ai"  # on the card of an escalation closed with the AI kept paused
    SEND_SUGGESTION = "esc_send_suggestion"  # the value: the suggestion's id
    EDIT_SUGGESTION = "esc_edit_suggestion"
    OPEN_THREAD = "esc_open_thread"  # a link button; Slack still sends the click, to ack
    HOME_PRIORITY = "home_priority"  # App Home filter
    HOME_CHANNEL = "home_channel"  # App Home filter
    HOME_PAGE = "home_page"  # App Home "More" / "Back": the value is the page to show


class Block(StrEnum):
    CARD_ACTIONS = "card_actions"
    CARD_DETAILS = "card_details"
    HOME_FILTERS = "home_filters"
    HOME_PAGES = "home_pages"


class MoreOption(StrEnum):
    """Values of the card's overflow menu, prefixed to the escalation id."""

    REASSIGN = "reassign"
    UNASSIGN = "unassign"
    PRIORITY = "priority"


class View(StrEnum):
    """Modal callback ids."""

    REPLY = "esc_reply_modal"
    CLOSE = "esc_close_modal"
    REASSIGN = "esc_reassign_modal"
    PRIORITY = "esc_priority_modal"
    SUGGESTION = "esc_suggestion_modal"  # edit the bot's suggestion, then send it


class Input(StrEnum):
    """Modal inputs: each is both the input block's block_id and its element's action_id."""

    REPLY_TEXT = "reply_text"
    SUGGESTION_TEXT = "suggestion_text"
    RESOLUTION = "resolution"
    CLOSE_NOTE = "close_note"
    KEEP_PAUSED = "keep_ai_paused"
    ASSIGNEE = "assignee"
    PRIORITY = "priority"
