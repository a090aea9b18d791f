"""One escalation as a line in a list (App Home, slash command answers): who, why, how
urgent, from where, how long it has waited, its SLA, and buttons to take it or open its
thread. Two blocks per entry: a section and its buttons."""

from dataclasses import dataclass
from datetime import datetime

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, SectionBlock

from blocks.card import (
    PRIORITY_BADGES,
    SECTION_LIMIT,
    SLA_STATES,
    customer_name,
    mention,
    slack_date,
)
from blocks.card import reason_label as card_reason_label
from blocks.ids import Action
from blocks.slack_text import fit_escaped
from blocks.thread import one_line
from storage.models import Escalation, Message, Role, Status

SNIPPET_LIMIT = 300
URL_LIMIT = 3000


@dataclass(frozen=True)
class Entry:
    escalation: Escalation
    link: str | None = None  # the card's thread in Slack, when it has been posted
    match: Message | None = None  # a search hit in a message, shown under the entry


def thread_link(workspace_url: str, channel: str, ts: str) -> str:
    """A message's permalink, in the shape ``chat.getPermalink`` gives."""
    return f"{workspace_url.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}"


def waited(since: datetime) -> str:
    """ "3 minutes ago" in the reader's Slack, kept current by Slack itself."""
    return slack_date(since, "{ago}")


def sla_now(esc: Escalation) -> str | None:
    """The SLA clock that matters now: first take while queued, then resolution."""
    clocks = esc.sla()
    target = "first_take" if esc.status == Status.queued else "resolution"
    found = clocks.get(target)
    if found is None:
        return None
    label = "take" if target == "first_take" else "resolve"
    return f"SLA to {label}: {SLA_STATES[str(found[1])]}"


def _status(esc: Escalation, show_owner: bool) -> str | None:
    if esc.status == Status.taken:
        return f"taken by {mention(esc.assignee_id, esc.assignee_name)}" if show_owner else None
    if esc.status in (Status.returned, Status.closed):
        return f"_{esc.status}_"
    return None


def _snippet(msg: Message) -> str:
    who = "Customer" if msg.role == Role.customer else one_line(msg.author_name or "Agent", 80)
    return f"\n>{who}: {one_line(msg.content, SNIPPET_LIMIT)}"


def entry_blocks(entry: Entry, *, show_owner: bool = True) -> list[Block]:
    esc = entry.escalation
    badge = PRIORITY_BADGES.get(str(esc.priority), str(esc.priority))
    facts = [
        badge,
        one_line(esc.channel or "unknown channel", 100),
        f"waiting {waited(esc.created_at)}",
    ]
    for extra in (_status(esc, show_owner), sla_now(esc)):
        if extra:
            facts.append(extra)
    text = f"*{one_line(customer_name(esc), 200)}* · {one_line(card_reason_label(esc), 100)}"
    if esc.reason_detail:
        text += f"\n{one_line(esc.reason_detail, 300)}"
    text += "\n" + " · ".join(facts)
    if entry.match is not None:
        text += _snippet(entry.match)
    blocks: list[Block] = [SectionBlock(text=fit_escaped(text, SECTION_LIMIT))]
    buttons = []
    if esc.status == Status.queued:
        buttons.append(
            ButtonElement(text="Take", action_id=Action.TAKE, value=esc.id, style="primary")
        )
    if entry.link and len(entry.link) <= URL_LIMIT:
        buttons.append(
            ButtonElement(
                text="Open the thread", action_id=Action.OPEN_THREAD, value=esc.id, url=entry.link
            )
        )
    if buttons:
        blocks.append(ActionsBlock(elements=buttons))
    return blocks
