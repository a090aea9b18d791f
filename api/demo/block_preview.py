"""Block Kit messages shown in a terminal (rich), and their Block Kit Builder links.

Only what Baton's messages use is drawn: header, section (text, fields), context, actions,
divider, rich_text and image blocks; Slack's mrkdwn becomes rich styles, ``<@U…>`` the
person's name, ``<!date^…|fallback>`` the fallback.
"""

import json
import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any
from urllib.parse import quote

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

BUILDER = "https://app.slack.com/block-kit-builder/#"
BUTTON_STYLES = {"primary": "bold white on green", "danger": "bold white on red"}
# Slack's names for emoji that rich knows under another name.
EMOJI_ALIASES = {
    "large_green_circle": "green_circle",
    "large_orange_circle": "orange_circle",
    "large_yellow_circle": "yellow_circle",
}
_EMOJI = re.compile(r":([a-z0-9_+-]+):")

_TOKEN = re.compile(r"<([^<>]+)>")
_STYLES = (
    (re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)\*(?![\w*])"), "bold"),
    (re.compile(r"(?<![\w_])_(?!\s)([^_\n]+?)_(?![\w_])"), "italic"),
    (re.compile(r"(?<![\w~])~(?!\s)([^~\n]+?)~(?![\w~])"), "strike"),
    (re.compile(r"`([^`\n]+)`"), "cyan"),
)


def builder_link(blocks: list[dict[str, Any]]) -> str:
    """Opens the message in Slack's Block Kit Builder (a Slack login is needed there)."""
    return BUILDER + quote(json.dumps({"blocks": blocks}, separators=(",", ":")), safe="")


def render_message(
    blocks: list[dict[str, Any]], fallback: str, title: str, names: Mapping[str, str]
) -> Panel:
    """The message as a panel; ``names`` maps Slack user ids to the names to show."""
    mrkdwn = _Mrkdwn(names)
    parts = [part for block in blocks if (part := _block(block, mrkdwn)) is not None]
    body: RenderableType = Group(*parts) if parts else mrkdwn(fallback)
    return Panel(body, title=title, title_align="left", border_style="blue", expand=False)


class _Mrkdwn:
    def __init__(self, names: Mapping[str, str]) -> None:
        self.names = names

    def __call__(self, text: str) -> Text:
        """Slack mrkdwn (already escaped as Slack wants it) as styled text."""
        plain = _TOKEN.sub(self._token, text)
        plain = plain.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        lines = [
            ("▌ " + line[1:].lstrip()) if line.startswith(">") else line
            for line in plain.split("\n")
        ]
        markup = escape("\n".join(lines))
        for pattern, style in _STYLES:
            markup = pattern.sub(partial(_styled, style), markup)
        return Text.from_markup(_emoji(markup), emoji=True)

    def _token(self, match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            user = target[1:]
            return "@" + (label or self.names.get(user, user))
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            return label or "@" + target[1:].split("^")[0]
        return f"{label} ({target})" if label and label != target else target


def _text(obj: Any, mrkdwn: Callable[[str], Text]) -> Text:
    if not isinstance(obj, dict):
        return Text(str(obj or ""))
    raw = str(obj.get("text", ""))
    if obj.get("type") == "mrkdwn":
        return mrkdwn(raw)
    return Text.from_markup(_emoji(escape(raw)), emoji=True)


def _styled(style: str, match: re.Match[str]) -> str:
    return f"[{style}]{match.group(1)}[/{style}]"


def _emoji(markup: str) -> str:
    return _EMOJI.sub(lambda m: f":{EMOJI_ALIASES.get(m.group(1), m.group(1))}:", markup)


def _block(block: dict[str, Any], mrkdwn: Callable[[str], Text]) -> RenderableType | None:
    kind = block.get("type")
    if kind == "header":
        return Text(_text(block.get("text"), mrkdwn).plain, style="bold underline")
    if kind == "section":
        return _section(block, mrkdwn)
    if kind == "context":
        elements = [_text(e, mrkdwn) for e in block.get("elements", []) if "text" in e]
        line = Text("  ·  ").join(elements)
        line.stylize("dim")
        return line
    if kind == "actions":
        return _actions(block.get("elements", []))
    if kind == "divider":
        return Rule(style="dim")
    if kind == "rich_text":
        return Text(_rich_text(block))
    if kind == "image":
        return Text(f"[image: {block.get('alt_text', '')}]", style="dim")
    return None


def _section(block: dict[str, Any], mrkdwn: Callable[[str], Text]) -> RenderableType:
    parts: list[RenderableType] = []
    if block.get("text"):
        parts.append(_text(block["text"], mrkdwn))
    fields = block.get("fields") or []
    if fields:
        grid = Table.grid(padding=(0, 3))
        grid.add_column()
        grid.add_column()
        cells = [_text(f, mrkdwn) for f in fields]
        for i in range(0, len(cells), 2):
            grid.add_row(*cells[i : i + 2])
        parts.append(grid)
    return Group(*parts)


def _actions(elements: list[dict[str, Any]]) -> Text:
    line = Text()
    for element in elements:
        if element.get("type") == "button":
            label = str((element.get("text") or {}).get("text", ""))
            line.append(f" {label} ", style=BUTTON_STYLES.get(element.get("style", ""), "reverse"))
        elif element.get("type") == "overflow":
            line.append(" ⋯ ", style="reverse")
        else:
            placeholder = (element.get("placeholder") or {}).get("text", element.get("type", ""))
            line.append(f" {placeholder} ▾ ", style="reverse")
        line.append("  ")
    return line


def _rich_text(block: dict[str, Any]) -> str:
    return "".join(
        str(leaf.get("text", ""))
        for section in block.get("elements", [])
        for leaf in section.get("elements", [])
    )
