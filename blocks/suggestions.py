"""The bot's suggested reply in the card's thread: Send, and Edit and send (its modal is in
``blocks.modals``)."""

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from blocks.card import SECTION_LIMIT, CardMessage, mention, slack_date
from blocks.ids import Action
from blocks.notices import STATUS_WORDS
from blocks.slack_text import escape, split_escaped
from storage.models import ACTIVE_STATUSES, Escalation, Suggestion

HEAD = ":bulb: *The bot suggests a reply*"


def suggestion_post(sug: Suggestion, esc: Escalation) -> CardMessage:
    """The suggestion, quoted; Send and Edit and send while it can go, else why not."""
    quoted = "\n".join(f">{line}" for line in escape(sug.content).splitlines() or [""])
    pieces = split_escaped(f"{HEAD}\n{quoted}", SECTION_LIMIT)
    blocks: list[Block] = [SectionBlock(text=piece) for piece in pieces]
    blocks.append(_state(sug, esc))
    return CardMessage(text=f"The bot suggests a reply: {sug.content[:200]}", blocks=blocks)


def _state(sug: Suggestion, esc: Escalation) -> Block:
    if sug.sent_at is not None:
        who = sug.sent_by or {}
        by = mention(who.get("id"), who.get("name"))
        line = f":white_check_mark: Sent to the customer by {by} {slack_date(sug.sent_at)}"
        return ContextBlock(elements=[MarkdownTextObject(text=line)])
    if esc.status not in ACTIVE_STATUSES:
        words = STATUS_WORDS.get(str(esc.status), str(esc.status))
        line = f":zzz: Not sent: the escalation is {words}"
        return ContextBlock(elements=[MarkdownTextObject(text=line)])
    return ActionsBlock(
        elements=[
            ButtonElement(
                text="Send", action_id=Action.SEND_SUGGESTION, value=sug.id, style="primary"
            ),
            ButtonElement(text="Edit and send", action_id=Action.EDIT_SUGGESTION, value=sug.id),
        ]
    )
