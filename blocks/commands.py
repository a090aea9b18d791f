"""Answers to ``/escalations``: the user's queue, what is waiting, a search, and help. Only
the person who asked sees them; each entry has its buttons."""

from collections.abc import Sequence

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from blocks.card import CardMessage
from blocks.queue_entry import Entry, entry_blocks
from blocks.slack_text import escaped, plain
from blocks.thread import one_line

COMMAND = "/escalations"
SHOWN = 10  # 2 blocks each: well inside a message's 50
HELP = (
    f"*{COMMAND}* shows the queue without leaving the conversation you are in:\n"
    f"• `{COMMAND} mine`: escalations you own\n"
    f"• `{COMMAND} waiting`: escalations nobody has taken, oldest first\n"
    f"• `{COMMAND} search TEXT`: in customer and agent messages, customer names and reasons\n"
    f"• `{COMMAND} help`: this list\n"
    "The Home tab of the app has all of it, with filters."
)


def help_message() -> CardMessage:
    return CardMessage(text=plain(f"How to use {COMMAND}"), blocks=[SectionBlock(text=HELP)])


def unknown_command(words: str) -> CardMessage:
    asked = one_line(words, 100)
    text = f"I don't know `{COMMAND} {asked}`. Try `mine`, `waiting`, `search TEXT` or `help`."
    return CardMessage(
        text=plain(f"Unknown: {COMMAND} {words}"[:200]),
        blocks=[SectionBlock(text=text), SectionBlock(text=HELP)],
    )


def search_needs_text(min_length: int) -> CardMessage:
    text = (
        f"What should I look for? For example `{COMMAND} search refund` "
        f"(at least {min_length} characters)."
    )
    return CardMessage(text=plain(text), blocks=[SectionBlock(text=text)])


def listing(title: str, entries: Sequence[Entry], total: int, empty: str) -> CardMessage:
    """``title`` with how many, up to ``SHOWN`` entries, and how many more there are."""
    if not entries:
        return CardMessage(text=plain(empty), blocks=[SectionBlock(text=empty)])
    blocks: list[Block] = [SectionBlock(text=f"*{title}* ({total})")]
    for entry in entries[:SHOWN]:
        blocks += entry_blocks(entry)
    rest = total - min(len(entries), SHOWN)
    if rest > 0:
        more = f"…and {rest} more: the Home tab of the app lists them all."
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=more)]))
    return CardMessage(text=plain(f"{title} ({total})"), blocks=blocks)


def search_results(query: str, entries: Sequence[Entry], total: int) -> CardMessage:
    shown = escaped(query, 200)
    return listing(
        f"Results for “{shown}”, newest first",
        entries,
        total,
        f"Nothing found for “{shown}”.",
    )


def trouble() -> CardMessage:
    text = "Sorry, I could not read the queue just now. Please try again in a moment."
    return CardMessage(text=text, blocks=[SectionBlock(text=text)])
