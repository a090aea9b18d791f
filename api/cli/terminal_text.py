"""Slack mrkdwn made for a terminal: bold through rich, not asterisks; emoji codes drawn."""

import re

from rich.emoji import Emoji
from rich.text import Text

_BOLD = re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)\*(?![\w*])")


def mrkdwn_text(mrkdwn: str) -> Text:
    """Bold and emoji codes (``:tada:``) as a terminal shows them; the rest as written."""
    text = Text()
    start = 0
    for match in _BOLD.finditer(mrkdwn):
        text.append(Emoji.replace(mrkdwn[start : match.start()]))
        text.append(Emoji.replace(match.group(1)), style="bold")
        start = match.end()
    text.append(Emoji.replace(mrkdwn[start:]))
    return text
