"""The App Home: counts, filters, then My queue, Waiting and Teammates, oldest first.

A Home view holds at most 100 blocks, so the three groups are read as one list, a page of
``ENTRIES_PER_PAGE`` at a time, with "More" and "Back" buttons.
"""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    Option,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from blocks.card import PRIORITY_BADGES
from blocks.ids import Action
from blocks.ids import Block as BlockId
from blocks.queue_entry import Entry, entry_blocks
from blocks.slack_text import plain, truncate
from blocks.thread import one_line
from storage.models import Priority

MAX_BLOCKS = 100  # Slack's limit for a Home view
ENTRIES_PER_PAGE = 40  # 80 blocks; 3 on top, 3 per group and 2 for paging make 94
ALL = "all"  # the filter option that means "no filter"
MAX_CHANNEL_OPTIONS = 99  # a static select holds 100 options, "All channels" included
GROUP_TITLES = {"mine": "My queue", "waiting": "Waiting", "teammates": "Teammates"}
EMPTY = {
    "mine": "Nothing assigned to you.",
    "waiting": "Nobody is waiting. :tada:",
    "teammates": "Your teammates have nothing open.",
}


@dataclass(frozen=True)
class HomeContent:
    counts: dict[str, int]  # per group: mine, waiting, teammates (after the filters)
    entries: Sequence[tuple[str, Entry]]  # (group, entry) of this page, in order
    page: int = 0
    priority: str | None = None
    channel: str | None = None
    channels: Sequence[str] = field(default_factory=list)  # to filter by

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def pages(self) -> int:
        return page_count(self.total)


def page_count(total: int) -> int:
    """How many pages ``total`` entries fill; an empty list is one page."""
    return max(1, -(-total // ENTRIES_PER_PAGE))


def _option(value: str, label: str) -> Option:
    return Option(value=value, text=label)


def _filters(content: HomeContent) -> ActionsBlock:
    priorities = [_option(ALL, "All priorities")] + [
        _option(p.value, PRIORITY_BADGES[p.value]) for p in reversed(Priority)
    ]
    chosen_priority = next(
        (o for o in priorities if o.value == (content.priority or ALL)), priorities[0]
    )
    known = list(content.channels[:MAX_CHANNEL_OPTIONS])
    if content.channel and content.channel not in known:
        known = [content.channel, *known[: MAX_CHANNEL_OPTIONS - 1]]
    channels = [_option(ALL, "All channels")] + [
        _option(c[:150], truncate(plain(" ".join(c.split())), 75) or c[:75]) for c in known
    ]
    chosen_channel = next((o for o in channels if o.value == (content.channel or ALL)), channels[0])
    return ActionsBlock(
        block_id=BlockId.HOME_FILTERS,
        elements=[
            StaticSelectElement(
                action_id=Action.HOME_PRIORITY,
                placeholder="Priority",
                options=priorities,
                initial_option=chosen_priority,
            ),
            StaticSelectElement(
                action_id=Action.HOME_CHANNEL,
                placeholder="Channel",
                options=channels,
                initial_option=chosen_channel,
            ),
        ],
    )


def _counts_line(content: HomeContent) -> str:
    c = content.counts
    line = (
        f"*{c.get('mine', 0)}* in your queue · *{c.get('waiting', 0)}* waiting · "
        f"*{c.get('teammates', 0)}* with teammates"
    )
    shown = [
        PRIORITY_BADGES.get(content.priority, content.priority) if content.priority else None,
        one_line(content.channel, 75) if content.channel else None,
    ]
    if any(shown):
        line += f" · filtered: {', '.join(s for s in shown if s)}"
    return line


def _pages(content: HomeContent) -> list[Block]:
    if content.pages <= 1:
        return []
    buttons = []
    if content.page > 0:
        buttons.append(
            ButtonElement(text="Back", action_id=Action.HOME_PAGE, value=str(content.page - 1))
        )
    if content.page + 1 < content.pages:
        buttons.append(
            ButtonElement(
                text="More",
                action_id=Action.HOME_PAGE,
                value=str(content.page + 1),
                style="primary",
            )
        )
    where = MarkdownTextObject(text=f"Page {content.page + 1} of {content.pages}")
    return [
        ContextBlock(elements=[where]),
        ActionsBlock(block_id=BlockId.HOME_PAGES, elements=buttons),
    ]


def home_view(content: HomeContent) -> View:
    blocks: list[Block] = [
        HeaderBlock(text="Escalations"),
        ContextBlock(elements=[MarkdownTextObject(text=_counts_line(content))]),
        _filters(content),
    ]
    by_group: dict[str, list[Entry]] = {}
    for group, entry in content.entries[:ENTRIES_PER_PAGE]:
        by_group.setdefault(group, []).append(entry)
    for group, title in GROUP_TITLES.items():
        entries = by_group.get(group, [])
        if not entries and content.page > 0:
            continue  # a later page shows only the groups it continues
        blocks += [DividerBlock(), SectionBlock(text=f"*{title}* ({content.counts.get(group, 0)})")]
        if not entries:
            blocks.append(ContextBlock(elements=[MarkdownTextObject(text=EMPTY[group])]))
        for entry in entries:
            blocks += entry_blocks(entry, show_owner=group == "teammates")
    blocks += _pages(content)
    assert len(blocks) <= MAX_BLOCKS, "ENTRIES_PER_PAGE leaves too little room"
    return View(type="home", blocks=blocks)


def view_hash(view: View) -> str:
    """What the Home shows, to publish only when it changes."""
    body = json.dumps(view.to_dict(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()
