"""The modals behind the card's buttons, and readers of what a submitted one holds.

Readers take ``view["state"]["values"]`` of a ``view_submission`` payload as Slack sends it:
``values[block_id][action_id]``; every input here uses one id for both.
"""

import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, TypeVar

from slack_sdk.models.blocks import (
    Block,
    CheckboxesElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

from blocks.card import PRIORITY_BADGES, SECTION_LIMIT, customer_name, mention, reason_label
from blocks.ids import Input
from blocks.ids import View as ViewId
from blocks.slack_text import ELLIPSIS, fit_escaped, fitting
from blocks.thread import one_line
from storage.models import Escalation, Priority, Resolution, Status, Suggestion

RESOLUTION_LABELS = {
    Resolution.resolved: "Resolved",
    Resolution.customer_satisfied: "Customer satisfied",
    Resolution.no_response: "No response from the customer",
    Resolution.duplicate: "Duplicate",
    Resolution.spam: "Spam",
    Resolution.other: "Other",
}
KEEP_PAUSED_LABEL = "Keep the AI paused for this conversation"
SUGGESTED_SHOWN = 20
TEXT_INPUT_LIMIT = 3000  # what Slack's text box holds
_CONTEXT_TEXT = 2000
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
_E = TypeVar("_E", bound=StrEnum)


def _modal(
    callback_id: ViewId, title: str, submit: str, blocks: list[Block], private_metadata: str
) -> View:
    return View(
        type="modal",
        callback_id=callback_id,
        title=title,
        submit=submit,
        close="Cancel",
        blocks=blocks,
        private_metadata=private_metadata,
    )


def _about(esc: Escalation, with_preview: bool = False) -> SectionBlock:
    """Who the customer is, why they are here and, if asked, what they said last."""
    who = one_line(customer_name(esc), 300)
    text = f"*{who}* · {one_line(esc.channel or 'unknown channel', 100)}"
    text += f"\n{one_line(reason_label(esc), 100)}"
    if with_preview and esc.last_message_preview:
        preview = one_line(esc.last_message_preview, 1500)
        text += f"\n*Last message*\n>{preview}"
    return SectionBlock(text=fit_escaped(text, SECTION_LIMIT))


def reply_modal(esc: Escalation, private_metadata: str) -> View:
    """A reply to the customer, for those who prefer a form to the thread."""
    reply = InputBlock(
        block_id=Input.REPLY_TEXT,
        label="Your reply",
        hint="Sent to the customer as plain text, under your Slack name.",
        element=PlainTextInputElement(
            action_id=Input.REPLY_TEXT, multiline=True, focus_on_load=True
        ),
    )
    return _modal(
        ViewId.REPLY, "Reply to customer", "Send", [_about(esc, True), reply], private_metadata
    )


def suggestion_modal(sug: Suggestion, private_metadata: str) -> View:
    """The bot's suggested reply in a text box, to change before it goes as the owner's."""
    text = InputBlock(
        block_id=Input.SUGGESTION_TEXT,
        label="Your reply",
        hint="Sent to the customer as plain text, under your Slack name.",
        element=PlainTextInputElement(
            action_id=Input.SUGGESTION_TEXT,
            multiline=True,
            focus_on_load=True,
            initial_value=sug.content[:TEXT_INPUT_LIMIT],
            max_length=TEXT_INPUT_LIMIT,
        ),
    )
    return _modal(ViewId.SUGGESTION, "Edit and send", "Send", [text], private_metadata)


def _option(value: str, label: str) -> Option:
    return Option(value=str(value), text=label)


def _select(
    input_id: Input, label: str, placeholder: str, options: list[Option], initial: Option | None
) -> InputBlock:
    element = StaticSelectElement(
        action_id=input_id, placeholder=placeholder, options=options, initial_option=initial
    )
    return InputBlock(block_id=input_id, label=label, element=element)


def close_modal(esc: Escalation, private_metadata: str) -> View:
    """Close with a resolution, an optional note, and whether the AI stays paused."""
    options = [_option(value, label) for value, label in RESOLUTION_LABELS.items()]
    keep = _option(Input.KEEP_PAUSED, KEEP_PAUSED_LABEL)
    blocks: list[Block] = [
        _about(esc),
        _select(Input.RESOLUTION, "Resolution", "Choose a resolution", options, options[0]),
        InputBlock(
            block_id=Input.CLOSE_NOTE,
            label="Note",
            optional=True,
            hint="Kept with the escalation; not sent to the customer.",
            element=PlainTextInputElement(action_id=Input.CLOSE_NOTE, multiline=True),
        ),
        InputBlock(
            block_id=Input.KEEP_PAUSED,
            label="AI assistant",
            optional=True,
            element=CheckboxesElement(
                action_id=Input.KEEP_PAUSED,
                options=[keep],
                initial_options=[keep] if esc.keep_ai_paused else None,
            ),
        ),
    ]
    return _modal(ViewId.CLOSE, "Close escalation", "Close", blocks, private_metadata)


def _suggestions(suggested: Sequence[tuple[str, str]]) -> ContextBlock:
    # In a modal a mention notifies nobody.
    mentions = (mention(user_id, name) for user_id, name in suggested[:SUGGESTED_SHOWN])
    names = fitting(mentions, _CONTEXT_TEXT - 100)
    text = f"Members of the channel: {', '.join(names)}"
    if len(names) < len(suggested):
        text += f" {ELLIPSIS}and {len(suggested) - len(names):,} more"
    return ContextBlock(elements=[MarkdownTextObject(text=text)])


def reassign_modal(
    esc: Escalation, private_metadata: str, suggested: Sequence[tuple[str, str]] = ()
) -> View:
    """Pick who owns the escalation; "Assign" while nobody does, "Reassign" after."""
    current = esc.assignee_id if esc.assignee_id and _SLACK_USER.match(esc.assignee_id) else None
    blocks: list[Block] = [
        _about(esc),
        InputBlock(
            block_id=Input.ASSIGNEE,
            label="Assign to",
            element=UserSelectElement(
                action_id=Input.ASSIGNEE, placeholder="Choose someone", initial_user=current
            ),
        ),
    ]
    if suggested:
        blocks.append(_suggestions(suggested))
    title = "Assign" if esc.status == Status.queued else "Reassign"
    return _modal(ViewId.REASSIGN, title, title, blocks, private_metadata)


def priority_modal(esc: Escalation, private_metadata: str) -> View:
    options: dict[str, Option] = {
        value: _option(value, PRIORITY_BADGES.get(value, value.capitalize()))
        for value in reversed(Priority)  # most urgent first
    }
    current = options.get(str(esc.priority))
    blocks: list[Block] = [
        _about(esc),
        _select(Input.PRIORITY, "Priority", "Choose a priority", list(options.values()), current),
    ]
    return _modal(ViewId.PRIORITY, "Change priority", "Save", blocks, private_metadata)


# -- readers of view_submission state ---------------------------------------------------------


def _state(values: Mapping[str, Any], input_id: Input) -> Mapping[str, Any]:
    block = values.get(input_id)
    state = block.get(input_id) if isinstance(block, Mapping) else None
    return state if isinstance(state, Mapping) else {}


def _text(values: Mapping[str, Any], input_id: Input) -> str:
    value = _state(values, input_id).get("value")
    return value.strip() if isinstance(value, str) else ""


def _selected(values: Mapping[str, Any], input_id: Input) -> str | None:
    option = _state(values, input_id).get("selected_option")
    value = option.get("value") if isinstance(option, Mapping) else None
    return value if isinstance(value, str) else None


def _enum(kind: type[_E], value: str | None) -> _E | None:
    try:
        return kind(value) if value is not None else None
    except ValueError:
        return None


def read_reply(values: Mapping[str, Any]) -> str:
    """The reply typed, stripped; "" when empty."""
    return _text(values, Input.REPLY_TEXT)


def read_suggestion(values: Mapping[str, Any]) -> str:
    """The edited suggestion, stripped; "" when emptied."""
    return _text(values, Input.SUGGESTION_TEXT)


def read_close(values: Mapping[str, Any]) -> tuple[Resolution, str | None, bool]:
    """(resolution, note or None, keep the AI paused); no or an unknown resolution reads as
    ``resolved``, the modal's initial choice."""
    resolution = _enum(Resolution, _selected(values, Input.RESOLUTION)) or Resolution.resolved
    note = _text(values, Input.CLOSE_NOTE) or None
    ticked = _state(values, Input.KEEP_PAUSED).get("selected_options") or []
    keep = any(isinstance(o, Mapping) and o.get("value") == Input.KEEP_PAUSED for o in ticked)
    return resolution, note, keep


def read_assignee(values: Mapping[str, Any]) -> str | None:
    user = _state(values, Input.ASSIGNEE).get("selected_user")
    return user if isinstance(user, str) and user else None


def read_priority(values: Mapping[str, Any]) -> Priority | None:
    return _enum(Priority, _selected(values, Input.PRIORITY))
