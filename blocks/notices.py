"""Short answers Baton gives one person in Slack (ephemeral messages)."""

from blocks.card import mention
from blocks.slack_text import escape

STATUS_WORDS = {
    "queued": "waiting for someone to take it",
    "taken": "taken",
    "returned": "back with the bot",
    "closed": "closed",
}


def already_taken(owner_id: str, owner_name: str) -> str:
    return f":raising_hand: Already taken by {mention(owner_id, owner_name)}."


def only_owner(action: str, owner_id: str | None, owner_name: str | None) -> str:
    if not owner_id and not owner_name:
        return f"Take the escalation first: only its owner can {action} it."
    return f"Only the owner, {mention(owner_id, owner_name)}, can {action} this escalation."


def not_possible(action: str, status: str) -> str:
    return f"You can't {action} this escalation: it is {STATUS_WORDS.get(status, status)}."


def suggestion_sent(by: str | None) -> str:
    who = f", by {escape(by)}" if by else ""
    return f":white_check_mark: This suggestion was sent to the customer already{who}."


def unknown_escalation() -> str:
    return "Baton doesn't know this escalation any more."


def note_kept(owner_id: str | None, owner_name: str | None) -> str:
    return (
        f":memo: {mention(owner_id, owner_name)} owns this escalation, so your message is kept "
        "as an internal note: the customer does not see it."
    )


def note_saved() -> str:
    return ":memo: Kept as an internal note; the customer does not see it."


def not_relayed_ended(status: str) -> str:
    return (
        f"This escalation is {STATUS_WORDS.get(status, status)}: your message was not sent to "
        "the customer (it is kept as a note)."
    )


def edit_not_relayed() -> str:
    return (
        "The customer keeps your original message: an edit reaches them only within the edit "
        "window after sending, while the escalation is yours. To correct it, write a new "
        "message in the thread."
    )


def delete_not_relayed() -> str:
    return (
        "The customer keeps this message: a deletion withdraws it only within the edit window "
        "after sending, while the escalation is yours. To correct it, write a new message in "
        "the thread."
    )


def file_too_large(name: str, size: int, limit: int) -> str:
    return (
        f"*{escape(name)}* ({human_size(size)}) is larger than the {human_size(limit)} a file "
        "sent to the customer may be; it was not sent. Share a smaller file, or a link to it."
    )


def file_not_relayable(name: str, why: str) -> str:
    return f"*{escape(name)}* was not sent to the customer: {escape(why)}."


def human_size(size: int) -> str:
    """``512 bytes``, ``1.5 KiB``, ``25 MiB``."""
    if size < 1024:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            return f"{value:.1f}".removesuffix(".0") + f" {unit}"
    raise AssertionError("unreachable")


def sent() -> str:
    return ":outbox_tray: Taken; your message is on its way to the customer."


def trouble() -> str:
    return (
        ":warning: Baton could not do that just now (its database did not answer). Nothing "
        "was sent to the customer; please try again."
    )


def trouble_in_modal() -> str:
    """Shown in the modal, under an input: plain text, and what was typed is still there."""
    return "Baton could not save this just now (its database did not answer). Please try again."


def card_not_found_yet() -> str:
    """A reply under a card Baton has not recorded yet, when Slack could not show the card."""
    return (
        ":warning: Baton could not tell which escalation this thread belongs to just now "
        "(Slack did not answer). Nothing was sent to the customer; please send it again in "
        "a moment."
    )
