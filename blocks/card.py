"""The escalation card: what a team sees in the channel, edited in place on every change."""

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    ImageElement,
    MarkdownTextObject,
    Option,
    OverflowMenuElement,
    SectionBlock,
)

from blocks.ids import Action, MoreOption
from blocks.ids import Block as BlockId
from blocks.slack_text import escape, escaped, plain, split_escaped, truncate
from storage.models import Escalation, Status

HEADER_LIMIT = 150
ALT_TEXT_LIMIT = 2000
URL_LIMIT = 3000
SUMMARY_TITLE = ":robot_face: *The bot's summary*\n"
FIELD_LIMIT = 2000
SECTION_LIMIT = 3000
FALLBACK_LIMIT = 3000

PRIORITY_BADGES = {
    "urgent": ":red_circle: Urgent",
    "high": ":large_orange_circle: High",
    "medium": ":large_yellow_circle: Medium",
    "low": ":white_circle: Low",
}
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")


@dataclass(frozen=True)
class CardMessage:
    """``text`` is the notification fallback; ``blocks`` the card itself."""

    text: str
    blocks: list[Block]

    def blocks_as_dicts(self) -> list[dict[str, Any]]:
        return [block.to_dict() for block in self.blocks]


def slack_date(when: datetime, style: str = "{date_short_pretty} at {time}") -> str:
    """A date each reader sees in their own timezone."""
    fallback = when.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(when.timestamp())}^{style}|{fallback}>"


def mention(person_id: str | None, name: str | None) -> str:
    """``<@U…>`` for a Slack user, else the escaped name."""
    if person_id and _SLACK_USER.match(person_id):
        return f"<@{person_id}>"
    return escaped(name or person_id or "someone", 200)


def customer_name(esc: Escalation) -> str:
    customer = esc.customer or {}
    return str(customer.get("name") or customer.get("id") or "Unknown customer")


def reason_label(esc: Escalation) -> str:
    return str(esc.reason).replace("_", " ").capitalize()


def _state_line(esc: Escalation) -> str:
    if esc.status == Status.queued:
        return f":hourglass_flowing_sand: *Waiting* since {slack_date(esc.created_at)}"
    if esc.status == Status.taken:
        since = slack_date(esc.taken_at) if esc.taken_at else ""
        return f":raising_hand: *Taken* by {mention(esc.assignee_id, esc.assignee_name)} {since}"
    who = esc.ended_by or {}
    by = mention(who.get("id"), who.get("name"))
    when = slack_date(esc.ended_at) if esc.ended_at else ""
    if esc.status == Status.returned:
        return f":robot_face: *Returned to the bot* by {by} {when}"
    resolution = str(esc.resolution).replace("_", " ") if esc.resolution else "closed"
    return f":white_check_mark: *Closed* ({resolution}) by {by} {when}"


SLA_TARGETS = {"first_take": "First take", "resolution": "Resolution"}
SLA_STATES = {
    "on_track": ":large_green_circle: on track",
    "at_risk": ":warning: *at risk*",
    "breached": ":rotating_light: *breached*",
    "met": ":white_check_mark: met",
    "missed": ":x: missed",
}


def _sla_line(esc: Escalation) -> str | None:
    """Each SLA target's due time (in the reader's timezone) and state."""
    parts = [
        f"{SLA_TARGETS.get(target, target)} due {slack_date(due)}: {SLA_STATES[str(state)]}"
        for target, (due, state) in esc.sla().items()
    ]
    return " · ".join(parts) if parts else None


def _details(esc: Escalation) -> SectionBlock:
    customer = esc.customer or {}
    who = escaped(customer_name(esc), 500)
    if customer.get("email"):
        who += f"\n{escaped(str(customer['email']), 300)}"
    reason = reason_label(esc)
    if esc.reason_detail:
        reason += f"\n{escaped(esc.reason_detail, 1500)}"
    fields = [
        f"*Customer*\n{who}",
        f"*Channel*\n{escaped(esc.channel or 'unknown', 200)}",
        f"*Priority*\n{PRIORITY_BADGES.get(str(esc.priority), str(esc.priority))}",
        f"*Reason*\n{reason}",
    ]
    return SectionBlock(
        block_id=BlockId.CARD_DETAILS,
        fields=[truncate(f, FIELD_LIMIT) for f in fields],
        accessory=_avatar(esc),
    )


def _avatar(esc: Escalation) -> ImageElement | None:
    """The customer's picture, when the platform gave an https one."""
    url = (esc.customer or {}).get("avatar_url")
    if not isinstance(url, str) or not url.startswith("https://") or len(url) > URL_LIMIT:
        return None
    return ImageElement(image_url=url, alt_text=truncate(customer_name(esc), ALT_TEXT_LIMIT))


def _summary(esc: Escalation) -> list[SectionBlock]:
    """The bot's summary, first on the card: in two sections when it is long."""
    if not esc.summary or not esc.summary.strip():
        return []
    pieces = split_escaped(escape(esc.summary.strip()), SECTION_LIMIT - len(SUMMARY_TITLE))
    return [
        SectionBlock(text=(SUMMARY_TITLE if n == 0 else "") + piece)
        for n, piece in enumerate(pieces)
    ]


def stars(score: int) -> str:
    return ":star:" * score + ":white_small_square:" * (5 - score)


def _rating_line(esc: Escalation) -> str | None:
    if esc.rating_score is None:
        return None
    return f"{stars(esc.rating_score)} *Customer rating* {esc.rating_score}/5"


def _about_the_bot(esc: Escalation) -> str | None:
    """How sure the bot was, and the customer's language."""
    parts = []
    if esc.confidence is not None:
        parts.append(f":bar_chart: Bot confidence {esc.confidence}%")
    locale = (esc.customer or {}).get("locale")
    if isinstance(locale, str) and locale.strip():
        parts.append(f":globe_with_meridians: {escaped(locale.strip(), 35)}")
    return " · ".join(parts) or None


def _last_message(esc: Escalation) -> SectionBlock | None:
    if not esc.last_message_preview:
        return None
    # Quoting adds a ">" per line: half the room keeps even a text of blank lines in bounds.
    quoted = escaped(esc.last_message_preview, SECTION_LIMIT // 2 - 40).replace("\n", "\n>")
    return SectionBlock(text=f"*Last message*\n>{quoted}")


def _ai_paused_line(esc: Escalation) -> str | None:
    """Whether the AI of a closed escalation is still paused, or who resumed it."""
    if esc.status != Status.closed or not esc.keep_ai_paused:
        return None
    if esc.ai_resumed_at is None:
        return ":double_vertical_bar: The AI stays paused for this conversation"
    who = esc.ai_resumed_by or {}
    by = mention(who.get("id"), who.get("name"))
    return f":arrow_forward: *AI resumed* by {by} {slack_date(esc.ai_resumed_at)}"


def _buttons(esc: Escalation) -> ActionsBlock | None:
    if esc.status == Status.closed and esc.keep_ai_paused and esc.ai_resumed_at is None:
        resume = ButtonElement(text="Resume AI", action_id=Action.RESUME_AI, value=esc.id)
        return ActionsBlock(block_id=BlockId.CARD_ACTIONS, elements=[resume])
    if esc.status not in (Status.queued, Status.taken):
        return None
    value = esc.id
    first = (
        ButtonElement(text="Take", action_id=Action.TAKE, value=value, style="primary")
        if esc.status == Status.queued
        else ButtonElement(text="Reply", action_id=Action.REPLY, value=value, style="primary")
    )
    more = [
        Option(
            text="Assign to…" if esc.status == Status.queued else "Reassign…",
            value=f"{MoreOption.REASSIGN}:{value}",
        )
    ]
    if esc.status == Status.taken:
        more.append(Option(text="Unassign", value=f"{MoreOption.UNASSIGN}:{value}"))
    more.append(Option(text="Change priority…", value=f"{MoreOption.PRIORITY}:{value}"))
    return ActionsBlock(
        block_id=BlockId.CARD_ACTIONS,
        elements=[
            first,
            ButtonElement(text="Return to bot", action_id=Action.RETURN, value=value),
            ButtonElement(text="Close", action_id=Action.CLOSE, value=value, style="danger"),
            OverflowMenuElement(action_id=Action.MORE, options=more),
        ],
    )


def escalation_card(esc: Escalation, notice: str | None = None) -> CardMessage:
    """``notice``: a line (mrkdwn) about the card itself, e.g. why it is in this channel."""
    name = customer_name(esc)
    header = truncate(plain(f"{name} · {reason_label(esc)}"), HEADER_LIMIT)
    blocks: list[Block] = [HeaderBlock(text=header), *_summary(esc), _details(esc)]
    last = _last_message(esc)
    if last is not None:
        blocks.append(last)
    context = [MarkdownTextObject(text=_state_line(esc))]
    lines = (_ai_paused_line(esc), _rating_line(esc), _sla_line(esc), _about_the_bot(esc))
    for line in lines:
        if line is not None:
            context.append(MarkdownTextObject(text=line))
    blocks.append(ContextBlock(elements=context))
    if notice:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=notice)]))
    buttons = _buttons(esc)
    if buttons is not None:
        blocks.append(buttons)
    text = escaped(
        f"{PRIORITY_BADGES.get(str(esc.priority), '')} escalation from {name}: "
        f"{reason_label(esc)} ({esc.status})",
        FALLBACK_LIMIT,
    )
    return CardMessage(text=text, blocks=blocks)
